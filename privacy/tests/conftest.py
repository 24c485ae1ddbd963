"""A customer with everything a CDP can hold about them, built through the public API:
two profiles merged into one (ann), events, a profile update, an endpoint with consent, a
derived value, a campaign participant with a variable, a violation and an identity conflict
that name her — and a second customer (bob) who must come through an erasure untouched."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.utils import timezone

from conftest import make_client
from jobs.worker import jobs_run_pending

_ids = itertools.count(1)


BASE = (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0)


def when(minutes: int = 0) -> str:
    """A fixed recent moment, so a body built twice is the same payload (a true replay)."""
    return (BASE + dt.timedelta(minutes=minutes)).isoformat()


def event(identity: dict, *, key: str | None = None, total: float = 10.0, **extra) -> dict:
    body = {
        "source": "shop",
        "externalEventId": key or f"evt-{next(_ids)}",
        "eventType": "order_completed",
        "occurredAt": when(),
        "identity": identity,
        "properties": {"total": total},
    }
    body.update(extra)
    return body


def profile_update(identity: dict, *, key: str | None = None, **attributes) -> dict:
    return {
        "source": "shop",
        "externalEventId": key or f"pu-{next(_ids)}",
        "occurredAt": when(),
        "identity": identity,
        "attributes": attributes,
    }


def channel_update(identity: dict, address: str, *, key: str | None = None) -> dict:
    return {
        "source": "shop",
        "externalEventId": key or f"cu-{next(_ids)}",
        "occurredAt": when(),
        "identity": identity,
        "channel": "EMAIL",
        "address": address,
        "consent": "granted",
    }


def ok(response, *codes):
    assert response.status_code in (codes or (200, 201)), (response.status_code, response.content[:500])
    return response.json() if response.content else None


@pytest.fixture
def api(tenant, key_factory):
    return make_client(key_factory(tenant, ["ingest", "admin", "runtime"]).plaintext)


@pytest.fixture
def contracts(api):
    ok(api.post("/api/v1/sources", {"key": "shop", "name": "Shop"}, format="json"), 201)
    ok(
        api.post(
            "/api/v1/event-types",
            {
                "name": "order_completed",
                "properties": [{"name": "total", "type": "number", "required": True, "derivable": True}],
            },
            format="json",
        ),
        201,
    )
    ok(api.post("/api/v1/attribute-definitions", {"name": "firstName", "type": "string"}, format="json"), 201)
    ok(
        api.post(
            "/api/v1/derived-attributes",
            {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
            format="json",
        ),
        201,
        202,
    )
    ok(
        api.post(
            "/api/v1/campaigns",
            {
                "key": "quiz",
                "name": "Quiz",
                "active": True,
                "variables": [{"name": "step", "type": "integer", "default": 0}],
            },
            format="json",
        ),
        201,
    )


ANN = {"EXTERNAL": "cust-1", "EMAIL": "ann@example.com"}
BOB = {"EXTERNAL": "cust-2", "EMAIL": "bob@example.com"}


@pytest.fixture
def ann(api, contracts):
    """Returns (live profile id, tombstone id, runtime token, the keys of her events)."""
    device = ok(api.post("/api/v1/events", event({"DEVICE_KEY": "dev-ann"}, key="ann-1"), format="json"))
    live = ok(api.post("/api/v1/events", event(ANN, key="ann-2", total=5), format="json"))
    merged = ok(
        api.post(
            "/api/v1/events", event({"EMAIL": "Ann@Example.com", "DEVICE_KEY": "dev-ann"}, key="ann-3"), format="json"
        )
    )
    assert merged["profileId"] == live["profileId"] and merged["resolution"]["mergedProfiles"] == [device["profileId"]]
    ok(api.post("/api/v1/profile-updates", profile_update(ANN, key="ann-4", firstName="Ann"), format="json"))
    ok(api.post("/api/v1/channel-updates", channel_update(ANN, "ann@example.com", key="ann-5"), format="json"))
    # A refused event that names her (its sample lands in the violations log).
    refused = event(ANN, key="ann-6")
    refused["properties"] = {}
    assert api.post("/api/v1/events", refused, format="json").status_code == 422
    session = ok(
        api.post("/api/v1/runtime/sessions", {"campaign": "quiz", "identity": {"EXTERNAL": "cust-1"}}, format="json")
    )
    runtime = make_client(None)
    runtime.credentials(HTTP_AUTHORIZATION=f"Bearer {session['token']}")
    ok(runtime.patch("/api/v1/runtime/variables", {"variables": {"step": 3}}, format="json"))
    return {
        "live": uuid.UUID(live["profileId"]),
        "tombstone": uuid.UUID(device["profileId"]),
        "runtime": runtime,
        "keys": ["ann-1", "ann-2", "ann-3", "ann-4", "ann-5"],
    }


@pytest.fixture
def bob(api, contracts):
    first = ok(api.post("/api/v1/events", event(BOB, key="bob-1", total=7), format="json"))
    ok(api.post("/api/v1/profile-updates", profile_update(BOB, key="bob-2", firstName="Bob"), format="json"))
    ok(api.post("/api/v1/channel-updates", channel_update(BOB, "bob@example.com", key="bob-3"), format="json"))
    return uuid.UUID(first["profileId"])


def erase(api, body: dict, *, run: bool = True) -> dict:
    """Request an erasure and run its job to the end, as the worker would."""
    response = api.post("/api/v1/erasures", body, format="json")
    assert response.status_code == 202, response.content
    assert response["Location"] == f"/api/v1/erasures/{response.json()['id']}"
    assert response.json()["status"] == "queued" and response.json()["receipt"] is None
    if run:
        assert jobs_run_pending() >= 1  # the worker takes the job

    return ok(api.get(f"/api/v1/erasures/{response.json()['id']}"))
