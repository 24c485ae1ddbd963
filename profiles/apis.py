"""Profile read API (scope admin): a profile's detail and its merge history. The lookup by
identifier is identity's (identity/apis.py) and a profile's events are ingest's
(ingest/apis.py): both render with the serializers here."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import not_found
from cdp_project.core.pagination import paginate
from tenants.api_base import TenantAPIView
from tenants.models import Tenant
from tenants.permissions import HasAdminScope

from .models import Profile
from .selectors import ProfileDetail, merge_ledger_for_profile, profile_detail_build, profile_get_live


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

    def to_representation(self, instance: ProfileDetail) -> dict[str, Any]:
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


def _profile_live(*, tenant: Tenant, profile_id: uuid.UUID) -> tuple[Profile, uuid.UUID | None]:
    """The live profile for an id (following merges) or a 404 problem; another tenant's id is missing."""
    found = profile_get_live(tenant_id=tenant.pk, profile_id=profile_id)
    if found is None:
        raise not_found(f"No profile {profile_id}.")
    return found


class ProfileDetailApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="profiles_get", responses=ProfileOutputSerializer, tags=["profiles"])
    def get(self, request: Request, profile_id: uuid.UUID) -> Response:
        profile, requested_id = _profile_live(tenant=self.tenant, profile_id=profile_id)
        detail = profile_detail_build(tenant_id=self.tenant.pk, profile=profile, requested_id=requested_id)
        return Response(ProfileOutputSerializer(detail).data)


class ProfileMergeListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="profiles_merges_list", responses=MergeListOutputSerializer, tags=["profiles"])
    def get(self, request: Request, profile_id: uuid.UUID) -> Response:
        profile, _ = _profile_live(tenant=self.tenant, profile_id=profile_id)
        entries = merge_ledger_for_profile(tenant_id=self.tenant.pk, profile_id=profile.pk)
        return paginate(request, self, entries, MergeOutputSerializer, ordering="-id")
