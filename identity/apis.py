"""Profile read API (scope admin): detail, lookup by identifier, merge history."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import not_found
from cdp_project.core.pagination import paginate
from profiles.selectors import merge_ledger_for_profile
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import selectors
from .normalization import identifier_normalize
from .types import IDENTIFIER_TYPES


class IdentifierOutputSerializer(serializers.Serializer):
    type = serializers.CharField()
    value = serializers.CharField()
    firstSeenAt = serializers.DateTimeField(source="first_seen_at")
    lastSeenAt = serializers.DateTimeField(source="last_seen_at")


class ProfileOutputSerializer(serializers.Serializer):
    """Renders a selectors.ProfileDetail; sections registered by higher apps are added as they are."""

    id = serializers.UUIDField(source="profile.id")
    requestedId = serializers.UUIDField(
        source="requested_id", required=False, help_text="Present when the requested id was merged into this one."
    )
    createdAt = serializers.DateTimeField(source="profile.created_at")
    updatedAt = serializers.DateTimeField(source="profile.updated_at")
    attributes = serializers.DictField(child=serializers.JSONField())
    derived = serializers.DictField(
        child=serializers.JSONField(), help_text="Values of the ready derived attributes (see derivedStatus)."
    )
    derivedStatus = serializers.DictField(
        source="derived_status",
        child=serializers.ChoiceField(choices=["ready", "backfilling"]),
        help_text="Every derived attribute: ready, or backfilling while its values are computed (left out of derived).",
    )
    identifiers = IdentifierOutputSerializer(many=True)
    endpoints = serializers.ListField(child=serializers.DictField(), required=False)
    readiness = serializers.DictField(child=serializers.DictField(), required=False)

    def to_representation(self, instance: selectors.ProfileDetail) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.requested_id is None:
            data.pop("requestedId", None)
        data.pop("endpoints", None)
        data.pop("readiness", None)
        data.update(instance.sections)
        return data


class MergeIdentifierSerializer(serializers.Serializer):
    type = serializers.CharField(source="identifier_type")
    value = serializers.CharField(source="identifier_value")


class MergeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    createdAt = serializers.DateTimeField(source="created_at")
    survivorId = serializers.UUIDField(source="survivor_id")
    mergedId = serializers.UUIDField(source="merged_id")
    rule = serializers.CharField()
    matchedBy = serializers.CharField(source="matched_by", allow_null=True)
    identifier = MergeIdentifierSerializer(source="*")
    trigger = serializers.CharField()
    source = serializers.CharField()
    moved = serializers.DictField(child=serializers.IntegerField())
    movedIdentifiers = serializers.ListField(child=serializers.DictField(), source="moved_identifiers")
    takenAttributes = serializers.ListField(child=serializers.CharField(), source="taken_attributes")
    lostAttributes = serializers.ListField(child=serializers.DictField(), source="lost_attributes")
    reverts = serializers.IntegerField(
        allow_null=True, help_text="On a revert entry (rule `revert`): the id of the merge it reverted."
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["matchedBy"] = data["matchedBy"] or None
        return data


class MergeListOutputSerializer(serializers.Serializer):
    results = MergeOutputSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class ProfileLookupQuerySerializer(serializers.Serializer):
    identifierType = serializers.ChoiceField(choices=IDENTIFIER_TYPES)
    identifierValue = serializers.CharField(max_length=1024, trim_whitespace=False)


class ProfileLookupApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(
        operation_id="profiles_lookup",
        parameters=[
            OpenApiParameter("identifierType", str, enum=list(IDENTIFIER_TYPES), required=True),
            OpenApiParameter("identifierValue", str, required=True, description="Normalized before the lookup."),
        ],
        responses=ProfileOutputSerializer,
        tags=["profiles"],
    )
    def get(self, request: Request) -> Response:
        query = ProfileLookupQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        type = query.validated_data["identifierType"]
        value = identifier_normalize(
            tenant=self.tenant, type=type, value=query.validated_data["identifierValue"], pointer="/identifierValue"
        )
        profile = selectors.identifier_owner_get(tenant=self.tenant, type=type, value=value)
        if profile is None:
            raise not_found(f"No profile has the {type} identifier {value!r}.")
        detail = selectors.profile_detail_build(tenant=self.tenant, profile=profile, requested_id=None)
        return Response(ProfileOutputSerializer(detail).data)


class ProfileDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="profiles_get", responses=ProfileOutputSerializer, tags=["profiles"])
    def get(self, request: Request, profile_id: uuid.UUID) -> Response:
        detail = selectors.profile_detail_get(tenant=self.tenant, profile_id=profile_id)
        return Response(ProfileOutputSerializer(detail).data)


class ProfileMergeListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="profiles_merges_list", responses=MergeListOutputSerializer, tags=["profiles"])
    def get(self, request: Request, profile_id: uuid.UUID) -> Response:
        profile, _ = selectors.profile_live_get(tenant=self.tenant, profile_id=profile_id)
        entries = merge_ledger_for_profile(tenant_id=self.tenant.pk, profile_id=profile.pk)
        return paginate(request, self, entries, MergeOutputSerializer, ordering="-id")
