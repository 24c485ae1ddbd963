"""A merge revert racing ingest for the same identifiers, with real threads on PostgreSQL:
whatever the interleaving, the end state is the one that applying everything one by one
would give — the kiosk's own events with the kiosk, Ann's (and those naming both) with Ann,
the two never merged again, derived values equal to a recount, no 5xx."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from conftest import make_client
from identity.models import Identifier
from identity.tests.invariants import assert_identity_invariants
from ingest.derived import derived_recompute
from ingest.models import Event
from profiles.models import DerivedValue, MergeLedgerEntry, Profile

from .conftest import event
from .test_merge_revert import ANN, DEVICE, kiosk, ready  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 30


def test_a_revert_racing_ingest_ends_as_one_by_one_application_would(api, kiosk, tenant, key_factory):  # noqa: F811
    key = key_factory(tenant, ["ingest"]).plaintext
    start = threading.Barrier(3)
    codes: list[int] = []
    kinds = ({**DEVICE}, {"EMAIL": "ann@example.com"}, {"EMAIL": "ann@example.com", **DEVICE})

    def ingest(worker: int) -> None:
        client = make_client(key)
        try:
            start.wait(timeout=10)
            for n in range(ROUNDS):
                identity = kinds[(n + worker) % 3]
                body = event(identity, key=f"race-{worker}-{n}-{(n + worker) % 3}", total=1)
                codes.append(client.post("/api/v1/events", body, format="json").status_code)
        finally:
            connection.close()

    def revert() -> None:
        try:
            start.wait(timeout=10)
            response = api.post(f"/api/v1/merges/{kiosk['merge']}/revert", {"dryRun": False}, format="json")
            codes.append(response.status_code)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(ingest, 0), pool.submit(ingest, 1), pool.submit(revert)]:
            future.result(timeout=300)

    assert set(codes) <= {200, 201}, codes
    assert Profile.objects.get(pk=kiosk["kiosk"]).merged_into_id is None
    assert Identifier.objects.get(type="DEVICE_KEY", value="dev-kiosk").profile_id == kiosk["kiosk"]
    where = dict(
        Event.objects.filter(external_event_id__startswith="race-").values_list("external_event_id", "profile_id")
    )
    assert len(where) == 2 * ROUNDS
    for key_, profile_id in where.items():
        expected = kiosk["kiosk"] if key_.endswith("-0") else kiosk["ann"]  # device only; email or both
        assert profile_id == expected, key_
    stored = {(p, n): v for p, n, v in DerivedValue.objects.values_list("profile_id", "name", "value")}
    with transaction.atomic():
        derived_recompute(tenant_id=tenant.pk, profile_ids={kiosk["kiosk"], kiosk["ann"]})
    assert stored == {(p, n): v for p, n, v in DerivedValue.objects.values_list("profile_id", "name", "value")}
    assert_identity_invariants(tenant)
    # The race really overlapped: events arrived both before and after the revert.
    reverted_at = MergeLedgerEntry.objects.get(rule="revert").created_at
    arrivals = Event.objects.filter(external_event_id__startswith="race-").values_list("received_at", flat=True)
    assert min(arrivals) < reverted_at < max(arrivals)
