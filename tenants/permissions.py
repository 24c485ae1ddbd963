"""One permission class per API key scope."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import ApiKeyPrincipal
from .models import SCOPE_ADMIN, SCOPE_INGEST, SCOPE_RUNTIME


class _HasScope(BasePermission):
    scope: str = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiKeyPrincipal):
            return False
        if principal.source_key:
            # A write key sits in SDK configuration; it may send messages to its source and nothing else.
            self.message = (
                f"This is a write key of source '{principal.source_key}': "
                "it is accepted only by the Segment-compatible ingress under /v1/."
            )
            return False
        if self.scope in principal.scopes:
            return True
        self.message = f"This API key lacks the '{self.scope}' scope."
        return False


class HasIngestScope(_HasScope):
    scope = SCOPE_INGEST


class HasAdminScope(_HasScope):
    scope = SCOPE_ADMIN


class HasRuntimeScope(_HasScope):
    scope = SCOPE_RUNTIME


class IsWriteKey(BasePermission):
    """The Segment-compatible ingress: an ingest key bound to a source."""

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiKeyPrincipal):
            return False
        if principal.source_key and SCOPE_INGEST in principal.scopes:
            return True
        self.message = (
            "This API key is not a write key: create one bound to a source with "
            "'create_api_key --tenant SLUG --scopes ingest --source KEY'."
        )
        return False
