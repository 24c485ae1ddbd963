"""Contracts API (scope admin): event types, attribute definitions, derived attributes.

Bodies are parsed by `specs` (the one parser shared with plans and the admin), so every
bad definition answers 422 with a pointer such as `/properties/1/type`; its strict
serializers are the ones below, which document the shapes and render the output.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.pagination import paginate
from cdp_project.core.schema import problem
from jobs.apis import JobSerializer, job_accepted
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import selectors, services, specs
from .models import DERIVED_STATUSES
from .specs import EventTypeReplaceSerializer, EventTypeSerializer

TAGS = ["administration"]


class AttributeDefinitionSerializer(specs.TypedFieldSerializer):
    def to_representation(self, instance: Any) -> dict[str, Any]:
        return specs.attribute_definition_as_json(instance)


class DerivedJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="GET /api/v1/jobs/{id} tells its progress.")
    kind = serializers.CharField()
    status = serializers.CharField()


class DerivedAttributeSerializer(specs.DerivedAttributeBody):
    status = serializers.ChoiceField(
        choices=DERIVED_STATUSES,
        read_only=True,
        help_text="backfilling while its values are computed from the stored events (they are not served "
        "meanwhile), then ready.",
    )
    job = DerivedJobSerializer(read_only=True, allow_null=True, help_text="The latest job computing its values.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        out = specs.derived_attribute_as_json(services.derived_attribute_spec_of(instance))
        out["status"] = instance.status
        job = instance.job
        out["job"] = None if job is None else {"id": str(job.pk), "kind": job.kind, "status": job.status}
        return out


class EventTypeListSerializer(serializers.Serializer):
    results = EventTypeSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class AttributeDefinitionListSerializer(serializers.Serializer):
    results = AttributeDefinitionSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class DerivedAttributeListSerializer(serializers.Serializer):
    results = DerivedAttributeSerializer(many=True)
    next = serializers.URLField(allow_null=True)


def _changed_by(view: TenantAPIView) -> str:
    return f"api key rfk_{view.request.user.key_prefix}"


class EventTypeListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="event_types_list", responses=EventTypeListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        queryset = selectors.event_type_queryset(tenant_id=self.tenant.pk)
        return paginate(request, self, queryset, EventTypeSerializer, ordering="name")

    @extend_schema(
        operation_id="event_types_create",
        request=EventTypeSerializer,
        responses={201: EventTypeSerializer},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        spec = specs.parse_event_type(self.json_object(request))
        event_type = services.event_type_create(tenant_id=self.tenant.pk, spec=spec, changed_by=_changed_by(self))
        event_type = selectors.event_type_by_name(tenant_id=self.tenant.pk, name=event_type.name)
        return Response(EventTypeSerializer(event_type).data, status=status.HTTP_201_CREATED)


class EventTypeDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="event_types_get", responses=EventTypeSerializer, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        return Response(EventTypeSerializer(selectors.event_type_by_name(tenant_id=self.tenant.pk, name=name)).data)

    @extend_schema(
        operation_id="event_types_replace", request=EventTypeReplaceSerializer, responses=EventTypeSerializer, tags=TAGS
    )
    def put(self, request: Request, name: str) -> Response:
        return self._update(request, name, partial=False)

    @extend_schema(
        operation_id="event_types_update", request=EventTypeReplaceSerializer, responses=EventTypeSerializer, tags=TAGS
    )
    def patch(self, request: Request, name: str) -> Response:
        return self._update(request, name, partial=True)

    def _update(self, request: Request, name: str, *, partial: bool) -> Response:
        event_type = selectors.event_type_by_name(tenant_id=self.tenant.pk, name=name)
        parsed = specs.parse_event_type(self.json_object(request), partial=partial, name=name)
        changes = (
            parsed
            if isinstance(parsed, dict)
            else {
                "description": parsed.description,
                "status": parsed.status,
                "allow_additional_properties": parsed.allow_additional_properties,
                "properties": parsed.properties,
            }
        )
        services.event_type_update(event_type=event_type, changed_by=_changed_by(self), **changes)
        return Response(EventTypeSerializer(selectors.event_type_by_name(tenant_id=self.tenant.pk, name=name)).data)


class AttributeDefinitionListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="attribute_definitions_list", responses=AttributeDefinitionListSerializer, tags=TAGS)
    def get(self, request: Request) -> Response:
        queryset = selectors.attribute_definition_queryset(tenant_id=self.tenant.pk)
        return paginate(request, self, queryset, AttributeDefinitionSerializer, ordering="name")

    @extend_schema(
        operation_id="attribute_definitions_create",
        request=AttributeDefinitionSerializer,
        responses={201: AttributeDefinitionSerializer},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        spec = specs.parse_attribute_definition(self.json_object(request))
        definition = services.attribute_definition_create(tenant_id=self.tenant.pk, spec=spec)
        return Response(AttributeDefinitionSerializer(definition).data, status=status.HTTP_201_CREATED)


class AttributeDefinitionDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="attribute_definitions_get", responses=AttributeDefinitionSerializer, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        definition = selectors.attribute_definition_by_name(tenant_id=self.tenant.pk, name=name)
        return Response(AttributeDefinitionSerializer(definition).data)

    @extend_schema(
        operation_id="attribute_definitions_update",
        request=AttributeDefinitionSerializer,
        responses=AttributeDefinitionSerializer,
        tags=TAGS,
    )
    def patch(self, request: Request, name: str) -> Response:
        definition = selectors.attribute_definition_by_name(tenant_id=self.tenant.pk, name=name)
        spec = specs.parse_attribute_definition(
            self.json_object(request), partial_of=services.attribute_definition_spec_of(definition), name=name
        )
        definition = services.attribute_definition_update(definition=definition, spec=spec)
        return Response(AttributeDefinitionSerializer(definition).data)


class DerivedAttributeListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="derived_attributes_list",
        parameters=[OpenApiParameter("eventType", str, description="Only those fed by this event type.")],
        responses=DerivedAttributeListSerializer,
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        queryset = selectors.derived_attribute_queryset(
            tenant_id=self.tenant.pk, event_type=request.query_params.get("eventType")
        )
        return paginate(request, self, queryset, DerivedAttributeSerializer, ordering="name")

    @extend_schema(
        operation_id="derived_attributes_create",
        request=DerivedAttributeSerializer,
        responses={201: DerivedAttributeSerializer},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        spec = specs.parse_derived_attribute(self.json_object(request))
        services.derived_attribute_create(tenant_id=self.tenant.pk, spec=spec)
        definition = selectors.derived_attribute_by_name(tenant_id=self.tenant.pk, name=spec.name)
        return Response(DerivedAttributeSerializer(definition).data, status=status.HTTP_201_CREATED)


class DerivedAttributeDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="derived_attributes_get", responses=DerivedAttributeSerializer, tags=TAGS)
    def get(self, request: Request, name: str) -> Response:
        definition = selectors.derived_attribute_by_name(tenant_id=self.tenant.pk, name=name)
        return Response(DerivedAttributeSerializer(definition).data)


class DerivedAttributeRecomputeApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="derived_attributes_recompute",
        request=None,
        responses={
            202: OpenApiResponse(JobSerializer, description="The queued recompute job (Location: /api/v1/jobs/{id})."),
            404: problem("No such derived attribute (another tenant's answers the same)"),
            422: problem("A body with fields: none are taken"),
        },
        tags=TAGS,
        description=(
            "Recompute the derived attribute's values exactly from the stored events, as a resumable job on the "
            "worker (no body, or {}). The definition is backfilling until the job is done (its values are not "
            "served as complete meanwhile), then ready. Answers 202 with the job; Location: /api/v1/jobs/{id}."
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        definition = selectors.derived_attribute_by_name(tenant_id=self.tenant.pk, name=name)
        if request.stream is not None:
            specs.raise_problems(
                tuple(
                    FieldProblem(pointer(key), "undeclared", f"unknown field {str(key)[:60]!r}")
                    for key in self.json_object(request)
                )
            )
        job = services.derived_attributes_recompute(tenant_id=self.tenant.pk, names=[definition.name])
        return job_accepted(job)
