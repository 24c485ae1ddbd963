"""Concurrent ingestion with real threads against PostgreSQL (DESIGN.md §7, §8)."""

from __future__ import annotations

import copy

import pytest

from conftest import make_client, threads_run
from identity.models import Identifier
from ingest.models import Event, IdempotencyKey
from profiles.models import Profile

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_sixteen_threads_posting_the_same_event_apply_it_exactly_once(tenant, key_factory, shop, event):
    key = key_factory(tenant, ["ingest"]).plaintext

    def work(_):
        response = make_client(key).post("/api/v1/events", event, format="json")
        return response.status_code, response.json().get("eventId")

    results = threads_run(16, work)
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 1, results
    assert statuses.count(200) == 15, results
    assert len({event_id for _, event_id in results}) == 1
    assert Event.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert Profile.objects.filter(merged_into__isnull=True).count() == 1


def test_eight_threads_merging_the_same_profiles_keep_the_invariants(tenant, key_factory, shop, event):
    key = key_factory(tenant, ["ingest"]).plaintext
    client = make_client(key)
    # Four anonymous profiles, one per identifier...
    seeds = [{"EMAIL": "ann@example.com"}, {"PHONE": "+442079460958"}, {"DEVICE_KEY": "dev-a"}, {"DEVICE_KEY": "dev-b"}]
    for n, identity in enumerate(seeds):
        body = dict(copy.deepcopy(event), externalEventId=f"seed-{n}", identity=identity)
        assert client.post("/api/v1/events", body, format="json").status_code == 201
    # ...then eight threads each join two of them, in both directions.
    pairs = [(0, 1), (1, 0), (2, 3), (3, 2), (0, 2), (3, 1), (1, 2), (0, 3)]

    def work(index):
        a, b = pairs[index]
        identity = {**seeds[a], **seeds[b]} if a != b else seeds[a]
        if "DEVICE_KEY" in seeds[a] and "DEVICE_KEY" in seeds[b]:
            identity = {"DEVICE_KEY": seeds[a]["DEVICE_KEY"], "EMAIL": "ann@example.com"}
        body = dict(copy.deepcopy(event), externalEventId=f"join-{index}", identity=identity)
        return make_client(key).post("/api/v1/events", body, format="json").status_code

    statuses = threads_run(8, work)
    assert all(status in (200, 201) for status in statuses), statuses
    live = Profile.objects.filter(merged_into__isnull=True)
    # Every identifier belongs to a live profile, and each identifier exists once.
    owners = set(Identifier.objects.values_list("profile_id", flat=True))
    assert owners <= set(live.values_list("id", flat=True))
    assert Identifier.objects.count() == len(set(Identifier.objects.values_list("type", "value")))
    # Every event sits on a live profile, and everything ended up as one customer.
    assert set(Event.objects.values_list("profile_id", flat=True)) <= set(live.values_list("id", flat=True))
    assert live.count() == 1
    assert Event.objects.count() == 12
