"""A database outage answers 503 with Retry-After, never 500 (issue 11 item 6); every
error under /api/ and /v1/ is an RFC 9457 problem document, DEBUG or not, and an export
never streams an HTML page (item 8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import override_settings

from profiles.models import AttributeValue

from .conftest import ROOT, profile_update

DEAD_DATABASE = "postgres://nobody@127.0.0.1:9/nowhere?connect_timeout=2"


def _against_a_dead_database(requests: list[tuple[str, str, str]], debug: bool) -> list[dict]:
    """Each (method, path, body) through the whole Django stack of a real process whose
    database is a closed port: nothing is faked."""
    script = (
        "import json, sys, django; django.setup()\n"
        "from django.test import Client\n"
        "key = 'Api-Key rfk_abcdefgh_wellformedbutunknown'\n"
        "client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=key)\n"
        "out = []\n"
        "for method, path, body in json.loads(sys.argv[1]):\n"
        "    r = client.generic(method, path, body, content_type='application/json')\n"
        "    out.append({'status': r.status_code, 'type': r.get('Content-Type'), 'retry': r.get('Retry-After'),\n"
        "                'body': r.content.decode()[:2000]})\n"
        "print(json.dumps(out))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "DATABASE_URL": DEAD_DATABASE,
        "DJANGO_DEBUG": "1" if debug else "0",
        "DJANGO_LOG_LEVEL": "CRITICAL",
    }
    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(requests)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_database_outage_is_503_with_retry_after(debug):
    event = json.dumps({"source": "s", "externalEventId": "e", "eventType": "t"})
    answers = _against_a_dead_database(
        [
            ("GET", "/api/v1/sources", ""),
            ("POST", "/api/v1/events", event),
            ("GET", "/api/v1/profiles/6f9619ff-8b86-d011-b42d-00c04fc964ff", ""),
        ],
        debug,
    )
    for answer in answers:
        assert answer["status"] == 503, answer
        assert answer["type"] == "application/problem+json"
        assert answer["retry"] == "5"
        body = json.loads(answer["body"])
        assert body["code"] == "database_unavailable" and body["status"] == 503
        assert "Traceback" not in answer["body"]


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == f"/problems/{body['code']}"
    return body


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@pytest.mark.parametrize("path", ["/api/v1/no/such/thing", "/api/nothing", "/v1/no-such-call"])
def test_an_unknown_url_is_a_404_problem_debug_or_not(client, debug, path):
    with override_settings(DEBUG=debug):
        body = problem(client.get(path), 404)
    assert body["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_a_disallowed_host_is_a_400_problem(client, debug):
    with override_settings(DEBUG=debug):
        body = problem(client.get("/api/v1/sources", HTTP_HOST="evil.example"), 400)
    assert body["code"] == "bad_request"


@pytest.mark.django_db
@pytest.mark.urls("tests.urls")
def test_an_unhandled_error_under_debug_is_a_500_problem_without_traceback(client):
    client.raise_request_exception = False
    with override_settings(DEBUG=True):
        response = client.get("/api/v1/_boom")
    body = problem(response, 500)
    assert body["code"] == "internal_error"
    assert "Traceback" not in response.content.decode() and "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_pages_outside_the_api_keep_their_html_errors(client):
    with override_settings(DEBUG=True):
        response = client.get("/no-such-page")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_an_export_that_fails_when_it_starts_answers_a_problem_not_a_page(api, tenant, client):
    update = profile_update({"birthday": "2000-01-01T00:00:00Z"})
    api.post("/api/v1/profile-updates", update, format="json")
    channel = {
        **{k: update[k] for k in ("source", "occurredAt", "identity")},
        "externalEventId": "cu-1",
        "channel": "EMAIL",
        "address": "ann@example.com",
        "consent": "granted",
    }
    assert api.post("/api/v1/channel-updates", channel, format="json").status_code == 201
    definition = {"attribute": "birthday", "op": "gt", "value": "1990-01-01T00:00:00Z"}
    api.post("/api/v1/segments", {"key": "bday", "name": "B", "definition": definition}, format="json")
    # A value damaged in storage, outside the validator: PostgreSQL cannot cast it.
    AttributeValue.objects.filter(tenant=tenant, name="birthday").update(value="2000-02-30T00:00:00Z")
    api.raise_request_exception = False
    for debug in (False, True):
        with override_settings(DEBUG=debug):
            response = api.get("/api/v1/segments/bday/export", {"channel": "EMAIL"})
        assert not getattr(response, "streaming", False), "the failure must come before the stream starts"
        problem(response, 500)
