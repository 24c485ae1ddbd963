"""RFC 9457 problem details: the one place that turns errors into responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .errors import FieldProblem, ProblemError, escape_pointer_token

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

_DRF_CODES: dict[type[Exception], tuple[str, str]] = {
    drf_exceptions.ParseError: ("malformed_request", "Malformed request"),
    drf_exceptions.NotAuthenticated: ("not_authenticated", "Authentication required"),
    drf_exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    drf_exceptions.PermissionDenied: ("permission_denied", "Permission denied"),
    drf_exceptions.NotFound: ("not_found", "Not found"),
    drf_exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    drf_exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    drf_exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    drf_exceptions.Throttled: ("throttled", "Too many requests"),
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
        count = len(errors)
        body = problem_body(
            code="validation_error",
            title="Invalid request",
            status=422,
            detail=f"{count} problem{'s' if count != 1 else ''} in the request body",
            errors=errors,
        )
        status = 422
    elif isinstance(exc, drf_exceptions.APIException):
        code, title = next(
            ((c, t) for cls, (c, t) in _DRF_CODES.items() if isinstance(exc, cls)),
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
    else:
        return None  # not ours: Django's handler500 answers with a bare problem and logs it

    set_rollback()
    response = Response(body, status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    return response


def problem_response(*, code: str, title: str, status: int, detail: str = "") -> JsonResponse:
    return JsonResponse(
        problem_body(code=code, title=title, status=status, detail=detail),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))  # /v1/: the Segment-compatible ingress


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(
            code="not_found", title="Not found", status=404, detail=f"No API resource at {request.path}."
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    # Django has already logged the exception with its traceback; the client gets none of it.
    if _is_api(request):
        return problem_response(
            code="internal_error",
            title="Internal server error",
            status=500,
            detail="The server failed to handle the request; nothing was leaked. Retry later.",
        )
    from django.views.defaults import server_error

    return server_error(request)
