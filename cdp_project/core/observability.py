"""Request ids, the access log and request latency.

Every response carries `X-Request-ID`: the caller's own (when it is 1-128 characters of
letters, digits and `._:-`), else a new one. The id is in every log record written while the
request is served (`request_id`), so one request's lines can be found across the JSON logs."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

from .metrics import HTTP_REQUEST_DURATION

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

access_log = logging.getLogger("cdp.access")


def current_request_id() -> str | None:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


@contextmanager
def request_id_bound(incoming: str) -> Iterator[str]:
    """The request's id (the caller's own `X-Request-ID` when valid, else a new one), in every
    log record written meanwhile."""
    request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def request_observed(method: str, path: str, route: str, status: int, elapsed: float) -> None:
    """Count one answer in the latency histogram and write its access log line."""
    label = method if method in _METHODS else "OTHER"
    HTTP_REQUEST_DURATION.labels(method=label, route=route, status=f"{status // 100}xx").observe(elapsed)
    access_log.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )


class RequestObservabilityMiddleware:
    """First in the chain, so that every answer (errors and 404s included) is counted, logged
    and carries its request id. (The web process's lean GETs, `cdp_project.lean_gets`, do the
    same with the same two functions.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_id_bound(request.META.get("HTTP_X_REQUEST_ID", "")) as request_id:
            started = time.perf_counter()
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            response[REQUEST_ID_HEADER] = request_id
            match = getattr(request, "resolver_match", None)
            route = "/" + match.route if match is not None and match.route else "unmatched"
            request_observed(request.method, request.path, route, response.status_code, elapsed)
            return response
