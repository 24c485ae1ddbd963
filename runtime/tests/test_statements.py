"""The runtime's hot paths cost a handful of statements (issue 21): the context, a
variables write and a session are read and written with a fixed number of queries,
whatever the profile, the campaign or the cache hold; and the per-process cache of
variable definitions never serves a campaign edit late."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runtime.services import campaign_update
from runtime.variables import variables_parse

from .factories import QUIZ_VARIABLES, bearer, campaign_make, mint

pytestmark = pytest.mark.django_db

CONTEXT = "/api/v1/runtime/context"
VARIABLES = "/api/v1/runtime/variables"


def _statements(captured: CaptureQueriesContext) -> list[str]:
    # A durable transaction inside a test's transaction becomes a savepoint: not a
    # statement the service sends in production.
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def _request(send) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    return response, _statements(captured)


def _edit(campaign, variables) -> None:
    specs, problems = variables_parse(variables)
    assert not problems
    campaign_update(campaign=campaign, variables=specs)


@pytest.fixture
def session(runtime_api, quiz, ann):
    return mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})


def test_the_context_is_four_statements_in_one_round_trip_with_the_definitions_cached_or_not(session, quiz):
    """Four reads (participant, profile values, readiness, variables): on PostgreSQL one
    statement (cdp_project.core.compiled.reads_run), elsewhere four."""
    client = bearer(session["token"])
    client.patch(VARIABLES, {"variables": {"step": 2}}, format="json")
    _edit(quiz, QUIZ_VARIABLES)  # a new version: the definitions are not cached yet

    cold, cold_sql = _request(lambda: client.get(CONTEXT))
    warm, warm_sql = _request(lambda: client.get(CONTEXT))

    assert cold.status_code == warm.status_code == 200
    assert cold.json() == warm.json()
    assert cold.json()["variables"]["step"] == 2
    statements = 1 if connection.vendor == "postgresql" else 4
    assert len(cold_sql) == statements, cold_sql
    assert len(warm_sql) == statements, warm_sql


def test_a_variables_write_is_four_statements_and_five_with_a_reset(session):
    client = bearer(session["token"])
    client.get(VARIABLES)

    written, sql = _request(lambda: client.patch(VARIABLES, {"variables": {"step": 3, "level": "hard"}}, format="json"))
    assert written.status_code == 200 and written.json()["variables"]["step"] == 3
    assert len(sql) == 4, sql

    reset, sql = _request(lambda: client.patch(VARIABLES, {"variables": {"step": None, "score": 1}}, format="json"))
    assert reset.status_code == 200
    assert reset.json()["variables"] == {"step": 0, "answers": [], "level": "hard", "score": 1, "finishedAt": None}
    assert len(sql) == 5, sql


def test_a_refused_variables_write_is_two_statements_and_writes_nothing(session):
    client = bearer(session["token"])
    refused, sql = _request(lambda: client.patch(VARIABLES, {"variables": {"step": "three"}}, format="json"))
    assert refused.status_code == 422
    assert len(sql) <= 3, sql
    assert not any(statement.startswith(("INSERT", "UPDATE", "DELETE")) for statement in sql)


def test_a_session_is_six_statements_for_a_known_participant_and_seven_for_a_new_one(runtime_api, quiz, ann):
    mint(runtime_api, "spring-quiz", profileId=str(ann))  # the API key's last use is recorded once a minute

    first, first_sql = _request(
        lambda: runtime_api.post(
            "/api/v1/runtime/sessions", {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}, format="json"
        )
    )
    again, again_sql = _request(
        lambda: runtime_api.post(
            "/api/v1/runtime/sessions", {"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}, format="json"
        )
    )
    by_id, by_id_sql = _request(
        lambda: runtime_api.post(
            "/api/v1/runtime/sessions", {"campaign": "spring-quiz", "profileId": str(ann)}, format="json"
        )
    )

    assert first.status_code == again.status_code == by_id.status_code == 201
    assert first.json()["participantId"] == again.json()["participantId"] == by_id.json()["participantId"]
    # API key, the key's shared rate budget, campaign, identifier, profile lock, participant (known: no insert).
    assert len(first_sql) == 6, first_sql
    assert len(again_sql) == 6, again_sql
    assert len(by_id_sql) == 5, by_id_sql


def test_a_first_session_inserts_its_participant_in_one_more_statement(runtime_api, quiz, ann):
    mint(runtime_api, "spring-quiz", profileId=str(ann))

    campaign_make(quiz.tenant, "autumn-quiz", name="Autumn quiz")
    created, sql = _request(
        lambda: runtime_api.post(
            "/api/v1/runtime/sessions", {"campaign": "autumn-quiz", "profileId": str(ann)}, format="json"
        )
    )
    assert created.status_code == 201
    assert len(sql) == 6, sql  # with the key's shared rate budget


def test_a_campaign_edit_is_seen_by_the_very_next_request_despite_the_cache(session, quiz):
    client = bearer(session["token"])
    client.patch(VARIABLES, {"variables": {"step": 4, "score": 2}}, format="json")
    assert client.get(CONTEXT).json()["variables"]["score"] == 2  # cached now

    _edit(quiz, [{"name": "step", "type": "string", "default": "intro"}, {"name": "bonus", "type": "boolean"}])

    assert client.get(CONTEXT).json()["variables"] == {"step": "intro", "bonus": None}
    refused = client.patch(VARIABLES, {"variables": {"score": 3}}, format="json")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "unknown_variable"
    written = client.patch(VARIABLES, {"variables": {"step": "outro", "bonus": True}}, format="json")
    assert written.json()["variables"] == {"step": "outro", "bonus": True}
    assert client.get(VARIABLES).json()["variables"] == {"step": "outro", "bonus": True}
