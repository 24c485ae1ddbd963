"""Real threads on PostgreSQL (DESIGN.md §8): overlapping resolutions, merges in both
directions, no duplicate identifier, no orphan, no deadlock surfacing, no 5xx."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, transaction

from cdp_project.core.retries import run_with_retries
from conftest import make_client
from identity.models import Identifier
from identity.normalization import identity_normalize
from identity.resolver import identity_resolve
from profiles.models import MergeLedgerEntry, Profile

from .factories import T0, resolve
from .invariants import assert_identity_invariants

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

THREADS = 16


def resolve_in_thread(tenant, identity, trigger):
    normalized = identity_normalize(tenant=tenant, identity=identity)

    def work():
        with transaction.atomic(durable=True):
            return identity_resolve(tenant=tenant, identity=normalized, occurred_at=T0, source="load", trigger=trigger)

    return run_with_retries(work)


def run_threads(jobs):
    """Run each job in its own thread, released together; return the errors raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def runner(job):
        try:
            barrier.wait(timeout=10)
            job()
        except BaseException as error:  # collected and asserted on by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(job,)) for job in jobs]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors, time.monotonic() - started


def test_sixteen_threads_creating_the_same_identifier_end_with_one_profile(tenant):
    jobs = [
        (lambda i=i: resolve_in_thread(tenant, {"EMAIL": "ann@example.com", "DEVICE_KEY": f"dev-{i}"}, f"t/{i}"))
        for i in range(THREADS)
    ]
    errors, _ = run_threads(jobs)
    assert errors == []
    assert Identifier.objects.filter(tenant=tenant, type="EMAIL").count() == 1
    assert Profile.objects.filter(tenant=tenant, merged_into__isnull=True).count() == 1
    assert Identifier.objects.filter(tenant=tenant).count() == THREADS + 1
    assert_identity_invariants(tenant)


def test_sixteen_threads_merging_in_both_directions_keep_the_invariants(tenant, key_factory):
    # Pairs of profiles, each holding the other's lower-precedence identifier's partner:
    # thread A merges Q into P while thread B merges P into Q.
    for pair in range(THREADS // 2):
        resolve(tenant, {"EMAIL": f"p{pair}@example.com", "DEVICE_KEY": f"q-dev-{pair}"})
        resolve(tenant, {"EMAIL": f"q{pair}@example.com", "DEVICE_KEY": f"p-dev-{pair}"})
    admin = key_factory(tenant, ["admin"]).plaintext
    statuses: list[int] = []

    def job(i):
        pair = i // 2
        rng = random.Random(i)
        client = make_client(admin)
        maps = [
            {"EMAIL": f"p{pair}@example.com", "DEVICE_KEY": f"p-dev-{pair}"}
            if i % 2 == 0
            else {"EMAIL": f"q{pair}@example.com", "DEVICE_KEY": f"q-dev-{pair}"},
        ]
        for step in range(3):  # then random overlapping maps across pairs, with and without EXTERNAL
            identity = {"EMAIL": f"{rng.choice('pq')}{rng.randrange(THREADS // 2)}@example.com"}
            identity["DEVICE_KEY"] = f"{rng.choice('pq')}-dev-{rng.randrange(THREADS // 2)}"
            if rng.random() < 0.5:
                identity["EXTERNAL"] = f"cust-{rng.randrange(4)}"
            if rng.random() < 0.5:
                identity["PHONE"] = f"+4420794609{rng.randrange(10, 14)}"
            maps.append(identity)
            del step
        for n, identity in enumerate(maps):
            result = resolve_in_thread(tenant, identity, f"event load/{i}-{n}")
            response = client.get(f"/api/v1/profiles/{result.profile_id}")
            statuses.append(response.status_code)

    errors, elapsed = run_threads([lambda i=i: job(i) for i in range(THREADS)])
    assert errors == []
    assert statuses and all(status == 200 for status in statuses), statuses
    assert MergeLedgerEntry.objects.filter(tenant=tenant).exists()
    assert_identity_invariants(tenant)
    assert elapsed < 30
