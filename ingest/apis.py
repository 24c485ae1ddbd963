"""Ingest API (scope ingest), sources API and profile events (scope admin)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import FieldProblem, Problem, ProblemError, not_found
from cdp_project.core.pagination import paginate
from cdp_project.core.schema import page_of, problem
from cdp_project.core.timestamps import format_utc
from profiles.selectors import profile_get_live
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope, HasIngestScope

from . import selectors, services
from .models import KEY_PATTERN
from .serializers import (
    BatchInput,
    ChannelUpdateBatchInput,
    ChannelUpdateInput,
    EventInput,
    ProfileUpdateBatchInput,
    ProfileUpdateInput,
)
from .types import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, SUPPRESSED, ItemResult

# The outcomes a batch summary always counts, in this order; `suppressed` is added when an item was.
OUTCOMES = (ACCEPTED, DUPLICATE, REJECTED, CONFLICT)

# --- schema-only serializers -------------------------------------------------------------


class ResolutionOutput(serializers.Serializer):
    matchedBy = serializers.CharField(allow_null=True)
    createdProfile = serializers.BooleanField()
    mergedProfiles = serializers.ListField(child=serializers.UUIDField())
    attached = serializers.ListField(child=serializers.CharField())
    conflicts = serializers.ListField(child=serializers.DictField())
    ignored = serializers.ListField(child=serializers.DictField())


class AcceptedOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE, SUPPRESSED])
    eventId = serializers.UUIDField(required=False, help_text="Absent when suppressed.")
    profileId = serializers.UUIDField(required=False, allow_null=True, help_text="Absent when suppressed.")
    resolution = ResolutionOutput(allow_null=True, required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class ValidateOutput(serializers.Serializer):
    status = serializers.CharField()
    outcome = serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE, CONFLICT, SUPPRESSED])
    resolution = ResolutionOutput(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class BatchItemOutput(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[ACCEPTED, DUPLICATE, REJECTED, CONFLICT, SUPPRESSED])
    eventId = serializers.UUIDField(allow_null=True)
    profileId = serializers.UUIDField(allow_null=True)
    code = serializers.CharField(required=False)
    errors = serializers.ListField(child=serializers.DictField())
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class BatchSummary(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    conflict = serializers.IntegerField()
    suppressed = serializers.IntegerField(required=False, help_text="Present when an item was suppressed.")


class BatchOutput(serializers.Serializer):
    results = BatchItemOutput(many=True)
    summary = BatchSummary()


PROBLEM = problem()
_EXAMPLE_EVENT = {
    "source": "shop-backend",
    "externalEventId": "order-10001-completed",
    "eventType": "order_completed",
    "occurredAt": "2026-11-20T10:15:00+01:00",
    "identity": {"EXTERNAL": "cust-42", "EMAIL": " Ann@Example.com "},
    "properties": {"orderId": "10001", "total": 99.5, "currency": "EUR"},
}

# --- mapping results to responses ---------------------------------------------------------


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _single_response(result: ItemResult) -> Response:
    if result.status == SUPPRESSED:
        return Response({"status": SUPPRESSED}, status=status.HTTP_200_OK)
    if result.status in (ACCEPTED, DUPLICATE):
        body: dict[str, Any] = {
            "status": result.status,
            "eventId": _id(result.record_id),
            "profileId": _id(result.profile_id),
            "resolution": result.resolution,
        }
        if result.warnings:
            body["warnings"] = list(result.warnings)
        return Response(body, status=status.HTTP_201_CREATED if result.status == ACCEPTED else status.HTTP_200_OK)
    raise _problem(result)


def _problem(result: ItemResult) -> ProblemError:
    problem = result.error or Problem.VALIDATION_ERROR
    if problem is Problem.PAYLOAD_TOO_LARGE:
        return problem.error(result.problems[0].detail, result.problems)
    return problem.error(result.detail, result.problems)


def _batch_item(result: ItemResult) -> dict[str, Any]:
    item: dict[str, Any] = {
        "index": result.index,
        "status": result.status,
        "eventId": _id(result.record_id) if result.status not in (REJECTED, SUPPRESSED) else None,
        "profileId": _id(result.profile_id),
        "errors": [p.as_dict() for p in result.problems],
    }
    if result.code:
        item["code"] = result.code
        if result.status == CONFLICT:
            item["errors"] = [{"pointer": "/externalEventId", "code": result.code, "detail": result.detail}]
    if result.warnings:
        item["warnings"] = list(result.warnings)
    return item


# --- views --------------------------------------------------------------------------------


class EventIngestApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="events_ingest",
        request=EventInput,
        responses={201: AcceptedOutput, 200: AcceptedOutput, 400: PROBLEM, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        examples=[OpenApiExample("order completed", value=_EXAMPLE_EVENT, request_only=True)],
        tags=["ingest"],
        description="Ingest one event, idempotently on (source, externalEventId).",
    )
    def post(self, request: Request) -> Response:
        (result,) = services.events_ingest(tenant=self.tenant, events=[self.json_object(request)])
        return _single_response(result)


def batch_items(body: dict[str, Any], field: str, noun: str) -> list[Any]:
    """The items of a batch body `{field: [...]}` within CDP_MAX_BATCH_EVENTS, or a 413/422 problem."""
    items = body.get(field)
    extra = sorted(set(body) - {field})
    if not isinstance(items, list) or extra:
        problems = [FieldProblem(f"/{name}", "undeclared", f"unknown field {name!r}") for name in extra]
        if not isinstance(items, list):
            problems.insert(0, FieldProblem(f"/{field}", "required", f"{field} must be an array of {noun}"))
        raise Problem.VALIDATION_ERROR.error("The batch is malformed.", problems)
    limit = settings.CDP_MAX_BATCH_EVENTS
    if len(items) > limit:
        raise Problem.BATCH_TOO_LARGE.error(
            f"The batch holds {len(items)} {noun}; at most {limit} are accepted per request.",
        )
    if not items:
        raise Problem.VALIDATION_ERROR.error(
            "The batch is empty.",
            [FieldProblem(f"/{field}", "required", f"at least one item in {field}")],
        )
    return items


def _batch_response(results: list[ItemResult]) -> Response:
    summary = Counter(result.status for result in results)
    return Response(
        {
            "results": [_batch_item(result) for result in results],
            "summary": {name: summary.get(name, 0) for name in OUTCOMES}
            | ({SUPPRESSED: summary[SUPPRESSED]} if summary.get(SUPPRESSED) else {}),
        }
    )


class EventBatchApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="events_ingest_batch",
        request=BatchInput,
        responses={200: BatchOutput, 400: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description="Ingest up to CDP_MAX_BATCH_EVENTS events, applied in array order; items are independent.",
    )
    def post(self, request: Request) -> Response:
        events = batch_items(self.json_object(request), "events", "events")
        return _batch_response(services.events_ingest(tenant=self.tenant, events=events))


class ProfileUpdateBatchApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="profile_updates_ingest_batch",
        request=ProfileUpdateBatchInput,
        responses={200: BatchOutput, 400: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description=(
            "Ingest up to CDP_MAX_BATCH_EVENTS profile updates, applied in array order; items are independent. "
            "The result body is the one of /events/batch (eventId is the id of the stored update)."
        ),
    )
    def post(self, request: Request) -> Response:
        updates = batch_items(self.json_object(request), "updates", "updates")
        return _batch_response(services.profile_updates_ingest(tenant=self.tenant, updates=updates))


class ChannelUpdateBatchApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="channel_updates_ingest_batch",
        request=ChannelUpdateBatchInput,
        responses={200: BatchOutput, 400: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description=(
            "Ingest up to CDP_MAX_BATCH_EVENTS channel updates, applied in array order; items are independent. "
            "The result body is the one of /events/batch (eventId is the id of the stored update)."
        ),
    )
    def post(self, request: Request) -> Response:
        updates = batch_items(self.json_object(request), "updates", "updates")
        return _batch_response(services.channel_updates_ingest(tenant=self.tenant, updates=updates))


class EventValidateApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="events_validate",
        request=EventInput,
        responses={200: ValidateOutput, 400: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description="Every check and the identity resolution as a dry run: nothing is written.",
    )
    def post(self, request: Request) -> Response:
        (result,) = services.events_ingest(tenant=self.tenant, events=[self.json_object(request)], dry_run=True)
        if result.status == REJECTED:
            raise _problem(result)
        body: dict[str, Any] = {"status": "valid", "outcome": result.status, "resolution": result.resolution}
        if result.warnings:
            body["warnings"] = list(result.warnings)
        return Response(body)


class ProfileUpdateIngestApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="profile_updates_ingest",
        request=ProfileUpdateInput,
        responses={201: AcceptedOutput, 200: AcceptedOutput, 400: PROBLEM, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description="Set customer-level facts; per attribute the latest occurredAt wins.",
    )
    def post(self, request: Request) -> Response:
        (result,) = services.profile_updates_ingest(tenant=self.tenant, updates=[self.json_object(request)])
        return _single_response(result)


class ChannelUpdateIngestApi(TenantAPIView):
    permission_classes = [HasIngestScope]

    @extend_schema(
        operation_id="channel_updates_ingest",
        request=ChannelUpdateInput,
        responses={201: AcceptedOutput, 200: AcceptedOutput, 400: PROBLEM, 409: PROBLEM, 413: PROBLEM, 422: PROBLEM},
        tags=["ingest"],
        description="Declare the endpoint of the resolved profile; optionally change consent or reachability.",
    )
    def post(self, request: Request) -> Response:
        (result,) = services.channel_updates_ingest(tenant=self.tenant, updates=[self.json_object(request)])
        return _single_response(result)


# --- sources ------------------------------------------------------------------------------


class SourceSerializer(serializers.Serializer):
    key = serializers.RegexField(KEY_PATTERN, max_length=63)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SourcePatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)


class SourceOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class SourceListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="sources_list", responses=page_of(SourceOutputSerializer, "SourcePage"), tags=["administration"]
    )
    def get(self, request: Request) -> Response:
        return paginate(
            request, self, selectors.source_list(tenant=self.tenant), SourceOutputSerializer, ordering="key"
        )

    @extend_schema(
        operation_id="sources_create",
        request=SourceSerializer,
        responses={201: SourceOutputSerializer},
        tags=["administration"],
    )
    def post(self, request: Request) -> Response:
        serializer = SourceSerializer(data=self.json_object(request))
        serializer.is_valid(raise_exception=True)
        source = services.source_create(tenant=self.tenant, **serializer.validated_data)
        return Response(SourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="sources_get", responses=SourceOutputSerializer, tags=["administration"])
    def get(self, request: Request, key: str) -> Response:
        return Response(SourceOutputSerializer(selectors.source_get(tenant=self.tenant, key=key)).data)

    @extend_schema(
        operation_id="sources_update",
        request=SourcePatchSerializer,
        responses=SourceOutputSerializer,
        tags=["administration"],
    )
    def patch(self, request: Request, key: str) -> Response:
        source = selectors.source_get(tenant=self.tenant, key=key)
        serializer = SourcePatchSerializer(data=self.json_object(request))
        serializer.is_valid(raise_exception=True)
        source = services.source_update(source=source, **serializer.validated_data)
        return Response(SourceOutputSerializer(source).data)


# --- profile events -------------------------------------------------------------------------


class ProfileEventOutput(serializers.Serializer):
    eventId = serializers.UUIDField(source="id")
    source = serializers.CharField(source="source.key")
    externalEventId = serializers.CharField(source="external_event_id")
    eventType = serializers.CharField(source="event_type")
    occurredAt = serializers.SerializerMethodField()
    receivedAt = serializers.SerializerMethodField()
    properties = serializers.DictField()

    def get_occurredAt(self, obj: Any) -> str:  # noqa: N802
        return format_utc(obj.occurred_at)

    def get_receivedAt(self, obj: Any) -> str:  # noqa: N802
        return format_utc(obj.received_at)


class ProfileEventsApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="profiles_events", responses=page_of(ProfileEventOutput, "ProfileEventPage"), tags=["profiles"]
    )
    def get(self, request: Request, profile_id: uuid.UUID) -> Response:
        live = profile_get_live(tenant_id=self.tenant.pk, profile_id=profile_id)
        if live is None:
            raise not_found(f"No profile {profile_id}.")
        events = selectors.profile_events(tenant=self.tenant, profile_id=live[0].id)
        return paginate(request, self, events, ProfileEventOutput, ordering="-occurred_at")
