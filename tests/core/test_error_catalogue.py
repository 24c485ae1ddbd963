"""The error catalogue: every problem the API answers is one `Problem` (code, title, status),
documented in docs/problems.md, and the API answers exactly what the catalogue says."""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path

import pytest

from cdp_project.core.errors import Problem, ProblemError, already_exists, busy, invalid_body, not_found
from ingest.pipeline import _PROBLEM_BY_FIELD

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_member_is_one_distinct_error_status_code_and_title():
    members = list(Problem)
    assert len(members) == len(Problem.__members__), "two members share (code, title, status): one is an alias"
    for problem in members:
        assert re.fullmatch(r"[a-z][a-z_]*[a-z]", problem.code), problem
        assert 400 <= problem.status <= 599 and HTTPStatus(problem.status), problem
        assert problem.title and problem.title[0].isupper(), problem


def test_a_member_raises_a_problem_error_with_its_code_title_and_status():
    error = Problem.UNKNOWN_SOURCE.error("No source 'web'.", headers={"X-Test": "1"})
    assert isinstance(error, ProblemError)
    assert (error.code, error.title, error.status, error.detail) == (
        "unknown_source",
        "Unknown source",
        422,
        "No source 'web'.",
    )
    assert error.errors == () and error.headers == {"X-Test": "1"}
    assert Problem.VALIDATION_ERROR.error().headers == {}, "each error gets headers of its own"


def test_the_factories_answer_what_they_always_answered():
    assert (already_exists("x").code, already_exists("x").title, already_exists("x").status) == (
        "already_exists",
        "Already exists",
        409,
    )
    assert busy("retry").headers == {"Retry-After": "1"} and busy("retry").status == 503
    assert not_found().detail == "No such object." and not_found().title == "Not found"
    one, three = invalid_body(["p"]), invalid_body(["p", "q", "r"], where="variables")
    assert (one.code, one.status, one.detail) == ("validation_error", 422, "1 problem in the request body")
    assert three.detail == "3 problems in variables"


def test_a_code_computed_elsewhere_is_looked_up_by_code_and_status():
    assert Problem.of("validation_error", status=422) is Problem.VALIDATION_ERROR
    assert Problem.of("busy", status=503) is Problem.BUSY
    with pytest.raises(KeyError):
        Problem.of("busy", status=500)


@pytest.mark.parametrize(
    "problem",
    sorted({*_PROBLEM_BY_FIELD.values(), Problem.VALIDATION_ERROR, Problem.PAYLOAD_TOO_LARGE}, key=lambda p: p.name),
)
def test_every_problem_a_refused_ingest_item_can_carry_is_the_catalogue_entry_of_its_code(problem):
    assert Problem.of(problem.code, status=problem.status) is problem
    assert problem.status == (413 if problem is Problem.PAYLOAD_TOO_LARGE else 422)


def _table(text: str, header: str) -> list[list[str]]:
    lines = text.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_docs_problems_md_lists_exactly_the_catalogue():
    rows = _table((DOCS / "problems.md").read_text(), "| status | code | title |")
    documented = {(int(status), code.strip("`"), title) for status, code, title in rows}
    assert documented == {(p.status, p.code, p.title) for p in Problem}


def test_every_code_the_api_reference_names_is_answered_with_that_status():
    rows = _table((DOCS / "api.md").read_text(), "| status | when | typical `code` |")
    assert rows
    for status, _when, codes in rows:
        for code in re.findall(r"`([a-z_]+)`", codes):
            assert any(p.code == code and p.status == int(status) for p in Problem), (status, code)
