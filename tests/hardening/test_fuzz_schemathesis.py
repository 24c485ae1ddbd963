"""A bounded schemathesis run against a real gunicorn on the test PostgreSQL: every
operation of /api/schema/, positive and negative data, every built-in check of the
default set (no server error, status codes, content types, headers and bodies conform
to the schema, negative data rejected). It must find nothing (issue 11).

Bounded: CDP_FUZZ_EXAMPLES examples per operation and mode (default 5), derandomized so
a run is reproducible, and a budget of CDP_FUZZ_SECONDS (default 120) after which the
remaining operations are reported as skipped. What it reports and is deliberately not a
bug is listed in docs/operations.md ("Fuzzing") and excluded below, one reason each."""

from __future__ import annotations

import os
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from .conftest import numbered

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("CDP_FUZZ_EXAMPLES", "5"))
BUDGET_SECONDS = float(os.environ.get("CDP_FUZZ_SECONDS", "120"))
# Deliberately not bugs (docs/operations.md "Fuzzing"):
# - positive_data_acceptance: a schema-valid body may still be refused with a 422 by the
#   domain (an unregistered source or event type, a contract, an identity rule): the
#   OpenAPI schema describes shapes, the contract decides the rest, per tenant, at run time.
# - negative_data_rejection: unknown query parameters and unknown headers are ignored, as
#   HTTP intends; everything in a body that the schema does not allow is still refused.
EXCLUDED_CHECKS = [positive_data_acceptance, negative_data_rejection]
RUNTIME_OPERATIONS = {"runtime_context_get", "runtime_variables_get", "runtime_variables_update"}


@pytest.fixture
def runtime_token(gunicorn, api_key) -> str:
    headers = {"Authorization": f"Api-Key {api_key}"}
    known = requests.post(f"{gunicorn.url}/api/v1/events", json=numbered(1), headers=headers, timeout=30)
    assert known.status_code == 201, known.text
    campaign = {"key": "quiz", "name": "Quiz", "active": True, "variables": [{"name": "step", "type": "integer"}]}
    created = requests.post(f"{gunicorn.url}/api/v1/campaigns", json=campaign, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    session = {"campaign": "quiz", "identity": {"EXTERNAL": "cust-1"}}
    minted = requests.post(f"{gunicorn.url}/api/v1/runtime/sessions", json=session, headers=headers, timeout=30)
    assert minted.status_code == 201, minted.text
    return minted.json()["token"]


def _run(operation, mode, headers: dict[str, str], base_url: str, http: requests.Session) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        try:
            case.call_and_validate(
                base_url=base_url, session=http, headers=headers, excluded_checks=EXCLUDED_CHECKS, timeout=30
            )
        except FailureGroup as group:
            failures.append(str(group)[:3000])

    run()
    return failures


def test_the_api_survives_a_bounded_fuzz_run(gunicorn, api_key, runtime_token):
    schema = schemathesis.openapi.from_url(f"{gunicorn.url}/api/schema/?format=json", timeout=60)
    deadline = time.monotonic() + BUDGET_SECONDS
    http = requests.Session()
    failures: dict[str, list[str]] = {}
    skipped: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operation_id = operation.definition.raw.get("operationId", operation.label)
        token = f"Bearer {runtime_token}" if operation_id in RUNTIME_OPERATIONS else f"Api-Key {api_key}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() > deadline:
                skipped.append(f"{operation.label} ({mode.value})")
                continue
            found = _run(operation, mode, {"Authorization": token}, gunicorn.url, http)
            ran += 1
            if found:
                failures[f"{operation.label} ({mode.value})"] = found
    print(f"fuzzed {ran} operation/mode pairs, {EXAMPLES} examples each; skipped for time: {skipped}")
    assert ran > 0
    assert not failures, "\n\n".join(f"== {label}\n" + "\n".join(items[:2]) for label, items in failures.items())
