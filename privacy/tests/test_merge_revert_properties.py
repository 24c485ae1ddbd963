"""Property: reverting a merge gives exactly the state of the same history replayed with that
merge refused — identifiers, events, profile and channel updates, endpoints, attributes and
derived values of every live profile.

Each example sends a random history (events, profile updates, channel updates naming
identifiers from small pools, so that merges happen) to tenant one through the API and reverts
its latest merge. Tenant two gets the same history, with the two profiles of that merge kept
apart (a MergeBlock) from the moment just before the item that merged them."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.db import transaction
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

from channels.models import Endpoint
from conftest import make_client
from identity.models import Identifier, MergeBlock
from ingest.models import ChannelUpdate, Event, ProfileUpdate
from jobs.worker import jobs_run_pending
from profiles.models import AttributeValue, DerivedValue, MergeLedgerEntry, Profile
from tenants.services import api_key_create, tenant_create

pytestmark = pytest.mark.django_db

POOLS = {
    "EXTERNAL": ["cust-1", "cust-2"],
    "EMAIL": ["a@example.com", "b@example.com", "c@example.com"],
    "PHONE": ["+447911123401", "+447911123402"],
    "DEVICE_KEY": ["dev-1", "dev-2", "dev-3"],
}
BASE = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
_slugs = itertools.count(1)

# One to three identifiers per item (one value per type): merges are frequent.
identities = st.lists(
    st.sampled_from([(t, v) for t, values in POOLS.items() for v in values]), min_size=1, max_size=3
).map(dict)
items = st.tuples(
    st.sampled_from(["event", "event", "profile", "channel"]),
    identities,
    st.integers(min_value=0, max_value=10_000),  # minutes after BASE: distinct times, any order
    st.sampled_from(["gold", "silver", None]),
    st.integers(min_value=1, max_value=50),
)


def _setup():
    tenant = tenant_create(slug=f"revert-{next(_slugs)}", name="Revert property", default_region="GB")
    api = make_client(api_key_create(tenant=tenant, scopes=("ingest", "admin")).plaintext)
    for path, body in (
        ("/api/v1/sources", {"key": "shop", "name": "Shop"}),
        (
            "/api/v1/event-types",
            {"name": "order", "properties": [{"name": "total", "type": "number", "required": True, "derivable": True}]},
        ),
        ("/api/v1/attribute-definitions", {"name": "tier", "type": "string"}),
        (
            "/api/v1/derived-attributes",
            {"name": "spent", "eventType": "order", "property": "total", "aggregation": "sum"},
        ),
        ("/api/v1/derived-attributes", {"name": "orders", "eventType": "order", "aggregation": "count"}),
    ):
        assert api.post(path, body, format="json").status_code in (201, 202)
    jobs_run_pending()
    return tenant, api


def _send(api, index: int, item) -> None:
    kind, identity, minute, tier, total = item
    common = {
        "source": "shop",
        "externalEventId": f"item-{index}",
        "occurredAt": (BASE + dt.timedelta(minutes=minute, seconds=index)).isoformat(),
        "identity": identity,
    }
    if kind == "event":
        path, body = "/api/v1/events", {**common, "eventType": "order", "properties": {"total": total}}
    elif kind == "profile":
        path, body = "/api/v1/profile-updates", {**common, "attributes": {"tier": tier}}
    else:
        address = f"inbox-{index}@example.com"
        path, body = "/api/v1/channel-updates", {**common, "channel": "EMAIL", "address": address, "consent": "granted"}
    response = api.post(path, body, format="json")
    assert response.status_code in (200, 201), response.content[:400]


def _picture(tenant) -> list:
    """Every live profile as what it holds, without its id (the two tenants' ids differ)."""
    profiles = {}
    for pid in Profile.objects.filter(tenant=tenant, merged_into__isnull=True).values_list("pk", flat=True):
        profiles[pid] = {"identifiers": [], "events": [], "updates": [], "channel": [], "attributes": {}, "derived": {}}
        profiles[pid]["endpoints"] = []
    for pid, type, value in Identifier.objects.filter(tenant=tenant).values_list("profile_id", "type", "value"):
        profiles[pid]["identifiers"].append((type, value))
    for section, model in (("events", Event), ("updates", ProfileUpdate), ("channel", ChannelUpdate)):
        for pid, key in model.objects.filter(tenant=tenant).values_list("profile_id", "external_event_id"):
            profiles[pid][section].append(key)
    for pid, name, value in AttributeValue.objects.filter(tenant=tenant).values_list("profile_id", "name", "value"):
        profiles[pid]["attributes"][name] = value
    for pid, name, value, count in DerivedValue.objects.filter(tenant=tenant).values_list(
        "profile_id", "name", "value", "count"
    ):
        profiles[pid]["derived"][name] = (value, count)
    for pid, address, consent, active in Endpoint.objects.filter(tenant=tenant).values_list(
        "profile_id", "address", "consent", "active"
    ):
        profiles[pid]["endpoints"].append((address, consent, active))
    return sorted(
        repr({k: sorted(v) if isinstance(v, list) else sorted(v.items()) for k, v in p.items()})
        for p in profiles.values()
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(history=st.lists(items, min_size=3, max_size=9))
def test_a_revert_equals_the_history_replayed_with_that_merge_refused(db, history):
    note(f"history={history!r}")
    savepoint = transaction.savepoint()
    try:
        first, api = _setup()
        for index, item in enumerate(history):
            _send(api, index, item)
        entry = MergeLedgerEntry.objects.filter(tenant=first).order_by("-pk").first()
        if entry is None or not entry.undo.get("survivorIdentifiers"):
            event("no merge of an existing survivor")
            assume(False)
        trigger = int(re.search(r"item-(\d+)$", entry.trigger).group(1))
        note(f"reverted {entry.merged_id} -> {entry.survivor_id} by item {trigger}, {entry.undo}")
        note(f"before the revert: {_picture(first)}")
        response = api.post(f"/api/v1/merges/{entry.pk}/revert", {"dryRun": False}, format="json")
        if response.status_code == 409:  # later data would have merged differently: not revertible exactly
            assert "would now resolve differently" in response.json()["detail"], response.json()
            note(response.json()["detail"])
            event("not revertible: later data would have gone differently")
            assume(False)
        assert response.status_code == 200, response.content[:500]

        second, replay = _setup()
        for index, item in enumerate(history[:trigger]):
            _send(replay, index, item)
        survivor_key = entry.undo["survivorIdentifiers"][0]
        merged_key = entry.moved_identifiers[0]
        a = Identifier.objects.get(tenant=second, type=survivor_key["type"], value=survivor_key["value"]).profile_id
        b = Identifier.objects.get(tenant=second, type=merged_key["type"], value=merged_key["value"]).profile_id
        MergeBlock.objects.create(tenant=second, profile_a=a, profile_b=b, revert_entry_id=0)
        for index, item in enumerate(history[trigger:], start=trigger):
            _send(replay, index, item)

        assert _picture(first) == _picture(second)
        event("reverted and compared")
    finally:
        transaction.savepoint_rollback(savepoint)
