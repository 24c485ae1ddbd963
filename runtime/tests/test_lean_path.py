"""The runtime's lean path (issue 21): a plain GET of the context or the variables with a good
token is answered without DRF's machinery and its reads in one round trip, and gives exactly
the answer of the full DRF path, which still answers everything else."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import connection_dropped
from profiles.models import MergeLedgerEntry
from runtime.models import Campaign, VariableDefinition

from .factories import bearer, campaign_make, mint, profile_make

pytestmark = pytest.mark.django_db

CONTEXT = "/api/v1/runtime/context"
VARIABLES = "/api/v1/runtime/variables"
# DRF answers `application/*` with the JSON renderer, as it does `*/*`; the lean path leaves it
# to DRF, so this header takes the full path to the same answer.
FULL_PATH = {"HTTP_ACCEPT": "application/*"}


def _answer(response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [(name, value) for name, value in response.headers.items() if name != "X-Request-ID"]
    return response.status_code, headers, response.content


def _statements(send) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    return response, [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


@pytest.fixture
def session(runtime_api, quiz, ann):
    return mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})


@pytest.mark.parametrize("path", [CONTEXT, VARIABLES])
def test_the_lean_answer_is_the_full_paths_answer_byte_for_byte(session, path):
    client = bearer(session["token"])
    client.patch(VARIABLES, {"variables": {"step": 3, "answers": ["ä", "\u2028"]}}, format="json")

    lean = client.get(path)
    full = client.get(path, **FULL_PATH)
    curl = client.get(path, HTTP_ACCEPT="*/*")

    assert lean.status_code == 200
    assert _answer(lean) == _answer(full) == _answer(curl)
    assert lean["Content-Type"] == "application/json"
    assert lean.json()["variables"]["answers"] == ["ä", "\u2028"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"HTTP_ACCEPT": "text/html"}, 406, "not_acceptable"),
        ({"HTTP_AUTHORIZATION": "Bearer not-a-token"}, 401, "invalid_token"),
        ({"HTTP_AUTHORIZATION": "Bearer"}, 401, "invalid_token"),
    ],
)
def test_what_the_lean_path_leaves_alone_is_answered_as_before(session, headers, status, code):
    response = APIClient().get(CONTEXT, **{"HTTP_AUTHORIZATION": f"Bearer {session['token']}", **headers})
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_a_query_string_takes_the_full_path_to_the_same_answer(session):
    client = bearer(session["token"])
    assert _answer(client.get(CONTEXT, {"format": "json"})) == _answer(client.get(CONTEXT))


# On PostgreSQL the reads of one round trip are one statement (cdp_project.core.compiled.reads_run).
POSTGRESQL = connection.vendor == "postgresql"


def test_the_variables_are_one_round_trip_on_the_lean_path(session):
    client = bearer(session["token"])
    client.get(VARIABLES)
    response, sql = _statements(lambda: client.get(VARIABLES))
    assert response.status_code == 200
    assert len(sql) == (1 if POSTGRESQL else 2), sql


def test_after_a_merge_the_context_reads_the_survivors_profile_in_one_more_round_trip(tenant, runtime_api):
    campaign_make(tenant)
    bo = profile_make(tenant, {"EMAIL": "bo@example.com"}, {"firstName": "Bo"})
    bo_phone = profile_make(tenant, {"PHONE": "+44 20 7946 0958"}, {"tier": "silver"})
    session = mint(runtime_api, "spring-quiz", profileId=str(bo_phone))  # the token names bo_phone
    assert profile_make(tenant, {"EMAIL": "bo@example.com", "PHONE": "+44 20 7946 0958"}) == bo
    assert MergeLedgerEntry.objects.filter(survivor_id=bo, merged_id=bo_phone).exists()

    client = bearer(session["token"])
    client.get(CONTEXT)
    response, sql = _statements(lambda: client.get(CONTEXT))

    assert response.status_code == 200
    context = response.json()
    assert context["participant"] == {"id": session["participantId"], "profileId": str(bo)}
    assert context["profile"]["attributes"] == {"firstName": "Bo", "tier": "silver"}
    assert len(sql) == (2 if POSTGRESQL else 6), sql
    assert _answer(response) == _answer(client.get(CONTEXT, **FULL_PATH))


def test_definitions_changed_by_another_process_are_read_with_one_more_round_trip(session, quiz):
    client = bearer(session["token"])
    assert client.get(CONTEXT).json()["variables"]["step"] == 0  # compiled and cached here
    # Another process's campaign edit: the version goes up, this process's cache is not told.
    VariableDefinition.objects.filter(campaign=quiz, name="step").update(default=10)
    Campaign.objects.filter(pk=quiz.pk).update(variables_version=F("variables_version") + 1)

    response, sql = _statements(lambda: client.get(CONTEXT))
    assert response.json()["variables"]["step"] == 10
    assert len(sql) == (2 if POSTGRESQL else 5), sql
    again, sql = _statements(lambda: client.get(CONTEXT))
    assert again.json()["variables"]["step"] == 10
    assert len(sql) == (1 if POSTGRESQL else 4), sql


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_without_a_failed_answer(tenant, key_factory):
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    from .factories import runtime_client

    campaign_make(tenant)
    profile_make(tenant, {"EXTERNAL": "cust-42"}, {"firstName": "Ann"})
    session = mint(runtime_client(tenant, key_factory), "spring-quiz", identity={"EXTERNAL": "cust-42"})
    client = bearer(session["token"])
    assert client.get(CONTEXT).status_code == 200

    connection_dropped()

    response = client.get(CONTEXT)
    assert response.status_code == 200, response.content
    assert response.json()["profile"]["attributes"] == {"firstName": "Ann"}
