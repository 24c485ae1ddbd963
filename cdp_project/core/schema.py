"""OpenAPI pieces shared by every app's views: the RFC 9457 problem document."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

_FieldProblem = inline_serializer(
    name="FieldProblem",
    fields={
        "pointer": serializers.CharField(help_text="JSON Pointer into the request body"),
        "code": serializers.CharField(),
        "detail": serializers.CharField(),
    },
)

Problem = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(help_text="/problems/<code>"),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "code": serializers.CharField(help_text="stable, machine-readable"),
        "detail": serializers.CharField(required=False),
        "errors": serializers.ListField(child=_FieldProblem, required=False),
    },
)


def problem(description: str = "RFC 9457 problem details (application/problem+json)") -> OpenApiResponse:
    return OpenApiResponse(response=Problem, description=description)


def page_of(serializer_class: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """The OpenAPI shape of one page of a cursor-paginated list (`core.pagination`):
    `{"results": [...], "next": url | null}`."""
    return inline_serializer(
        name=name,
        fields={
            "results": serializer_class(many=True),
            "next": serializers.URLField(allow_null=True, help_text="the next page, or null on the last one"),
        },
    )


# Problems any operation can answer, whatever it declares itself (API.md "Conventions").
_COMMON_PROBLEMS = {
    "400": "The body is not JSON, not an object, or breaks a bound of the JSON itself",
    "401": "No or bad credential",
    "403": "The credential lacks the needed scope",
    "404": "No such object (another tenant's object answers the same)",
    "405": "Method not allowed",
    "411": "A chunked body this server cannot read: send a Content-Length",
    "413": "Body over the limit",
    "415": "Not application/json",
    "422": "The request is well-formed but invalid",
    "429": "Too many requests (Retry-After)",
    "503": "The database is unavailable or the request lost too many races (Retry-After)",
}
_BODYLESS = {"get", "delete", "head"}


def add_problem_responses(result: dict, generator: object, request: object, public: bool) -> dict:
    """drf-spectacular postprocessing hook: every operation lists the problems it can
    answer, each as `application/problem+json` (the media type the API really sends)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Problem",
        {
            "type": "object",
            "required": ["type", "title", "status", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "object"}},
            },
        },
    )
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = content
            for status, description in _COMMON_PROBLEMS.items():
                if method in _BODYLESS and status in ("411", "413", "415"):
                    continue
                responses.setdefault(status, {"description": description, "content": content})
    return result
