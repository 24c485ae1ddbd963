"""GET|PATCH /api/v1/runtime/variables: typed campaign variables with defaults."""

from __future__ import annotations

import pytest

from runtime.models import VariableValue
from runtime.services import campaign_update
from runtime.variables import variables_parse

from .factories import bearer, mint

pytestmark = pytest.mark.django_db

VARIABLES = "/api/v1/runtime/variables"
DEFAULTS = {"step": 0, "answers": [], "level": "easy", "score": None, "finishedAt": None}


@pytest.fixture
def runtime(runtime_api, quiz, ann):
    return bearer(mint(runtime_api, "spring-quiz", identity={"EXTERNAL": "cust-42"})["token"])


def _patch(client, variables):
    return client.patch(VARIABLES, {"variables": variables}, format="json")


def test_a_new_participant_holds_every_default(runtime):
    response = runtime.get(VARIABLES)
    assert response.status_code == 200
    assert response.json() == {"variables": DEFAULTS}
    assert list(response.json()["variables"]) == list(DEFAULTS)  # definition order
    assert VariableValue.objects.count() == 0


def test_typed_values_are_kept_and_the_rest_keep_their_defaults(runtime):
    response = _patch(runtime, {"step": 3, "answers": ["b", {"q": 2, "a": True}], "finishedAt": "2026-03-01T10:00:00Z"})
    assert response.status_code == 200, response.content
    expected = {**DEFAULTS, "step": 3, "answers": ["b", {"q": 2, "a": True}], "finishedAt": "2026-03-01T10:00:00Z"}
    assert response.json() == {"variables": expected}
    assert runtime.get(VARIABLES).json() == {"variables": expected}
    response = _patch(runtime, {"step": 4, "score": 12.5, "level": "hard"})
    assert response.json()["variables"] == {**expected, "step": 4, "score": 12.5, "level": "hard"}


def test_null_resets_a_variable_to_its_default(runtime):
    _patch(runtime, {"step": 3, "score": 1})
    response = _patch(runtime, {"step": None, "score": None})
    assert response.json() == {"variables": DEFAULTS}
    assert VariableValue.objects.count() == 0


@pytest.mark.parametrize(
    ("variables", "pointer", "code"),
    [
        ({"step": 1.5}, "/variables/step", "type"),
        ({"step": True}, "/variables/step", "type"),
        ({"step": "3"}, "/variables/step", "type"),
        ({"answers": {"a": 1}}, "/variables/answers", "type"),
        ({"level": "medium"}, "/variables/level", "enum"),
        ({"score": -1}, "/variables/score", "out_of_range"),
        ({"finishedAt": "2026-03-01 10:00"}, "/variables/finishedAt", "invalid_datetime"),
        ({"nickname": "x"}, "/variables/nickname", "unknown_variable"),
        ({"a/b": 1}, "/variables/a~1b", "unknown_variable"),
    ],
)
def test_an_unknown_name_or_a_wrong_type_is_422_with_a_pointer(runtime, variables, pointer, code):
    response = _patch(runtime, variables)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_variables"
    assert body["errors"] == [{"pointer": pointer, "code": code, "detail": body["errors"][0]["detail"]}]


def test_a_refused_change_writes_nothing_at_all(runtime):
    response = _patch(runtime, {"step": 5, "level": "medium", "nickname": "x"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/variables/level", "/variables/nickname"]
    assert runtime.get(VARIABLES).json() == {"variables": DEFAULTS}


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"step": 1}, 422, "/step"),
        ({"variables": {"step": 1}, "participant": "x"}, 422, "/participant"),
        ({"variables": {"step": 1}, "campaign": "autumn-quiz"}, 422, "/campaign"),
        ({"variables": [1]}, 422, "/variables"),
    ],
)
def test_a_malformed_body_is_refused(runtime, body, status, pointer):
    response = runtime.patch(VARIABLES, body, format="json")
    assert response.status_code == status
    assert pointer in [e["pointer"] for e in response.json()["errors"]]
    assert runtime.get(VARIABLES).json() == {"variables": DEFAULTS}


def test_a_body_that_is_not_an_object_is_400(runtime):
    assert runtime.patch(VARIABLES, [1], format="json").status_code == 400


def test_a_value_that_no_longer_fits_a_changed_definition_reads_as_the_default(runtime, quiz):
    _patch(runtime, {"step": 3, "level": "hard"})
    specs, _ = variables_parse(
        [
            {"name": "step", "type": "string", "default": "intro"},
            {"name": "level", "type": "enum", "values": ["easy", "hard"], "default": "easy"},
        ]
    )
    campaign_update(campaign=quiz, variables=specs)
    assert runtime.get(VARIABLES).json() == {"variables": {"step": "intro", "level": "hard"}}


def test_removing_a_definition_removes_its_values(runtime, quiz):
    _patch(runtime, {"step": 3, "score": 2})
    specs, _ = variables_parse([{"name": "step", "type": "integer", "default": 0}])
    campaign_update(campaign=quiz, variables=specs)
    assert runtime.get(VARIABLES).json() == {"variables": {"step": 3}}
    assert VariableValue.objects.count() == 1
    assert _patch(runtime, {"score": 1}).status_code == 422
