"""Refuse API requests whose path or query string holds characters no database column
can store, before any view runs (DESIGN.md §10). PostgreSQL rejects NUL in text, so a
lookup by such a key would otherwise end in a 500."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from .errors import Problem, ProblemError
from .parsers import read_bounded
from .problems import (
    INTERNAL_ERROR_DETAIL,
    PROBLEM_CONTENT_TYPE,
    error_response,
    is_api_path,
    problem_response,
    unavailable_response,
)
from .text import unstorable_reason

logger = logging.getLogger(__name__)


def _unstorable(text: str) -> bool:
    return unstorable_reason(text) is not None


class RefuseUnstorableInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path):
            where = None
            if _unstorable(request.path):
                where = "the path"
            else:
                for key, values in request.GET.lists():
                    if _unstorable(key) or any(_unstorable(value) for value in values):
                        where = f"the query parameter {key!r}"
                        break
            if where is not None:
                return problem_response(
                    Problem.INVALID_CHARACTERS, f"{where.capitalize()} contains a NUL character or a lone surrogate."
                )
        return self.get_response(request)


class ChunkedBodyMiddleware:
    """A body sent with `Transfer-Encoding: chunked` has no Content-Length, and Django
    reads such a body as empty. Where the server has already decoded the chunks and says
    the input ends (`wsgi.input_terminated`, as gunicorn does), the body is read here,
    bounded by CDP_MAX_BODY_BYTES like any other; otherwise (e.g. `runserver`) the request
    is refused with 411, so it is never mistaken for an empty body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if "chunked" in encoding and is_api_path(request.path):
            refused = self._read(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def _read(request: HttpRequest) -> HttpResponse | None:
        if not request.META.get("wsgi.input_terminated") or "wsgi.input" not in request.META:
            response = problem_response(
                Problem.LENGTH_REQUIRED,
                "This server does not read chunked request bodies: send the body with a Content-Length.",
            )
            response["Connection"] = "close"  # the unread chunks must not be taken for the next request
            return response
        try:
            raw = read_bounded(request.META["wsgi.input"], None, settings.CDP_MAX_BODY_BYTES)
        except ProblemError as error:
            return error_response(error)  # read_bounded: 413 payload_too_large
        # From here on the request is one with a known length, read from memory.
        request.META["CONTENT_LENGTH"] = str(len(raw))
        request._stream = io.BytesIO(raw)  # noqa: SLF001 - HttpRequest reads its body from _stream
        return None


_PROBLEMS = {
    problem.status: problem
    for problem in (
        Problem.BAD_REQUEST,
        Problem.PERMISSION_DENIED,
        Problem.NOT_FOUND,
        Problem.METHOD_NOT_ALLOWED,
        Problem.LENGTH_REQUIRED,
        Problem.PAYLOAD_TOO_LARGE,
        Problem.URI_TOO_LONG,
        Problem.HEADERS_TOO_LARGE,
        Problem.INTERNAL_ERROR,
        Problem.SERVICE_UNAVAILABLE,
    )
}
_DETAILS = {
    404: "No API resource at {path}.",
    500: INTERNAL_ERROR_DETAIL,
}
_KEPT_HEADERS = ("Retry-After", "Allow", "WWW-Authenticate", "Connection")


class ProblemResponsesMiddleware:
    """The outermost layer: under `/api/` and `/v1/` every error leaves as an RFC 9457
    problem document, DEBUG or not. Whatever answered with another body (Django's debug
    404 and 500 pages, the 400 of a disallowed Host header, an error page of a
    middleware) is replaced by a problem with the same status; a database that cannot be
    reached is a 503 with Retry-After (`problems.handler500` says the same when DEBUG is off)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        if response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
            return response
        status = response.status_code
        known = _PROBLEMS.get(status)
        code, title = (known.code, known.title) if known else (f"http_{status}", response.reason_phrase or "Error")
        detail = _DETAILS.get(status, f"The request was refused ({status} {response.reason_phrase}).")
        problem = error_response(
            ProblemError(code=code, title=title, status=status, detail=detail.format(path=request.path))
        )
        for name in _KEPT_HEADERS:
            if name in response:
                problem[name] = response[name]
        return problem

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_api_path(request.path) and isinstance(exception, OperationalError | InterfaceError):
            logger.warning("database unavailable: %s", exception)
            return unavailable_response()
        return None
