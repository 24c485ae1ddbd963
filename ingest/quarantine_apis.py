"""The quarantine API (scope admin): list refused items, find unregistered event types."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import FieldProblem, Problem
from cdp_project.core.pagination import CursorPage, paginate
from cdp_project.core.schema import problem
from cdp_project.core.timestamps import format_utc
from jobs.apis import JobSerializer, job_accepted
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import quarantine, quarantine_selectors
from .models import RecordKind

PROBLEM = problem()
_PAGE_PARAMETERS = ("cursor", "limit")
_FILTER_PARAMETERS = [
    OpenApiParameter("source", str, description="The source key as sent."),
    OpenApiParameter("eventType", str, description="The event type as sent."),
    OpenApiParameter("code", str, enum=list(quarantine.FILTER_CODES), description="The problem code."),
    OpenApiParameter("kind", str, enum=list(RecordKind.values)),
]
_PAGE_QUERY = [
    OpenApiParameter("cursor", str, description="The `next` link's cursor."),
    OpenApiParameter("limit", int, description="Page size, at most 1000 (default 100)."),
]


class _Problem(serializers.Serializer):
    pointer = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class RejectionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=RecordKind.values)
    source = serializers.CharField(source="source_key")
    externalEventId = serializers.CharField(source="external_event_id")
    eventType = serializers.SerializerMethodField()
    receivedAt = serializers.SerializerMethodField()
    code = serializers.CharField(help_text="The problem code of the latest refusal.")
    errors = _Problem(many=True)
    payload = serializers.JSONField(help_text="The item exactly as sent.")

    def get_eventType(self, obj: Any) -> str | None:  # noqa: N802
        return obj.event_type or None

    def get_receivedAt(self, obj: Any) -> str:  # noqa: N802
        return format_utc(obj.received_at)


RejectionPage = inline_serializer(
    name="RejectionPage",
    fields={"results": RejectionOutput(many=True), "next": serializers.URLField(allow_null=True)},
)


class RejectionListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="rejections_list",
        parameters=[*_FILTER_PARAMETERS, *_PAGE_QUERY],
        responses={200: RejectionPage, 400: PROBLEM, 422: PROBLEM},
        tags=["quarantine"],
        description="Items refused with a 422-class problem, kept whole for replay; newest first.",
    )
    def get(self, request: Request) -> Response:
        chosen = quarantine.rejection_filter_parse(request.query_params.dict(), ignore=_PAGE_PARAMETERS)
        rows = quarantine.quarantine_queryset(tenant=self.tenant, filter=chosen)
        return paginate(request, self, rows, RejectionOutput, ordering="-received_at")


class ReplayInput(serializers.Serializer):
    filter = inline_serializer(
        name="RejectionFilter",
        fields={
            "source": serializers.CharField(required=False),
            "eventType": serializers.CharField(required=False),
            "code": serializers.ChoiceField(choices=list(quarantine.FILTER_CODES), required=False),
            "kind": serializers.ChoiceField(choices=list(RecordKind.values), required=False),
        },
        required=False,
    )
    dryRun = serializers.BooleanField(required=False, default=False, help_text="Count outcomes, change nothing.")


class RejectionReplayApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="rejections_replay",
        request=ReplayInput,
        responses={202: JobSerializer, 400: PROBLEM, 422: PROBLEM},
        tags=["quarantine"],
        description=(
            "Replay the matching quarantined items through ingest, with their original keys, as a job on the "
            "worker. The job's result.summary counts accepted, duplicate, rejected, conflict and suppressed."
        ),
    )
    def post(self, request: Request) -> Response:
        body = self.json_object(request)
        problems = [
            FieldProblem(f"/{name}", "undeclared", f"unknown field {str(name)[:60]!r}")
            for name in body
            if name not in ("filter", "dryRun")
        ]
        dry_run = body.get("dryRun", False)
        if not isinstance(dry_run, bool):
            problems.append(FieldProblem("/dryRun", "type", "dryRun must be a boolean"))
        if problems:
            raise Problem.INVALID_REPLAY_REQUEST.error("The replay request is malformed.", problems)
        chosen = quarantine.rejection_filter_parse(body.get("filter"), at="/filter")
        job = quarantine.rejections_replay_enqueue(tenant=self.tenant, filter=chosen, dry_run=dry_run)
        return job_accepted(job)


class _PropertyOutput(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="The suggested contract type.")
    types = serializers.ListField(child=serializers.CharField(), help_text="Every JSON type seen.")
    seen = serializers.IntegerField(help_text="In how many of the sampled items it is present (not null).")
    required = serializers.BooleanField(help_text="Present in every sampled item.")


class DiscoveredOutput(serializers.Serializer):
    eventType = serializers.CharField(source="event_type")
    count = serializers.IntegerField()
    sources = serializers.ListField(child=serializers.CharField())
    firstSeenAt = serializers.SerializerMethodField()
    lastSeenAt = serializers.SerializerMethodField()
    sampled = serializers.IntegerField(help_text="How many of the newest items the properties were inferred from.")
    properties = _PropertyOutput(many=True)

    def get_firstSeenAt(self, obj: Any) -> str:  # noqa: N802
        return format_utc(obj.first_seen_at)

    def get_lastSeenAt(self, obj: Any) -> str:  # noqa: N802
        return format_utc(obj.last_seen_at)


DiscoveredPage = inline_serializer(
    name="DiscoveredEventTypePage",
    fields={"results": DiscoveredOutput(many=True), "next": serializers.URLField(allow_null=True)},
)


class RejectionDiscoveredApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="rejections_discovered",
        parameters=[OpenApiParameter("source", str, description="Only items of this source."), *_PAGE_QUERY],
        responses={200: DiscoveredPage, 400: PROBLEM, 422: PROBLEM},
        tags=["quarantine"],
        description=(
            "Event types that are not registered but were sent (and quarantined), by name, with counts, "
            "sources and the property types inferred from the newest items."
        ),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params.dict()
        chosen = quarantine.rejection_filter_parse(params, ignore=_PAGE_PARAMETERS, allowed=("source",))
        page = CursorPage(ordering="event_type")
        names = page.paginate_queryset(
            quarantine_selectors.discovered_queryset(tenant=self.tenant, source=chosen.source), request, view=self
        )
        found = quarantine_selectors.discovered_describe(tenant=self.tenant, rows=names, source=chosen.source)
        return page.get_paginated_response(DiscoveredOutput(found, many=True).data)
