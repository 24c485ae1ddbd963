"""Every RFC 3339 offset (-23:59 … +23:59) is normalized to UTC where it is parsed, so
PostgreSQL (which holds only ±15:59) never sees it; offsets RFC 3339 does not allow and
instants with no UTC form are refused with a 422 on that item alone (issue 11 items 1, 2)."""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.models import Event
from profiles.models import AttributeValue

from .conftest import numbered

pytestmark = pytest.mark.django_db

WIDE = "2026-11-30T23:48:46+23:59"  # 2026-11-29T23:49:46Z


def test_an_offset_beyond_what_postgresql_holds_is_stored_in_utc(api, event):
    event["occurredAt"] = WIDE
    response = api.post("/api/v1/events", event, format="json")
    assert response.status_code == 201, response.content
    stored = Event.objects.get()
    assert stored.occurred_at == dt.datetime(2026, 11, 29, 23, 49, 46, tzinfo=dt.UTC)
    listed = api.get(f"/api/v1/profiles/{response.json()['profileId']}/events").json()["results"]
    assert listed[0]["occurredAt"] == "2026-11-29T23:49:46Z"


def test_the_same_instant_in_two_offsets_is_a_duplicate(api, event):
    event["occurredAt"] = "2026-11-20T10:15:00+01:00"
    assert api.post("/api/v1/events", event, format="json").status_code == 201
    event["occurredAt"] = "2026-11-21T09:14:00+23:59"
    replay = api.post("/api/v1/events", event, format="json")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    "value",
    ["2026-11-30T08:48:46+24:00", "2026-11-30T08:48:46+05:60", "2026-11-30T08:48:46-99:00"],
)
def test_an_offset_rfc3339_does_not_allow_is_422_and_validate_agrees(api, event, value):
    event["occurredAt"] = value
    for path in ("/api/v1/events/validate", "/api/v1/events"):
        response = api.post(path, event, format="json")
        assert response.status_code == 422, (path, response.content)
        assert response.json()["code"] == "invalid_timestamp"
        assert response.json()["errors"][0]["pointer"] == "/occurredAt"
    assert Event.objects.count() == 0


def test_validate_calls_a_wide_offset_valid_and_events_accepts_it(api, event):
    event["occurredAt"] = WIDE
    validated = api.post("/api/v1/events/validate", event, format="json")
    assert validated.status_code == 200 and validated.json()["outcome"] == "accepted"
    assert api.post("/api/v1/events", event, format="json").status_code == 201


@pytest.mark.parametrize(
    ("odd", "accepted"), [("2026-11-30T08:48:46+24:00", 499), (WIDE, 500), ("0001-01-01T00:00:00+01:00", 499)]
)
def test_a_batch_of_499_good_events_and_one_odd_one_stores_the_good_ones(api, odd, accepted):
    events = [numbered(n) for n in range(499)]
    events.insert(250, numbered(999, occurredAt=odd))
    response = api.post("/api/v1/events/batch", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"] == {"accepted": accepted, "duplicate": 0, "rejected": 500 - accepted, "conflict": 0}
    if accepted == 499:
        assert body["results"][250]["errors"][0]["pointer"] == "/occurredAt"
    assert Event.objects.count() == accepted


def test_wide_offsets_in_a_batch_are_all_stored(api):
    events = [numbered(n, occurredAt=WIDE) for n in range(5)]
    response = api.post("/api/v1/events/batch", {"events": events}, format="json")
    assert response.json()["summary"]["accepted"] == 5, response.content


def test_profile_and_channel_updates_take_wide_offsets(api):
    update = {
        "source": "shop-backend",
        "externalEventId": "pu-1",
        "occurredAt": "2026-11-30T20:00:00-23:30",
        "identity": {"EXTERNAL": "cust-1"},
        "attributes": {"tier": "gold"},
    }
    assert api.post("/api/v1/profile-updates", update, format="json").status_code == 201
    channel = {
        "source": "shop-backend",
        "externalEventId": "cu-1",
        "occurredAt": "2026-11-30T20:00:00+22:00",
        "identity": {"EXTERNAL": "cust-1"},
        "channel": "EMAIL",
        "address": "ann@example.com",
        "consent": "granted",
    }
    response = api.post("/api/v1/channel-updates", channel, format="json")
    assert response.status_code == 201, response.content


def test_datetime_properties_and_attributes_are_stored_in_utc(api, event):
    event.update(eventType="signed_up", properties={"at": "2026-11-20T10:15:00.5+23:00"})
    assert api.post("/api/v1/events", event, format="json").status_code == 201
    assert Event.objects.get().properties == {"at": "2026-11-19T11:15:00.500000Z"}
    update = {
        "source": "shop-backend",
        "externalEventId": "pu-1",
        "occurredAt": "2026-11-20T10:15:00Z",
        "identity": {"EXTERNAL": "cust-42"},
        "attributes": {"birthday": "2000-01-01T00:00:00+23:00"},
    }
    assert api.post("/api/v1/profile-updates", update, format="json").status_code == 201
    assert AttributeValue.objects.get(name="birthday").value == "1999-12-31T01:00:00Z"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2000-01-01T00:00:00+24:00"]
)
def test_a_datetime_property_without_a_utc_form_is_422_with_its_pointer(api, event, value):
    event.update(eventType="signed_up", properties={"at": value})
    response = api.post("/api/v1/events", event, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == [
        {"pointer": "/properties/at", "code": "invalid_datetime", "detail": response.json()["errors"][0]["detail"]}
    ]


def _birthday_segment(api, value="1990-01-01T00:00:00Z"):
    definition = {"attribute": "birthday", "op": "gt", "value": value}
    return api.post("/api/v1/segments", {"key": "bday", "name": "Birthday", "definition": definition}, format="json")


def test_a_segment_on_a_datetime_stored_with_a_wide_offset_answers(api):
    update = {
        "source": "shop-backend",
        "externalEventId": "pu-1",
        "occurredAt": "2026-11-20T10:15:00Z",
        "identity": {"EXTERNAL": "cust-42", "EMAIL": "ann@example.com"},
        "attributes": {"birthday": "2000-01-01T00:00:00+23:00"},
    }
    profile_id = api.post("/api/v1/profile-updates", update, format="json").json()["profileId"]
    assert _birthday_segment(api).status_code == 201
    members = api.get("/api/v1/segments/bday/members")
    assert members.status_code == 200, members.content
    assert members.json()["results"] == [{"profileId": profile_id}]
    export = api.get("/api/v1/segments/bday/export", {"channel": "EMAIL"})
    assert export.status_code == 200
    assert b"".join(export.streaming_content).startswith(b"profileId,address")


def test_a_value_stored_with_a_wide_offset_before_normalization_does_not_break_a_segment(api, tenant):
    api.post(
        "/api/v1/profile-updates",
        {
            "source": "shop-backend",
            "externalEventId": "pu-1",
            "occurredAt": "2026-11-20T10:15:00Z",
            "identity": {"EXTERNAL": "cust-42"},
            "attributes": {"birthday": "2000-01-01T00:00:00Z"},
        },
        format="json",
    )
    # What an older release stored as it was sent.
    AttributeValue.objects.filter(tenant=tenant, name="birthday").update(value="2000-01-01T00:00:00+23:00")
    assert _birthday_segment(api).status_code == 201
    members = api.get("/api/v1/segments/bday/members")
    assert members.status_code == 200, members.content


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_segment_condition_without_a_utc_form_is_422_with_its_pointer(api, value):
    response = _birthday_segment(api, value)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/definition/value"
