"""Segments API (scope admin): saved definitions, their members, channel-aware exports.

Bodies are parsed and checked by `services.segment_spec_parse` (422 with a pointer per
problem); the serializers below describe the shapes for OpenAPI and render the output."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.pagination import paginate
from cdp_project.core.schema import page_of, problem
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import exports, selectors, services

TAGS = ["segments"]
BACKFILLING = problem(
    "derived_backfilling: a derived attribute it reads is still being computed (the answer would be incomplete)"
)


class SegmentSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    definition = serializers.JSONField(help_text="Conditions: all/any/not, attribute, derived, event, channel.")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)


class SegmentReplaceSerializer(SegmentSerializer):
    key = serializers.CharField(max_length=100, required=False, help_text="If given, must be the key in the URL.")


class SegmentListSerializer(serializers.Serializer):
    results = SegmentSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class MemberSerializer(serializers.Serializer):
    profileId = serializers.UUIDField(source="pk")


class SegmentListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="segments_list", responses=SegmentListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        queryset = selectors.segment_queryset(tenant_id=self.tenant.pk)
        return paginate(request, self, queryset, SegmentSerializer, ordering="key")

    @extend_schema(
        operation_id="segments_create", request=SegmentSerializer, responses={201: SegmentSerializer}, tags=TAGS
    )
    def post(self, request: Request) -> Response:
        spec = services.segment_spec_parse(tenant_id=self.tenant.pk, body=self.json_object(request))
        segment = services.segment_create(tenant_id=self.tenant.pk, spec=spec)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="segments_get", responses=SegmentSerializer, tags=TAGS)
    def get(self, request: Request, key: str) -> Response:
        return Response(SegmentSerializer(selectors.segment_get(tenant_id=self.tenant.pk, key=key)).data)

    @extend_schema(
        operation_id="segments_replace", request=SegmentReplaceSerializer, responses=SegmentSerializer, tags=TAGS
    )
    def put(self, request: Request, key: str) -> Response:
        segment = selectors.segment_get(tenant_id=self.tenant.pk, key=key)
        spec = services.segment_spec_parse(tenant_id=self.tenant.pk, body=self.json_object(request), key=key)
        segment = services.segment_update(segment=segment, spec=spec)
        return Response(SegmentSerializer(segment).data)


class SegmentMembersApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="segments_members",
        parameters=[OpenApiParameter("limit", int, description="Page size (at most 1000).")],
        responses={200: page_of(MemberSerializer, "MemberPage"), 409: BACKFILLING},
        tags=TAGS,
    )
    def get(self, request: Request, key: str) -> Response:
        segment = selectors.segment_get(tenant_id=self.tenant.pk, key=key)
        return paginate(request, self, selectors.segment_members(segment=segment), MemberSerializer, ordering="pk")


class SegmentExportApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The body is CSV or NDJSON, chosen by ?format=; problems still render as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="segments_export",
        parameters=[
            OpenApiParameter("channel", str, required=True, enum=["EMAIL", "SMS", "PUSH", "WHATSAPP"]),
            OpenApiParameter("format", str, enum=list(exports.FORMATS), description="csv (default) or ndjson."),
            OpenApiParameter("attributes", str, description="Comma-separated attribute or derived-attribute names."),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="profileId, address, the attributes."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One JSON object a line."),
            409: BACKFILLING,
        },
        tags=TAGS,
    )
    def get(self, request: Request, key: str) -> StreamingHttpResponse:
        segment = selectors.segment_get(tenant_id=self.tenant.pk, key=key)
        spec = exports.export_spec_parse(tenant_id=self.tenant.pk, params=request.query_params.dict())
        rows = exports.export_rows(segment=segment, spec=spec)
        chunks = exports.export_stream(chunks=exports.export_encode(rows=rows, spec=spec), spec=spec)
        response = StreamingHttpResponse(chunks, content_type=exports.CONTENT_TYPES[spec.format])
        response["Content-Disposition"] = f'attachment; filename="{segment.key}-{spec.channel.lower()}.{spec.format}"'
        return response
