"""Cursor pagination with the API's list shape: {"results": [...], "next": url | null}."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response


class CursorPage(CursorPagination):
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000

    def __init__(self, ordering: str = "pk") -> None:
        self.ordering = ordering

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
