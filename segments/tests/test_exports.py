"""Channel-aware exports: only members whose active endpoint is ready on the channel, with
the address and the chosen attributes; readiness in SQL agrees with the channels selector."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from channels.selectors import profile_readiness, profiles_readiness, ready_endpoints
from channels.types import CHANNELS
from profiles.models import AttributeValue, Profile

pytestmark = pytest.mark.django_db

EVERYONE = {
    "key": "everyone",
    "name": "Everyone",
    "definition": {"any": [{"attribute": "tier", "op": "exists"}, {"not": {"attribute": "tier", "op": "exists"}}]},
}


@pytest.fixture
def everyone(api, world):
    # Extra cases: an inactive endpoint (declared earlier) must not count, the newer active one does;
    # a profile whose ready endpoint was taken over by another profile.
    world.endpoint("gus", "EMAIL", "gus-old@example.com", consent="granted", days=3)
    world.endpoint("gus", "EMAIL", "gus-new@example.com", consent="denied", days=2)
    world.endpoint("hal", "EMAIL", "hal-old@example.com", days=3)
    world.endpoint("hal", "EMAIL", "hal@example.com", consent="granted", days=2)
    world.endpoint("hal", "WHATSAPP", "+442079460958", consent="granted")  # landlines may be WhatsApp-ready
    response = api.post("/api/v1/segments", EVERYONE, format="json")
    assert response.status_code == 201, response.content
    return world


def export(api, **params):
    response = api.get("/api/v1/segments/everyone/export", params)
    assert response.status_code == 200, response.content
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def labels(world, ids):
    names = {pid: label for label, pid in world.profiles.items()}
    return sorted(names[pid] for pid in ids)


def test_csv_export_lists_only_ready_members_with_address_and_attributes(api, everyone):
    text = export(api, channel="EMAIL", attributes="tier,firstName,ordersTotal,tags")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["profileId", "address", "tier", "firstName", "ordersTotal", "tags"]
    by_label = {labels(everyone, [r["profileId"]])[0]: r for r in rows}
    # bob denied, cid pending, dan bounced, eve unreachable, fay never consented, gus's active one
    # denied (an older granted one is not active): all left out. hal's active endpoint is ready.
    assert sorted(by_label) == ["ann", "hal", "ivy"]
    assert by_label["ann"] == {
        "profileId": everyone.profiles["ann"],
        "address": "ann@example.com",
        "tier": "gold",
        "firstName": "Ann",
        "ordersTotal": "230.0",
        "tags": '["a"]',
    }
    assert by_label["hal"]["address"] == "hal@example.com"
    assert by_label["hal"]["tier"] == "silver" and by_label["hal"]["ordersTotal"] == ""


def test_every_not_ready_reason_is_left_out_of_the_export(api, everyone, tenant):
    for channel in CHANNELS:
        text = export(api, channel=channel, format="ndjson")
        exported = {json.loads(line)["profileId"] for line in text.splitlines()}
        readiness = {
            label: profile_readiness(tenant_id=tenant.pk, profile_id=pid)[channel]
            for label, pid in everyone.profiles.items()
            if Profile.objects.get(pk=pid).merged_into_id is None
        }
        # the selector says which are ready; the export holds exactly those (of the segment's members)
        assert labels(everyone, exported) == sorted(label for label, r in readiness.items() if r.ready)
    reasons = {
        r.reason
        for pid in everyone.profiles.values()
        for r in profile_readiness(tenant_id=tenant.pk, profile_id=pid).values()
    }
    assert reasons >= {None, "no_endpoint", "no_consent", "consent_pending", "bounced", "unreachable", "not_mobile"}


def test_ndjson_rows_are_flat_objects(api, everyone):
    lines = export(api, channel="SMS", format="ndjson", attributes="age,vip").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"profileId": everyone.profiles["ivy"], "address": "+447400123456", "age": 28, "vip": True}
    ]


def test_readiness_in_sql_agrees_with_the_channels_selector_for_every_reason(everyone, tenant):
    ids = [uuid.UUID(pid) for pid in everyone.profiles.values()]
    for channel in CHANNELS:
        by_selector = profiles_readiness(tenant_id=tenant.pk, profile_ids=ids, channel=channel)
        by_sql = set(ready_endpoints(tenant_id=tenant.pk, channel=channel).values_list("profile_id", flat=True))
        assert {pid for pid, r in by_selector.items() if r.ready} == by_sql & set(ids), channel


def test_an_export_runs_a_constant_number_of_queries(api, everyone):
    with CaptureQueriesContext(connection) as few:
        export(api, channel="EMAIL", attributes="tier")
    for i in range(30):
        everyone.endpoint(f"extra-{i}", "EMAIL", f"extra{i}@example.com", consent="granted")
    with CaptureQueriesContext(connection) as many:
        text = export(api, channel="EMAIL", attributes="tier")
    assert len(text.splitlines()) == 1 + 3 + 30
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {("/channel", "unknown_channel")}),
        ({"channel": "email"}, {("/channel", "unknown_channel")}),
        ({"channel": "EMAIL", "format": "xlsx"}, {("/format", "unknown_format")}),
        ({"channel": "EMAIL", "attributes": "tier,nope"}, {("/attributes/1", "unknown_attribute")}),
        ({"channel": "EMAIL", "attributes": "address"}, {("/attributes/0", "reserved")}),
        ({"channel": "EMAIL", "attributes": "tier,tier"}, {("/attributes/1", "duplicate")}),
        ({"channel": "EMAIL", "limit": "3"}, {("/limit", "unknown_parameter")}),
    ],
)
def test_bad_export_parameters_are_422_problems_with_pointers(api, everyone, params, expected):
    response = api.get("/api/v1/segments/everyone/export", params)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert {(e["pointer"], e["code"]) for e in response.json()["errors"]} == expected


def test_the_export_command_writes_the_same_rows(api, everyone, tenant, tmp_path):
    expected = export(api, channel="EMAIL", format="ndjson", attributes="tier")
    out = tmp_path / "export.ndjson"
    call_command(
        "export_segment",
        tenant="acme",
        segment="everyone",
        channel="EMAIL",
        format="ndjson",
        attributes="tier",
        output=str(out),
        stdout=io.StringIO(),
    )
    assert out.read_text() == expected
    stdout = io.StringIO()
    call_command("export_segment", tenant="acme", segment="everyone", channel="EMAIL", stdout=stdout)
    assert stdout.getvalue().replace("\r\n", "\n") == export(api, channel="EMAIL").replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "-2+3"),
        ("+447700900123", "+447700900123"),
        ("Ann", "Ann"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_defused(value, cell):
    from segments.exports import _csv_cell

    assert _csv_cell(value) == cell


# Values whose CSV cell PostgreSQL formats itself, and values it leaves to Python (raw): the
# export must be byte for byte what export_encode makes of the rows either way.
TRICKY_STRINGS = [
    "plain",
    "",
    " lead and trail ",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "cr\rhere",
    "crlf\r\nend",
    "tab\tinside",
    "\tlead tab",
    "=1+2",
    "@SUM(A1)",
    "+cmd",
    "-cmd",
    "+",
    "-",
    "-5",
    "+447700900123",
    '=HYPERLINK("http://x","y")',
    "+\u0663",  # a sign, then an Arabic-Indic digit: str.isdigit says digit
    "-\u00e9",
    "\x01starts with the raw mark",
    "has \x01 inside",
    "back\\slash",
    "emoji \U0001f600, comma",
    "\u00fcml\u00e4ut",
    "'quoted already",
]
TRICKY_NUMBERS = [
    0,
    -0.0,
    7,
    -12,
    0.5,
    0.1,
    230.0,
    2.5e-5,
    1e-7,
    999999999999999.9,
    123456789.123,
    1234567.8901234567,
    0.30000000000000004,
]
TRICKY_ARRAYS = [[], ["a", "b,c"], [1, {"k": 'v"'}], ["line\nbreak"]]


def test_the_csv_export_formatted_by_the_database_is_byte_for_byte_the_python_encoding(api, everyone, tenant):
    from segments import exports
    from segments.selectors import segment_get

    count = max(len(TRICKY_STRINGS), len(TRICKY_NUMBERS), len(TRICKY_ARRAYS))
    for i in range(count):
        attributes = {"vip": i % 2 == 0, "tier": "gold"}
        if i < len(TRICKY_STRINGS):
            attributes["firstName"] = TRICKY_STRINGS[i]
        if i < len(TRICKY_NUMBERS):
            attributes["score"] = TRICKY_NUMBERS[i]
        if i < len(TRICKY_ARRAYS):
            attributes["tags"] = TRICKY_ARRAYS[i]
        everyone.person(f"odd-{i}", attributes)
        everyone.endpoint(f"odd-{i}", "EMAIL", f"odd{i}@example.com", consent="granted")
    everyone.endpoint("odd-phone", "WHATSAPP", "+447400123450", consent="granted")
    # Number texts no client of this API sends (it stores the repr of a float), but another
    # writer could have: more digits than a float holds, trailing zeros, a long integer.
    for label, text in (("odd-0", "0.10"), ("odd-1", "1.00000000000000001"), ("odd-2", "1" * 40)):
        AttributeValue.objects.filter(profile_id=everyone.profiles[label], name="score").update(
            value=RawSQL("%s::jsonb" if connection.vendor == "postgresql" else "json(%s)", [text])
        )
    spec = exports.export_spec_parse(
        tenant_id=tenant.pk, params={"channel": "EMAIL", "attributes": "firstName,score,tags,vip,tier,ordersTotal,age"}
    )
    segment = segment_get(tenant_id=tenant.pk, key="everyone")
    text = export(api, channel="EMAIL", attributes="firstName,score,tags,vip,tier,ordersTotal,age")
    assert text == "".join(exports.export_encode(rows=exports.export_rows(segment=segment, spec=spec), spec=spec))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 + count
    assert {r["firstName"] for r in rows} >= {"'=1+2", "'-cmd", "-5", "line\nbreak", "'\tlead tab"}
    # Each record, and each slice of the export job, is the stream's.
    lines = list(exports.export_csv_lines(segment=segment, spec=spec))
    assert exports.csv_header(spec) + "".join(lines) == text
    half = list(exports.export_csv_lines(segment=segment, spec=spec, after=uuid.UUID(lines[5][:36]), limit=4))
    assert half == lines[6:10]


def test_an_export_reading_the_attributes_its_segment_compares_has_exactly_the_ready_members(api, world, tenant):
    from segments.selectors import segment_get, segment_members

    # Ready on EMAIL too, but outside the segment: hal (silver), gus (no attributes), fay (gold, age 0).
    world.endpoint("hal", "EMAIL", "hal@example.com", consent="granted")
    world.endpoint("gus", "EMAIL", "gus@example.com", consent="granted")
    world.endpoint("fay", "EMAIL", "fay@example.com", consent="granted", days=0.5)
    definition = {
        "all": [
            {"attribute": "tier", "op": "eq", "value": "gold"},
            {"attribute": "age", "op": "gte", "value": 20},
            {"not": {"attribute": "country", "op": "eq", "value": "FR"}},
        ]
    }
    response = api.post(
        "/api/v1/segments", {"key": "gold-20", "name": "Gold 20+", "definition": definition}, format="json"
    )
    assert response.status_code == 201, response.content
    members = {str(pid) for pid in segment_members(segment=segment_get(tenant_id=tenant.pk, key="gold-20"))}
    assert labels(world, members) == ["ann", "ivy"]
    for attributes in ("tier,age", "age,country,tier", "firstName"):
        response = api.get("/api/v1/segments/gold-20/export", {"channel": "EMAIL", "attributes": attributes})
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
        ready = profiles_readiness(tenant_id=tenant.pk, profile_ids=[uuid.UUID(m) for m in members], channel="EMAIL")
        assert {r["profileId"] for r in rows} == {str(pid) for pid, r in ready.items() if r.ready}, attributes
        assert labels(world, [r["profileId"] for r in rows]) == ["ann", "ivy"]
        if "tier" in attributes:
            assert {r["tier"] for r in rows} == {"gold"}
