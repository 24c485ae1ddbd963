"""Writes of the identity app besides resolution (see resolver.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from .models import IdentityConflict


def identity_conflicts_mark_reviewed(*, conflict_ids: Iterable[int], reviewer: str) -> int:
    """Mark conflicts as reviewed by ops; a repetition of the conflict reopens it."""
    return IdentityConflict.objects.filter(pk__in=list(conflict_ids), reviewed_at__isnull=True).update(
        reviewed_at=timezone.now(), reviewed_by=reviewer[:150]
    )
