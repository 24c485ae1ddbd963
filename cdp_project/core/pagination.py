"""Cursor pagination with the API's list shape: {"results": [...], "next": url | null}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response

from .errors import FieldProblem, Problem


def _invalid_cursor(detail: str) -> Exception:
    return Problem.INVALID_CURSOR.error(
        "The cursor is not one this list handed out; start again without it.",
        [FieldProblem("", "invalid_cursor", detail)],
    )


class CursorPage(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000

    def __init__(self, ordering: str = "pk") -> None:
        self.ordering = ordering

    def decode_cursor(self, request: Any) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor("the cursor does not decode") from None
        if cursor is not None and cursor.position is not None and "\x00" in cursor.position:
            raise _invalid_cursor("the cursor position holds a NUL character")
        return cursor

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> list[Any] | None:
        self._check_position(queryset, request)
        return super().paginate_queryset(queryset, request, view)

    def _check_position(self, queryset: Any, request: Any) -> None:
        """A crafted cursor's position goes into a WHERE clause: it must be a value of the
        ordering field, or the database would fail on it."""
        cursor = self.decode_cursor(request)
        if cursor is None or cursor.position is None:
            return
        name = self.ordering.lstrip("-") if isinstance(self.ordering, str) else self.ordering[0].lstrip("-")
        try:
            field = queryset.model._meta.get_field("id" if name == "pk" else name)
        except FieldDoesNotExist:
            return
        try:
            value = field.to_python(cursor.position)
            field.get_prep_value(value)
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise _invalid_cursor("the cursor position is not a value of this list's ordering") from None

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "nullable": True, "format": "uri"}},
        }


def paginate(request: Any, view: Any, queryset: Any, serializer_class: Any, *, ordering: str = "pk") -> Response:
    page = CursorPage(ordering=ordering)
    items = page.paginate_queryset(queryset, request, view=view)
    return page.get_paginated_response(serializer_class(items, many=True).data)
