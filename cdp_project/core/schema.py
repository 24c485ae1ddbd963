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
