"""Concurrent first mints for one profile make exactly one participant (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conftest import make_client
from runtime.models import Participant, VariableValue

from .factories import bearer, campaign_make, profile_make

THREADS = 8


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_mints_create_one_participant_and_concurrent_writes_all_land(tenant, key_factory):
    campaign_make(tenant, variables=[{"name": f"v{i}", "type": "integer", "default": 0} for i in range(THREADS)])
    profile_make(tenant, {"EXTERNAL": "cust-42"})
    key = key_factory(tenant, ["runtime"]).plaintext
    barrier = threading.Barrier(THREADS)
    sessions: list = []
    errors: list = []

    def mint_and_write(index: int) -> None:
        try:
            client = make_client(key)
            barrier.wait()
            response = client.post(
                "/api/v1/runtime/sessions",
                {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}},
                format="json",
            )
            sessions.append(response.status_code)
            if response.status_code == 201:
                patched = bearer(response.json()["token"]).patch(
                    "/api/v1/runtime/variables", {"variables": {f"v{index}": index + 1}}, format="json"
                )
                sessions.append(patched.status_code)
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=mint_and_write, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert sorted(sessions) == sorted([201] * THREADS + [200] * THREADS)
    assert Participant.objects.count() == 1
    assert sorted(VariableValue.objects.values_list("value", flat=True)) == list(range(1, THREADS + 1))
