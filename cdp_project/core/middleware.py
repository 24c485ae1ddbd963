"""Refuse API requests whose path or query string holds characters no database column
can store, before any view runs (DESIGN.md §10). PostgreSQL rejects NUL in text, so a
lookup by such a key would otherwise end in a 500."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .problems import problem_response


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RefuseUnstorableInputMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
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
                    code="invalid_characters",
                    title="Bad request",
                    status=400,
                    detail=f"{where.capitalize()} contains a NUL character or a lone surrogate.",
                )
        return self.get_response(request)
