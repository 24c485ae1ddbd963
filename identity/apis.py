"""The profile lookup by identifier (scope admin); the rest of the profile read API is profiles/apis.py."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.errors import not_found
from profiles.apis import ProfileOutputSerializer
from profiles.selectors import profile_detail_build
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import selectors
from .normalization import identifier_normalize
from .types import IDENTIFIER_TYPES


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
        detail = profile_detail_build(tenant_id=self.tenant.pk, profile=profile, requested_id=None)
        return Response(ProfileOutputSerializer(detail).data)
