"""The web process answers plain runtime GETs below Django's handler and middleware
(cdp_project/lean_gets.py). Every answer must be the one the full path gives, header for
header, and everything the lean path does not know how to answer must go the full path."""

from __future__ import annotations

import io
import json
import logging

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings

from cdp_project.asgi import StreamingASGIHandler, machine_middleware
from cdp_project.lean_gets import LeanAnswer, LeanGets
from runtime.tests.factories import campaign_make, profile_make
from tests.core.test_web_process import _asgi_call, _view_threads_close

HOST = "api.example.com"
PRODUCTION_LIKE = {
    "ALLOWED_HOSTS": [HOST],
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "SECURE_HSTS_SECONDS": 3600,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
}


def _scope(method: str, path: str, headers: list[tuple[str, str]], scheme: str = "http") -> dict:
    path, _, query = path.partition("?")
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": scheme,
        "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "headers": [(name.encode(), value.encode()) for name, value in headers],
        "server": ("10.0.0.5", 8000), "client": ("10.0.0.9", 5000),
    }  # fmt: skip


async def _answer(handler, scope: dict) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, headers, body = await _asgi_call(handler, scope)
    return status, sorted((bytes(name).lower(), bytes(value)) for name, value in headers), body


def _access_lines(caplog) -> list[tuple]:
    return [(r.getMessage(), r.route, r.status, r.request_id) for r in caplog.records if r.name == "cdp.access"]


