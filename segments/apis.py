"""Segments API (scope admin): saved definitions, their members, channel-aware exports.

A segment body is parsed and documented by one definition (`serializers`), checked by
`services.segment_spec_parse` (422 with a pointer per problem)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import Problem
from cdp_project.core.pagination import paginate
from cdp_project.core.schema import page_of, problem
from channels.types import CHANNELS
from jobs.apis import JobSerializer, job_accepted
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import export_jobs, exports, selectors, services
from .serializers import SegmentReplaceSerializer, SegmentSerializer

TAGS = ["segments"]
BACKFILLING = problem(
    "derived_backfilling: a derived attribute it reads is still being computed (the answer would be incomplete)"
)


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
            422: problem(
                "invalid_export (with pointers), segment_invalid, or export_too_large: more rows than "
                "CDP_EXPORT_STREAM_MAX_ROWS (POST .../exports runs it as a job)"
            ),
        },
        tags=TAGS,
        description=(
            "Streams one row per member ready on the channel. Up to CDP_EXPORT_STREAM_MAX_ROWS rows (100,000 by "
            "default); a larger export answers 422 export_too_large: run it as a job with POST "
            "/api/v1/segments/{key}/exports."
        ),
    )
    def get(self, request: Request, key: str) -> StreamingHttpResponse:
        segment = selectors.segment_get(tenant_id=self.tenant.pk, key=key)
        spec = exports.export_spec_parse(tenant_id=self.tenant.pk, params=request.query_params.dict())
        limit = settings.CDP_EXPORT_STREAM_MAX_ROWS
        if exports.export_row_count(segment=segment, spec=spec, up_to=limit + 1) > limit:
            raise Problem.EXPORT_TOO_LARGE.error(
                f"This export has more than {limit:,} rows, too many to stream in one request: "
                f"POST /api/v1/segments/{segment.key}/exports with the same channel, format and attributes "
                "runs it as a job, whose result links the file.",
            )
        chunks = exports.export_stream(chunks=exports.export_chunks(segment=segment, spec=spec), spec=spec)
        response = StreamingHttpResponse(chunks, content_type=exports.CONTENT_TYPES[spec.format])
        response["Content-Disposition"] = f'attachment; filename="{segment.key}-{spec.channel.lower()}.{spec.format}"'
        return response


class ExportRequestSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=list(CHANNELS))
    format = serializers.ChoiceField(
        choices=list(exports.FORMATS), required=False, help_text="csv (default) or ndjson."
    )
    attributes = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Attribute or derived-attribute names, in order."
    )


class SegmentExportJobApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="segments_export_job",
        request=ExportRequestSerializer,
        responses={
            202: OpenApiResponse(JobSerializer, description="The queued export job (Location: /api/v1/jobs/{id})."),
            409: BACKFILLING,
            422: problem("invalid_export (with pointers) or segment_invalid"),
        },
        tags=TAGS,
        description=(
            "Export the segment as a job on the worker, any size: the same rows and bytes as GET .../export. "
            "Answers 202 with the job (Location: /api/v1/jobs/{id}); once it has succeeded, its result.url "
            "(GET /api/v1/exports/{id}/download) serves the file."
        ),
    )
    def post(self, request: Request, key: str) -> Response:
        segment = selectors.segment_get(tenant_id=self.tenant.pk, key=key)
        spec = exports.export_spec_from_body(tenant_id=self.tenant.pk, body=self.json_object(request))
        job = export_jobs.segment_export_enqueue(tenant=self.tenant, segment=segment, spec=spec)
        return job_accepted(job)


class ExportDownloadApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # The body is the file (CSV or NDJSON); problems still render as JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="exports_download",
        parameters=[OpenApiParameter("job_id", str, OpenApiParameter.PATH, description="The export job's id.")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The finished export."),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="The finished export."),
            409: problem("export_not_ready (the job is queued or running) or export_failed"),
            410: problem("export_gone: the file was removed from CDP_EXPORT_DIR"),
        },
        tags=TAGS,
        description="The file of a finished export job (its id is the job's). Another tenant's answers 404.",
    )
    def get(self, request: Request, job_id: str) -> FileResponse:
        job, path = export_jobs.export_job_file(tenant_id=self.tenant.pk, job_id=job_id)
        response = FileResponse(path.open("rb"), as_attachment=True, filename=export_jobs.export_filename(job=job))
        response["Content-Type"] = exports.CONTENT_TYPES[job.params["format"]]
        return response
