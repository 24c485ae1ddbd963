"""An erasure racing ingest for the same customer, with real threads on PostgreSQL: whatever
the interleaving, nothing of the customer is left, and every racing item was either erased
with the family or answered `suppressed`."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from conftest import make_client
from identity.models import Identifier
from ingest.models import Event, IdempotencyKey
from jobs.worker import jobs_run_pending
from privacy.models import Erasure
from profiles.models import Profile

from .conftest import ANN, event

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

ROUNDS = 40


def test_an_erasure_racing_ingest_leaves_nothing_of_the_customer(api, ann, bob, tenant, key_factory, settings):
    settings.CDP_ERASURE_CHUNK_ROWS = 2  # many small transactions, many chances to interleave
    key = key_factory(tenant, ["ingest"]).plaintext
    start = threading.Barrier(3)
    statuses: list[str] = []

    def ingest(worker: int) -> None:
        client = make_client(key)
        try:
            start.wait(timeout=10)
            for n in range(ROUNDS):
                identity = ANN if n % 2 else {"EMAIL": "ann@example.com", "DEVICE_KEY": f"dev-race-{worker}-{n}"}
                response = client.post("/api/v1/events", event(identity, key=f"race-{worker}-{n}"), format="json")
                assert response.status_code in (200, 201), response.content
                statuses.append(response.json()["status"])
        finally:
            connection.close()

    def erase() -> None:
        try:
            start.wait(timeout=10)
            response = api.post("/api/v1/erasures", {"identity": {"EXTERNAL": "cust-1"}}, format="json")
            assert response.status_code == 202, response.content
            while jobs_run_pending():
                pass
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(ingest, 0), pool.submit(ingest, 1), pool.submit(erase)]
        for future in futures:
            future.result(timeout=300)

    erasure = Erasure.objects.get()
    assert erasure.status == "succeeded", erasure.error
    # Nothing that names her is left: no identifier, no event, no profile of hers.
    assert not Identifier.objects.filter(value__in=["cust-1", "ann@example.com", "dev-ann"]).exists()
    assert not Identifier.objects.filter(value__startswith="dev-race-").exists()
    assert not Event.objects.filter(external_event_id__startswith="race-").exists()
    assert not Event.objects.filter(external_event_id__startswith="ann-").exists()
    live = set(Profile.objects.values_list("pk", flat=True))
    assert live == {bob}, live
    # Every racing item kept its key: it was applied and then erased, or suppressed.
    assert IdempotencyKey.objects.filter(external_id__startswith="race-").count() == 2 * ROUNDS
    assert set(statuses) <= {"accepted", "suppressed"}
    assert "suppressed" in statuses  # the race really overlapped the erasure's end
    assert uuid.UUID(str(bob)) in live
