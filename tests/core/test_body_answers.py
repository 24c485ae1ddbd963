"""What the API answers to bad (and borderline good) request bodies, pinned.

Every body below goes through the real HTTP stack (DRF's test client, real API keys) and
its answer (status and problem document: code, title, detail, every `errors[]` pointer,
code and detail, in order) must equal the one recorded in `body_answers.json`. The
answers were recorded from the hand-written parsers before the bodies moved onto the
strict serializers of `cdp_project.core.serializers`, so they prove the move changed
no answer. A deliberate change of an answer is re-recorded with
`CDP_RECORD_BODY_ANSWERS=1 pytest tests/core/test_body_answers.py` and reviewed in the diff.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from conftest import make_client
from contracts.plans import contracts_plan_import
from ingest.services import source_create

ANSWERS = Path(__file__).with_name("body_answers.json")
RECORDING = os.environ.get("CDP_RECORD_BODY_ANSWERS") == "1"
NOW = "<now>"  # replaced by a current timestamp when sent (occurredAt must be recent)
VOLATILE = {"createdAt", "updatedAt", "eventId", "profileId", "id", "participantId"}

PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
                {"name": "currency", "type": "enum", "values": ["EUR", "USD"], "filterable": True},
                {"name": "paidAt", "type": "datetime", "filterable": True},
            ],
        }
    ],
    "attributeDefinitions": [
        {"name": "firstName", "type": "string"},
        {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True},
        {"name": "age", "type": "integer", "minimum": 0, "maximum": 150, "filterable": True},
    ],
}

NOT_OBJECTS: list[Any] = [[], "text", 12, None]


def _typed_field_cases(extra: dict[str, Any]) -> list[Any]:
    """Bad typed-field definitions (a property or an attribute definition)."""
    base = {"name": "f", "type": "string", **extra}
    return [
        {},
        {"name": "f"},
        {"type": "string"},
        {**base, "name": ""},
        {**base, "name": 12},
        {**base, "name": "9lives"},
        {**base, "name": "x" * 101},
        {**base, "name": None},
        {**base, "type": "text"},
        {**base, "type": 3},
        {**base, "type": None},
        {**base, "type": "STRING"},
        {**base, "zzz": 1, "aaa": 2},
        {**base, "values": ["a"]},
        {**base, "type": "enum"},
        {**base, "type": "enum", "values": []},
        {**base, "type": "enum", "values": "a,b"},
        {**base, "type": "enum", "values": ["a", "", 3, "a", "b" * 201]},
        {**base, "type": "enum", "values": ["v"] * 501},
        {**base, "maxLength": 0},
        {**base, "maxLength": True},
        {**base, "maxLength": 2.0},
        {**base, "maxLength": "10"},
        {**base, "maxLength": 1_000_001},
        {**base, "type": "integer", "maxLength": 5},
        {**base, "type": "integer", "minimum": "1"},
        {**base, "type": "integer", "minimum": True},
        {**base, "type": "number", "minimum": 1e301},
        {**base, "type": "number", "minimum": 5, "maximum": 1},
        {**base, "type": "number", "minimum": 5.5, "maximum": "x"},
        {**base, "minimum": 1},
        {**base, "filterable": "yes"},
        {**base, "filterable": 1},
        {**base, "filterable": None},
        {**base, "description": 5},
        {**base, "description": "d" * 2001},
        {**base, "description": None},
        {**base, "type": "enum", "values": ["a"], "maxLength": 3, "minimum": 1, "filterable": 0, "bad": 1},
        {**base, "version": 3},
        {**base, "type": "integer", "minimum": 1.0, "maximum": 2.5},
    ]


PROPERTY_CASES = [
    *_typed_field_cases({}),
    {"name": "p", "type": "string", "required": "true"},
    {"name": "p", "type": "string", "derivable": 0},
    {"name": "p", "type": "string", "required": None, "derivable": None},
]

EVENT_TYPE_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"name": "e1", "bogus": 1, "other": 2},
    {"name": "e2", "description": 3},
    {"name": "e3", "status": "gone"},
    {"name": "e4", "status": None},
    {"name": "e5", "allowAdditionalProperties": "false"},
    {"name": "e6", "properties": {}},
    {"name": "e7", "properties": "p"},
    {"name": "e8", "properties": [{"name": "p", "type": "string"}] * 501},
    {"name": "e9", "properties": [{"name": "p", "type": "string"}, {"name": "p", "type": "integer"}]},
    {"name": "e10", "properties": [{"name": "p", "type": "string"}, 3, None, []]},
    {"name": "e11", "properties": [{"name": "p", "type": "string"}, {"name": "p", "type": "string", "x": 1}]},
    {"name": "e12", "version": 7, "description": None, "status": "deprecated"},
    {"name": "e13", "properties": None},
    {"name": "e" * 99 + "\n", "description": ""},
    {"name": "e15", "description": "", "a/b~c": 1, "properties": [{"name": "p" * 99 + "\n", "type": "string"}]},
    *({"name": "e14", "properties": [case]} for case in PROPERTY_CASES),
]

EVENT_TYPE_UPDATE_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"name": "renamed"},
    {"name": "order_completed", "bogus": 1},
    {"status": "x", "description": 9, "allowAdditionalProperties": None},
    {"properties": [{"name": "total", "type": "bool"}]},
    {"properties": [{"name": "total", "type": "number", "required": "no"}]},
]

ATTRIBUTE_CASES: list[Any] = [
    *NOT_OBJECTS,
    *_typed_field_cases({}),
    {"name": "a1", "type": "string", "required": True},
    {"name": "a2", "type": "string", "derivable": True},
]

ATTRIBUTE_UPDATE_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"name": "other"},
    {"type": "enum"},
    {"type": "integer", "maxLength": 3},
    {"minimum": 200, "maximum": 100},
    {"filterable": "no", "zzz": 1},
    {"type": "string"},
    {"type": "number", "values": ["a"]},
    {"minimum": None},
    {"description": None, "filterable": None},
    {"description": ""},
    {"values": None, "maxLength": None, "type": "string"},
]

DERIVED_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"name": "d1"},
    {"name": "d2", "eventType": "order_completed", "aggregation": "count", "property": "total"},
    {"name": "d3", "eventType": "order_completed", "aggregation": "sum"},
    {"name": "d4", "eventType": "order_completed", "aggregation": "median", "property": "total"},
    {"name": "d5", "eventType": 5, "aggregation": "sum", "property": 6},
    {"name": "d6", "eventType": "order_completed", "aggregation": "count", "zz": 1, "description": 1},
    {"name": "d7", "eventType": "order_completed", "aggregation": "count", "description": "x" * 2001},
    {"name": "d8", "eventType": "order_completed", "aggregation": "count", "property": None, "version": 2},
    {"name": "d9", "eventType": "nope", "aggregation": "sum", "property": "total"},
    {"name": "d10", "eventType": "order_completed", "aggregation": "sum", "property": "missing"},
    {"name": "9d", "eventType": "order_completed", "aggregation": None},
    {"name": "d11", "eventType": "order_completed", "aggregation": "count", "description": "", "status": "ready"},
    {"name": "d12", "eventType": "order_completed", "aggregation": "sum", "property": None, "description": None},
]

CAMPAIGN_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"key": "c1"},
    {"name": "No key"},
    {"key": "C1", "name": "Upper"},
    {"key": "c2", "name": 5},
    {"key": "c3", "name": "   "},
    {"key": "c4", "name": "n" * 201},
    {"key": "c5", "name": "ok", "active": "yes"},
    {"key": "c6", "name": "ok", "active": 1},
    {"key": "c7", "name": "ok", "active": None},
    {"key": "c8", "name": "ok", "zz": 1, "aa": 2},
    {"key": 8, "name": None},
    {"key": None, "name": "ok"},
    {"key": "c9", "name": "ok", "variables": {}},
    {"key": "c10", "name": "ok", "variables": [{"name": "v", "type": "integer", "default": "x"}]},
    {"key": "c11", "name": "ok", "variables": [{"name": "v", "type": "integer"}, {"name": "v", "type": "string"}]},
    {"key": "c12", "name": "ok", "variables": [{"name": "v", "type": "what", "zz": 1}, 5]},
    {"key": "c13", "name": "ok", "variables": [{"name": "v"}] * 101},
    {"key": "c14", "name": "  Spaced  ", "active": False},
    {"key": "c15", "name": "ok", "variables": None},
    {"key": "c" * 99 + "\n", "name": "ok"},
    {"key": "c16", "name": "ok", "a/b": 1, "createdAt": "x"},
]

CAMPAIGN_UPDATE_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"key": "other"},
    {"key": "camp"},
    {"name": None},
    {"name": ""},
    {"active": "false"},
    {"active": None},
    {"zz": 1},
    {"variables": "x"},
    {"variables": None},
    {"name": "  Renamed  ", "active": False},
]

SEGMENT_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"key": "s1"},
    {"key": "s2", "name": "n"},
    {"key": "S3", "name": "n", "definition": {"all": []}},
    {"key": "s4", "name": 4, "definition": {"all": []}},
    {"key": "s5", "name": " ", "definition": {"all": []}},
    {"key": "s6", "name": "n" * 201, "definition": {"all": []}},
    {"key": "s7", "name": "a\u0000b", "definition": {"all": []}},
    {"key": "s8", "name": "n", "definition": {"all": []}, "zz": 1, "aa": 2},
    {"key": "s" * 101, "name": "n", "definition": {"all": []}},
    {"key": 9, "name": None, "definition": None},
    {"key": "s10", "name": "n", "definition": {"attribute": "tier", "op": "eq", "value": "platinum"}},
    {"key": "s11", "name": "n", "definition": {"all": [{"attribute": "nope", "op": "eq", "value": 1}, 5]}},
    {"key": "s12", "name": "n", "definition": {"attribute": "age", "op": "gt", "value": "old"}},
    {
        "key": "s13",
        "name": "n",
        "definition": {
            "event": "order_completed",
            "where": [{"property": "paidAt", "op": "gt", "value": "2026-01-01 00:00:00Z"}],
        },
    },  # noqa: E501
    {"key": "s14", "name": "  Spaced  ", "definition": {"attribute": "tier", "op": "eq", "value": "gold"}},
    {"key": "s15", "name": "n", "definition": {"all": []}, "a/b": 1, "createdAt": "x"},
    {"key": "s" * 99 + "\n", "name": "n", "definition": {"all": []}},
]

SEGMENT_UPDATE_CASES: list[Any] = [
    *NOT_OBJECTS,
    {},
    {"name": "n", "definition": {"all": []}},
    {"key": "other", "name": "n", "definition": {"all": []}},
    {"key": "seg", "name": "", "definition": {"all": []}},
    {"name": "n"},
    {"name": "n", "definition": {"any": "x"}, "zz": 1},
]


def _envelope(**fields: Any) -> dict[str, Any]:
    body = {"source": "shop", "externalEventId": "x-1", "occurredAt": NOW, "identity": {"EXTERNAL": "c-1"}}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not ...}


def _envelope_cases(**fields: Any) -> list[Any]:
    """Bad envelopes of every kind (fields: the kind's own body)."""
    return [
        *NOT_OBJECTS,
        {},
        _envelope(**fields, zz=1, aa=2),
        _envelope(**fields, source=...),
        _envelope(**fields, source=5),
        _envelope(**fields, source=""),
        _envelope(**fields, source="   "),
        _envelope(**fields, source="s" * 64),
        _envelope(**fields, source="sh\top"),
        _envelope(**fields, source="unknown"),
        _envelope(**fields, externalEventId=None),
        _envelope(**fields, externalEventId=12),
        _envelope(**fields, externalEventId="e" * 256),
        _envelope(**fields, externalEventId="a\u007fb"),
        _envelope(**fields, occurredAt=...),
        _envelope(**fields, occurredAt=None),
        _envelope(**fields, occurredAt=1700000000),
        _envelope(**fields, occurredAt="yesterday"),
        _envelope(**fields, occurredAt="2026-11-20T10:15:00"),
        _envelope(**fields, occurredAt="2026-11-20T10:15:00+25:00"),
        _envelope(**fields, occurredAt="1990-01-01T00:00:00Z"),
        _envelope(**fields, occurredAt="2999-01-01T00:00:00Z"),
        _envelope(**fields, occurredAt="2026-02-30T00:00:00Z"),
        _envelope(**fields, identity=...),
        _envelope(**fields, identity=None),
        _envelope(**fields, identity="c-1"),
        _envelope(**fields, identity={}),
        _envelope(**fields, identity={"EMAIL": "not-an-email"}),
        _envelope(**fields, identity={"PHONE": "12", "WHAT": "x"}),
        _envelope(**fields, identity={"EXTERNAL": 5}),
        {"source": 1, "externalEventId": [], "occurredAt": {}, "identity": [], "zz": 0, **fields},
    ]


EVENT_CASES: list[Any] = [
    *_envelope_cases(eventType="order_completed", properties={"orderId": "1", "total": 5}),
    _envelope(properties={}),
    _envelope(eventType=None, properties={}),
    _envelope(eventType=5, properties={}),
    _envelope(eventType="e" * 101, properties={}),
    _envelope(eventType="unknown_type", properties={}),
    _envelope(eventType="order_completed"),
    _envelope(eventType="order_completed", properties=[]),
    _envelope(eventType="order_completed", properties={"orderId": 1, "total": "5", "currency": "GBP", "x": 1}),
    _envelope(eventType="order_completed", properties={"orderId": "1", "total": 5, "paidAt": "2026-01-01 00:00Z"}),
]

PROFILE_UPDATE_CASES: list[Any] = [
    *_envelope_cases(attributes={"firstName": "Ann"}),
    _envelope(),
    _envelope(attributes=None),
    _envelope(attributes=[]),
    _envelope(attributes={"firstName": 5, "tier": "bronze", "age": 151, "nope": 1}),
    _envelope(attributes={"age": True}),
    _envelope(eventType="order_completed", attributes={"age": 1}),
]

CHANNEL_UPDATE_CASES: list[Any] = [
    *_envelope_cases(channel="EMAIL", address="ann@example.com", consent="granted"),
    _envelope(),
    _envelope(channel="email", address="ann@example.com"),
    _envelope(channel="FAX", address="1"),
    _envelope(channel=5, address="ann@example.com"),
    _envelope(channel="EMAIL"),
    _envelope(channel="EMAIL", address=None),
    _envelope(channel="EMAIL", address=5),
    _envelope(channel="EMAIL", address="not-an-email"),
    _envelope(channel="EMAIL", address="null"),
    _envelope(channel="SMS", address="12"),
    _envelope(channel="PUSH", address="  "),
    _envelope(channel="PUSH", address="t\u0001k"),
    _envelope(channel="PUSH", address="t" * 2000),
    _envelope(channel="EMAIL", address="ann@example.com", consent="GRANTED"),
    _envelope(channel="EMAIL", address="ann@example.com", consent=1),
    _envelope(channel="EMAIL", address="ann@example.com", reachability="gone"),
    _envelope(channel="EMAIL", address="ann@example.com", reason=5),
    _envelope(channel="EMAIL", address="ann@example.com", reason="r\u0007"),
    _envelope(channel="EMAIL", address="ann@example.com", reason="r" * 1001),
    _envelope(channel="EMAIL", address="ann@example.com", consent=None, reachability=None, reason=None),
]


def _items(cases: list[Any]) -> list[Any]:
    """Cases as batch items. A `null` item is left out: the quarantine cannot keep it yet
    (its payload column is NOT NULL; a 500, reported separately)."""
    return [case for case in cases if case is not None]


BATCH_CASES: list[Any] = [
    {},
    {"events": {}},
    {"events": [], "zz": 1},
    {"events": [5, _envelope(eventType="order_completed", properties={"orderId": "1", "total": 5}), {}]},
]

# (name, method, path, client, cases)
ENDPOINTS = [
    ("event_types_create", "post", "/api/v1/event-types", "admin", EVENT_TYPE_CASES),
    ("event_types_replace", "put", "/api/v1/event-types/order_completed", "admin", EVENT_TYPE_UPDATE_CASES),
    ("event_types_update", "patch", "/api/v1/event-types/order_completed", "admin", EVENT_TYPE_UPDATE_CASES),
    ("attribute_definitions_create", "post", "/api/v1/attribute-definitions", "admin", ATTRIBUTE_CASES),
    ("attribute_definitions_update", "patch", "/api/v1/attribute-definitions/age", "admin", ATTRIBUTE_UPDATE_CASES),
    ("derived_attributes_create", "post", "/api/v1/derived-attributes", "admin", DERIVED_CASES),
    ("campaigns_create", "post", "/api/v1/campaigns", "admin", CAMPAIGN_CASES),
    ("campaigns_update", "patch", "/api/v1/campaigns/camp", "admin", CAMPAIGN_UPDATE_CASES),
    ("segments_create", "post", "/api/v1/segments", "admin", SEGMENT_CASES),
    ("segments_replace", "put", "/api/v1/segments/seg", "admin", SEGMENT_UPDATE_CASES),
    ("events_ingest", "post", "/api/v1/events", "ingest", EVENT_CASES),
    ("events_validate", "post", "/api/v1/events/validate", "ingest", EVENT_CASES[:12]),
    ("profile_updates", "post", "/api/v1/profile-updates", "ingest", PROFILE_UPDATE_CASES),
    ("channel_updates", "post", "/api/v1/channel-updates", "ingest", CHANNEL_UPDATE_CASES),
    ("events_batch", "post", "/api/v1/events/batch", "ingest", [*BATCH_CASES, {"events": _items(EVENT_CASES)}]),
    (
        "profile_updates_batch",
        "post",
        "/api/v1/profile-updates/batch",
        "ingest",
        [{"updates": _items(PROFILE_UPDATE_CASES)}],
    ),
    (
        "channel_updates_batch",
        "post",
        "/api/v1/channel-updates/batch",
        "ingest",
        [{"updates": _items(CHANNEL_UPDATE_CASES)}],
    ),
]


def _sendable(value: Any, now: str, ids: list[int]) -> Any:
    """The case as sent: NOW a current timestamp, and each envelope its own externalEventId
    (so a valid one is never a replay of another, whose answer names the time)."""
    if value == NOW:
        return now
    if isinstance(value, dict):
        out = {key: _sendable(item, now, ids) for key, item in value.items()}
        if out.get("externalEventId") == "x-1":
            ids.append(len(ids))
            out["externalEventId"] = f"x-{len(ids)}"
        return out
    if isinstance(value, list):
        return [_sendable(item, now, ids) for item in value]
    return value


def _stable(value: Any) -> Any:
    """The answer without what differs from run to run (ids, timestamps)."""
    if isinstance(value, dict):
        return {key: "<volatile>" if key in VOLATILE and item else _stable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


@pytest.fixture
def clients(tenant, key_factory):
    contracts_plan_import(tenant_id=tenant.pk, plan=copy.deepcopy(PLAN))
    source_create(tenant=tenant, key="shop", name="Shop")
    admin = make_client(key_factory(tenant, ["admin"]).plaintext)
    ingest = make_client(key_factory(tenant, ["ingest"]).plaintext)
    made = [
        admin.post("/api/v1/campaigns", {"key": "camp", "name": "Camp"}, format="json"),
        admin.post(
            "/api/v1/segments",
            {"key": "seg", "name": "Seg", "definition": {"attribute": "tier", "op": "eq", "value": "gold"}},
            format="json",
        ),
    ]
    assert [response.status_code for response in made] == [201, 201]
    return {"admin": admin, "ingest": ingest}


def _answers(client, method: str, path: str, cases: list[Any]) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC).isoformat()
    answers, ids = [], []
    for case in cases:
        body = json.dumps(_sendable(case, now, ids))
        response = getattr(client, method)(path, data=body, content_type="application/json")
        answers.append({"status": response.status_code, "body": _stable(response.json())})
    return answers


def _recorded() -> dict[str, Any]:
    return json.loads(ANSWERS.read_text()) if ANSWERS.exists() else {}


@pytest.mark.parametrize(("name", "method", "path", "who", "cases"), ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_every_body_gets_the_recorded_answer(clients, name, method, path, who, cases):
    answers = _answers(clients[who], method, path, cases)
    if RECORDING:
        recorded = _recorded()
        recorded[name] = [{"case": case, **answer} for case, answer in zip(cases, answers, strict=True)]
        ANSWERS.write_text(json.dumps(recorded, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
        return
    expected = _recorded()[name]
    assert len(expected) == len(cases), f"{name}: the cases changed; re-record (see the module docstring)"
    for index, (case, answer, want) in enumerate(zip(cases, answers, expected, strict=True)):
        assert want["case"] == json.loads(json.dumps(case)), f"{name}[{index}]: the case changed; re-record"
        assert answer == {"status": want["status"], "body": want["body"]}, f"{name}[{index}] {case!r}"
    assert any(a["status"] >= 400 or "results" in a["body"] for a in answers)


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        ("/api/v1/event-types", {"name": "e" * 100 + "\n"}, "/name"),
        ("/api/v1/campaigns", {"key": "c" * 100 + "\n", "name": "Camp"}, "/key"),
        ("/api/v1/attribute-definitions", {"name": "a" * 100 + "\n", "type": "string"}, "/name"),
    ],
)
def test_a_name_one_longer_than_its_column_is_refused_not_a_500(clients, path, body, pointer):
    """The name patterns end in `$`, which also matches before a final newline: such a name
    passed the pattern with 101 characters and failed in the database (a 500 before the
    move onto serializers, which also check the declared max length)."""
    response = clients["admin"].post(path, body, format="json")
    assert response.status_code == 422
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [(pointer, "invalid")]
