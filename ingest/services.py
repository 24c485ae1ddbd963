"""Writes of the ingest app."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from cdp_project.core.errors import ProblemError
from tenants.models import Tenant

from .models import Source


def source_create(*, tenant: Tenant, key: str, name: str = "") -> Source:
    try:
        with transaction.atomic():
            return Source.objects.create(tenant=tenant, key=key, name=name or key)
    except IntegrityError:
        raise ProblemError(
            code="already_exists", title="Already exists", status=409, detail=f"A source {key!r} exists already."
        ) from None


def source_update(*, source: Source, name: str) -> Source:
    source.name = name
    source.save(update_fields=["name", "updated_at"])
    return source
