"""Row locks of the runtime app (DESIGN.md §8)."""

from __future__ import annotations

import uuid

from .models import Participant


def participant_lock(*, participant_id: uuid.UUID) -> Participant | None:
    """`SELECT … FOR UPDATE` on one participant: writes of its variable values happen one
    at a time, so two concurrent PATCHes never race on the same value row."""
    return Participant.objects.filter(pk=participant_id).select_for_update().first()
