"""Sources API (scope admin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from cdp_project.core.pagination import paginate
from tenants.api_base import TenantAPIView
from tenants.permissions import HasAdminScope

from . import selectors, services
from .models import KEY_PATTERN


class SourceSerializer(serializers.Serializer):
    key = serializers.RegexField(KEY_PATTERN, max_length=63)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SourcePatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)


class SourceOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class SourceListOutputSerializer(serializers.Serializer):
    results = SourceOutputSerializer(many=True)
    next = serializers.CharField(allow_null=True)


class SourceListApi(TenantAPIView):
    permission_classes = [HasAdminScope]

    @extend_schema(operation_id="sources_list", responses=SourceListOutputSerializer, tags=["administration"])
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
