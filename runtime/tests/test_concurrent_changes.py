"""PATCH /runtime/variables while the campaign's variables are edited and while merges
combine participants (issue 11, item 5): every answer is 200 or a clear 4xx, never a 500,
and what was answered is what is stored. Real threads against PostgreSQL."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection

from conftest import make_client
from runtime.models import Participant

from .factories import bearer, campaign_make, mint, profile_make, runtime_client

WRITERS = 4
EDITS = 30
PAIRS = 12

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

STEP = {"name": "step", "type": "integer", "default": 0}
FLAG = {"name": "flag", "type": "string"}


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"


def test_variables_written_while_an_admin_edits_the_campaign_answer_200_or_422_never_500(tenant, key_factory):
    campaign_make(tenant, variables=[STEP, FLAG])
    runtime_api = runtime_client(tenant, key_factory)
    tokens = [
        mint(runtime_api, "spring-quiz", profileId=str(profile_make(tenant, {"EXTERNAL": f"cust-{i}"})))["token"]
        for i in range(WRITERS)
    ]
    admin_key = key_factory(tenant, ["admin"]).plaintext
    done = threading.Event()
    statuses: list[int] = []
    answered: dict[str, int] = {}
    errors: list[BaseException] = []

    def edit() -> None:
        try:
            admin = make_client(admin_key)
            for i in range(EDITS):
                # Remove `flag`, then declare it again (a new definition each time).
                variables = [STEP] if i % 2 == 0 else [STEP, FLAG]
                response = admin.patch("/api/v1/campaigns/spring-quiz", {"variables": variables}, format="json")
                assert response.status_code == 200, response.content
                time.sleep(random.uniform(0, 0.004))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            done.set()
            connection.close()

    def write(token: str) -> None:
        try:
            client = bearer(token)
            step = 0
            while not done.is_set() and step < 2_000:
                step += 1
                response = client.patch(
                    "/api/v1/runtime/variables", {"variables": {"step": step, "flag": "x"}}, format="json"
                )
                statuses.append(response.status_code)
                if response.status_code == 200:
                    assert response.json()["variables"] == {"step": step, "flag": "x"}
                    answered[token] = step
                else:
                    assert response.status_code == 422, response.content
                    assert response.json()["errors"] == [
                        {
                            "pointer": "/variables/flag",
                            "code": "unknown_variable",
                            "detail": "'flag' is not a variable of this campaign (variables: step)",
                        }
                    ]
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    _run([threading.Thread(target=edit), *(threading.Thread(target=write, args=(t,)) for t in tokens)])

    assert not errors, errors[:3]
    assert 200 in statuses and set(statuses) <= {200, 422}
    # What was answered is what is stored; a refused change wrote nothing.
    for token in tokens:
        assert bearer(token).get("/api/v1/runtime/variables").json()["variables"]["step"] == answered.get(token, 0)


def test_variables_written_while_merges_combine_participants_answer_200_or_401_never_500(tenant, key_factory):
    campaign_make(tenant, variables=[STEP, FLAG])
    runtime_api = runtime_client(tenant, key_factory)
    pairs = []
    for i in range(PAIRS):
        kept = profile_make(tenant, {"EMAIL": f"bo{i}@example.com"})
        lost = profile_make(tenant, {"PHONE": f"+44 20 7946 {i:04d}"})
        pairs.append(
            (
                i,
                mint(runtime_api, "spring-quiz", profileId=str(kept)),
                mint(runtime_api, "spring-quiz", profileId=str(lost)),
            )
        )
    current = {"pair": 0}
    done = threading.Event()
    statuses: list[int] = []
    errors: list[BaseException] = []

    def merge() -> None:
        try:
            for i, _, _ in pairs:
                current["pair"] = i
                time.sleep(0.01)  # let the writers of this pair get going
                profile_make(tenant, {"EMAIL": f"bo{i}@example.com", "PHONE": f"+44 20 7946 {i:04d}"})
                time.sleep(0.005)
        except BaseException as error:
            errors.append(error)
        finally:
            done.set()
            connection.close()

    def write(side: int, variable: str) -> None:
        try:
            count = 0
            while not done.is_set() and count < 3_000:
                count += 1
                session = pairs[current["pair"]][side]
                response = bearer(session["token"]).patch(
                    "/api/v1/runtime/variables",
                    {"variables": {variable: count if variable == "step" else str(count)}},
                    format="json",
                )
                statuses.append(response.status_code)
                if response.status_code != 200:
                    assert response.status_code == 401, response.content
                    assert response.json()["code"] == "token_revoked"
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    # Both participants of the pair being merged are written to, each by two threads.
    writers = [threading.Thread(target=write, args=(side, "step")) for side in (1, 2)]
    writers += [threading.Thread(target=write, args=(side, "flag" if side == 1 else "step")) for side in (1, 2)]
    _run([threading.Thread(target=merge), *writers])

    assert not errors, errors[:3]
    assert 200 in statuses and set(statuses) <= {200, 401}
    # Every merge combined the pair into the survivor's participant, whose token still works.
    assert Participant.objects.count() == PAIRS
    for _, kept, _ in pairs:
        assert Participant.objects.filter(pk=kept["participantId"]).exists()
        assert bearer(kept["token"]).get("/api/v1/runtime/variables").status_code == 200