def _token(handler, key: str) -> str:
    body = json.dumps({"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}).encode()
    scope = _scope(
        "POST",
        "/api/v1/runtime/sessions",
        [("host", HOST), ("x-forwarded-proto", "https"), ("authorization", f"Api-Key {key}"),
         ("content-type", "application/json"), ("content-length", str(len(body)))],
    )  # fmt: skip

    status, _, answer = async_to_sync(_asgi_call)(handler, scope, body)
    assert status == 201, answer
    return json.loads(answer)["token"]


@pytest.mark.django_db(transaction=True)  # the view threads read what the test wrote
def test_a_lean_get_answers_exactly_what_the_full_path_answers_and_the_rest_goes_the_full_path(
    tenant, key_factory, caplog
):
    campaign_make(tenant)
    profile_make(tenant, {"EXTERNAL": "cust-42"}, {"tier": "gold"})
    with override_settings(**PRODUCTION_LIKE):
        handler = StreamingASGIHandler()
        token = _token(handler, key_factory(tenant).plaintext)
        good = [("host", HOST), ("x-forwarded-proto", "https"), ("authorization", f"Bearer {token}")]
        rid = [("x-request-id", "step-7.a:b")]
        lean = {
            "context": ("GET", "/api/v1/runtime/context", good + rid),
            "variables": ("GET", "/api/v1/runtime/variables", good + rid),
            "accept json": ("GET", "/api/v1/runtime/context", [*good, ("accept", "application/json"), *rid]),
            "behind a port": ("GET", "/api/v1/runtime/context", [("host", f"{HOST}:8443"), *good[1:], *rid]),
            "https itself": ("GET", "/api/v1/runtime/context", [("host", HOST), good[2], *rid], "https"),
        }
        full = {
            "plain http": ("GET", "/api/v1/runtime/context", [good[0], good[2], *rid]),  # 301 to https
            "proxy says http": (
                "GET",
                "/api/v1/runtime/context",
                [good[0], ("x-forwarded-proto", "http"), good[2], *rid],
            ),
            "two proxy headers": (
                "GET",
                "/api/v1/runtime/context",
                [good[0], ("x-forwarded-proto", "http"), *good[1:], *rid],
            ),
            "underscore header": (
                "GET",
                "/api/v1/runtime/context",
                [good[0], ("x_forwarded_proto", "https"), good[2], *rid],
            ),
            "foreign host": ("GET", "/api/v1/runtime/context", [("host", "evil.example.com"), *good[1:], *rid]),
            "no host": ("GET", "/api/v1/runtime/context", [*good[1:], *rid]),
            "html": ("GET", "/api/v1/runtime/context", [*good, ("accept", "text/html"), *rid]),
            "any application": ("GET", "/api/v1/runtime/context", [*good, ("accept", "application/*"), *rid]),
            "query": ("GET", "/api/v1/runtime/context?format=json", good + rid),
            "head": ("HEAD", "/api/v1/runtime/context", good + rid),
            "no token": ("GET", "/api/v1/runtime/context", [*good[:2], *rid]),
            "bad token": ("GET", "/api/v1/runtime/context", [*good[:2], ("authorization", "Bearer abc.def.ghi"), *rid]),
            "api key": ("GET", "/api/v1/runtime/context", [*good[:2], ("authorization", "Api-Key nope"), *rid]),
            "chunked": ("GET", "/api/v1/runtime/context", [*good, ("transfer-encoding", "chunked"), *rid]),
            "trailing slash": ("GET", "/api/v1/runtime/context/", good + rid),
        }
        cases = {**lean, **full}

        def scopes_new() -> dict[str, dict]:  # a fallback marks its scope: each pass sends new ones
            return {name: _scope(*case) for name, case in cases.items()}

        scopes = scopes_new()

        # Which path each request takes, asked of the handler itself (in this thread).
        taken = {}
        for name, scope in scopes.items():
            answer = handler.respond(scope, io.BytesIO(b""), handler.lean_gets.route_for(scope))
            taken[name] = "lean" if isinstance(answer, LeanAnswer) else "full"
            if not isinstance(answer, LeanAnswer):
                answer.close()
        assert taken == {**dict.fromkeys(lean, "lean"), **dict.fromkeys(full, "full")}

        async def scenario():
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="cdp.access"):
                answered = {name: await _answer(handler, scope) for name, scope in scopes_new().items()}
                lean_log = _access_lines(caplog)
                caplog.clear()
                routes = handler.lean_gets.routes
                handler.lean_gets.routes = {}  # every request through Django's handler and middleware
                whole = {name: await _answer(handler, scope) for name, scope in scopes_new().items()}
                whole_log = _access_lines(caplog)
                handler.lean_gets.routes = routes
                fresh = await _answer(handler, _scope("GET", "/api/v1/runtime/context", good))
            await _view_threads_close(handler)
            return answered, whole, lean_log, whole_log, fresh

        answered, whole, lean_log, whole_log, fresh = async_to_sync(scenario)()

    statuses = {name: status for name, (status, _, _) in answered.items()}
    assert statuses == {
        **dict.fromkeys(lean, 200), "plain http": 301, "proxy says http": 301, "two proxy headers": 301,
        "underscore header": 301, "foreign host": 400, "no host": 400, "html": 406, "any application": 200,
        "query": 200, "head": 200, "no token": 401, "bad token": 401, "api key": 401, "chunked": 411,
        "trailing slash": 404,
    }  # fmt: skip
    for name in cases:  # every request sends the same X-Request-ID: the headers are equal too
        assert answered[name] == whole[name], name
    context = dict(answered["context"][1])
    assert context[b"x-request-id"] == b"step-7.a:b"
    assert context[b"strict-transport-security"] == b"max-age=3600; includeSubDomains"
    assert context[b"x-frame-options"] == b"DENY" and context[b"allow"] == b"GET, HEAD, OPTIONS"
    assert json.loads(answered["context"][2])["profile"]["attributes"] == {"tier": "gold"}
    assert dict(answered["https itself"][1])[b"strict-transport-security"] == b"max-age=3600; includeSubDomains"
    fresh_id = dict(fresh[1])[b"x-request-id"]
    assert fresh[0] == 200 and len(fresh_id) == 32 and fresh_id != b"step-7.a:b"
    assert lean_log == whole_log  # the same access log lines, routes and request ids
    assert ("GET /api/v1/runtime/context 200", "/api/v1/runtime/context", 200, "step-7.a:b") in lean_log


def _answers_counted() -> float:
    from prometheus_client import REGISTRY

    labels = {"method": "GET", "route": "/api/v1/runtime/context", "status": "2xx"}
    return REGISTRY.get_sample_value("cdp_http_request_duration_seconds_count", labels) or 0.0


@pytest.mark.django_db(transaction=True)
def test_a_lean_get_sends_the_request_signals_and_counts_once_and_a_refused_one_is_read_no_more_often(
    tenant, key_factory
):
    from django.core.signals import request_finished, request_started
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runtime.models import Campaign

    campaign_make(tenant)
    profile_make(tenant, {"EXTERNAL": "cust-42"}, {"tier": "gold"})
    sent: list[str] = []

    def started(**_: object) -> None:
        sent.append("started")

    def finished(**_: object) -> None:
        sent.append("finished")

    with override_settings(**PRODUCTION_LIKE):
        handler = StreamingASGIHandler()
        token = _token(handler, key_factory(tenant).plaintext)
        scope = _scope(
            "GET", "/api/v1/runtime/context", [("host", HOST), ("authorization", f"Bearer {token}")], "https"
        )
        route = handler.lean_gets.route_for(scope)
        request_started.connect(started)
        request_finished.connect(finished)
        try:
            counted = _answers_counted()
            answer = handler.respond(dict(scope), io.BytesIO(b""), route)
            assert isinstance(answer, LeanAnswer) and answer.status == 200
            assert sent == ["started", "finished"] and _answers_counted() == counted + 1
        finally:
            request_started.disconnect(started)
            request_finished.disconnect(finished)

        Campaign.objects.filter(tenant=tenant).update(active=False)  # the token's signature still holds
        request_started.connect(started)
        sent.clear()
        try:
            with CaptureQueriesContext(connection) as lean_first:
                refused = handler.respond(dict(scope), io.BytesIO(b""), route)
            refused.close()
        finally:
            request_started.disconnect(started)
        assert sent == ["started", "started"]  # the lean attempt's, then the full path's
        with CaptureQueriesContext(connection) as full_only:
            alone = handler.respond(dict(scope), io.BytesIO(b""), None)
        alone.close()
        async_to_sync(_view_threads_close)(handler)  # _token used them
    assert refused.status_code == alone.status_code == 401
    assert refused.content == alone.content
    # The web process's attempt stands in for the view's own: the same reads as the full path alone.
    assert len(lean_first.captured_queries) == len(full_only.captured_queries)


@pytest.mark.django_db
def test_the_runtime_gets_are_lean_routes_and_a_middleware_nobody_taught_it_turns_them_off():
    handler = StreamingASGIHandler()
    assert set(handler.lean_gets.routes) == {"/api/v1/runtime/context", "/api/v1/runtime/variables"}
    assert handler.lean_gets.disabled_by == []
    assert {route.route for route in handler.lean_gets.routes.values()} == set(handler.lean_gets.routes)
    machine = machine_middleware()
    prefixes = tuple(settings.CDP_MACHINE_PATH_PREFIXES)
    lean = LeanGets([*machine, "someone.middleware.AddsAHeader"], StreamingASGIHandler, prefixes)
    assert lean.disabled_by == ["someone.middleware.AddsAHeader"] and lean.routes == {}
    assert LeanGets(settings.MIDDLEWARE, StreamingASGIHandler, prefixes).routes == {}  # the session middlewares
    assert LeanGets(machine, StreamingASGIHandler, ("/v1/",)).routes == {}  # not under the machine chain
    for odd in ({"USE_X_FORWARDED_HOST": True}, {"FORCE_SCRIPT_NAME": "/cdp"}, {"DISALLOWED_USER_AGENTS": ["x"]}):
        with override_settings(**odd):
            assert LeanGets(machine, StreamingASGIHandler, prefixes).disabled_by == list(odd)
    with override_settings(SECURE_PROXY_SSL_HEADER=("SERVER_PORT", "443")):  # not a request header
        assert LeanGets(machine, StreamingASGIHandler, prefixes).disabled_by == ["SECURE_PROXY_SSL_HEADER"]
