"""Base classes for server-API views: the tenant always comes from the credential."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from cdp_project.core.errors import Problem

from .authentication import ApiKeyAuthentication, ApiKeyPrincipal
from .models import Tenant


class TenantAPIView(APIView):
    """An API-key endpoint. Subclasses set `permission_classes` to one scope class and
    read `self.tenant`; nothing in the URL or the body can choose another tenant."""

    authentication_classes = [ApiKeyAuthentication]

    @property
    def tenant(self) -> Tenant:
        principal = self.request.user
        assert isinstance(principal, ApiKeyPrincipal), "permission classes must run first"
        return principal.tenant

    @staticmethod
    def json_object(request: Request) -> dict[str, Any]:
        """The body as a JSON object, or a 400 problem (also for no body at all: an empty
        body is never read as an empty object)."""
        data = request.data
        if request.stream is None:
            raise Problem.MALFORMED_JSON.error("The body is empty; a JSON object was expected.")
        if not isinstance(data, dict):
            raise Problem.NOT_AN_OBJECT.error("The body must be a JSON object.")
        return data
