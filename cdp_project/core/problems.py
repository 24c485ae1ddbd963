"""RFC 9457 problem details: the one place that turns errors into responses."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .errors import FieldProblem, Problem, ProblemError, escape_pointer_token, problems_detail

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# DRF's exceptions as problems of the catalogue (the status stays DRF's: a NotAuthenticated
# without a WWW-Authenticate challenge is a 403).
_DRF_PROBLEMS: dict[type[Exception], Problem] = {
    drf_exceptions.ParseError: Problem.MALFORMED_REQUEST,
    drf_exceptions.NotAuthenticated: Problem.NOT_AUTHENTICATED,
    drf_exceptions.AuthenticationFailed: Problem.AUTHENTICATION_FAILED,
    drf_exceptions.PermissionDenied: Problem.PERMISSION_DENIED,
    drf_exceptions.NotFound: Problem.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: Problem.METHOD_NOT_ALLOWED,
    drf_exceptions.NotAcceptable: Problem.NOT_ACCEPTABLE,
    drf_exceptions.UnsupportedMediaType: Problem.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.Throttled: Problem.THROTTLED,
}


def problem_body(
    *, code: str, title: str, status: int, detail: str = "", errors: Sequence[FieldProblem] = ()
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [error.as_dict() for error in errors]
    return body


def _validation_problems(detail: Any, path: tuple[str, ...] = ()) -> list[FieldProblem]:
    """Flatten DRF's nested ValidationError detail into pointer-addressed problems."""
    if isinstance(detail, Mapping):
        problems: list[FieldProblem] = []
        for key, value in detail.items():
            sub_path = path if key == "non_field_errors" else (*path, escape_pointer_token(key))
            problems.extend(_validation_problems(value, sub_path))
        return problems
    if isinstance(detail, list):
        if all(isinstance(item, drf_exceptions.ErrorDetail | str) for item in detail):
            return [_field_problem(item, path) for item in detail]
        problems = []
        for index, item in enumerate(detail):
            if item:
                problems.extend(_validation_problems(item, (*path, str(index))))
        return problems
    return [_field_problem(detail, path)]


def _field_problem(item: Any, path: tuple[str, ...]) -> FieldProblem:
    code = getattr(item, "code", None) or "invalid"
    return FieldProblem(pointer="".join("/" + token for token in path), code=str(code), detail=str(item))


def problem_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every API error leaves as application/problem+json."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    if isinstance(exc, ProblemError):
        body = problem_body(code=exc.code, title=exc.title, status=exc.status, detail=exc.detail, errors=exc.errors)
        status = exc.status
        headers.update(exc.headers)
    elif isinstance(exc, drf_exceptions.ValidationError):
        # Serializers declare the public camelCase names, so field names are pointer tokens as they are.
        errors = _validation_problems(exc.detail)
        problem = Problem.VALIDATION_ERROR
        detail = problems_detail(len(errors), "the request body")
        body = problem_body(code=problem.code, title=problem.title, status=problem.status, detail=detail, errors=errors)
        status = problem.status
    elif isinstance(exc, drf_exceptions.APIException):
        code, title = next(
            ((p.code, p.title) for cls, p in _DRF_PROBLEMS.items() if isinstance(exc, cls)),
            (str(exc.default_code), "Request failed"),
        )
        status = exc.status_code
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            auth_header = getattr(exc, "auth_header", None)
            if auth_header:
                headers["WWW-Authenticate"] = auth_header
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        body = problem_body(code=code, title=title, status=status, detail=str(exc.detail))
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        body, status, unavailable_headers = _unavailable()
        headers.update(unavailable_headers)
    else:
        return None  # not ours: Django's handler500 answers with a bare problem and logs it

    set_rollback()
    response = Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    return response


# How long a client is asked to wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 5


def _unavailable() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The answer to a request the database could not serve (it is down, restarting or
    dropped the connection): 503 with Retry-After, never 500. Nothing was applied: the
    transaction, if any, did not commit, so a retry with the same ids is safe."""
    problem = Problem.DATABASE_UNAVAILABLE
    body = problem_body(
        code=problem.code,
        title=problem.title,
        status=problem.status,
        detail="The database is unavailable; nothing was applied. Retry later with the same ids.",
    )
    return body, problem.status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def unavailable_response() -> JsonResponse:
    body, status, headers = _unavailable()
    return JsonResponse(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def error_response(error: ProblemError) -> JsonResponse:
    """A problem answered outside DRF (middleware, Django's handlers), with its headers."""
    body = problem_body(
        code=error.code, title=error.title, status=error.status, detail=error.detail, errors=error.errors
    )
    return JsonResponse(body, status=error.status, headers=error.headers, content_type=PROBLEM_CONTENT_TYPE)


def problem_response(problem: Problem, detail: str = "", errors: Sequence[FieldProblem] = ()) -> JsonResponse:
    return error_response(problem.error(detail, errors))


INTERNAL_ERROR_DETAIL = "The server failed to handle the request; nothing was leaked. Retry later."

# Paths where every error is a problem document: the API and the compatible ingress.
API_PREFIXES = ("/api/", "/v1/")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _is_api(request: HttpRequest) -> bool:
    return is_api_path(request.path)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(Problem.NOT_FOUND, f"No API resource at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    # Django has already logged the exception with its traceback; the client gets none of it.
    # It calls this handler while handling the exception, so sys.exc_info() names it.
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        if not _is_api(request):
            body, status, headers = _unavailable()
            return HttpResponse(body["detail"], status=status, headers=headers, content_type="text/plain")
        return unavailable_response()
    if _is_api(request):
        return problem_response(Problem.INTERNAL_ERROR, INTERNAL_ERROR_DETAIL)
    from django.views.defaults import server_error

    return server_error(request)
