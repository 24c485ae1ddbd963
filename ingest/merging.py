"""Events and profile updates follow their profile into a merge (DESIGN.md §4)."""

from __future__ import annotations

import uuid

from profiles.models import DerivedValue

from .derived import derived_recompute
from .models import ChannelUpdate, Event, ProfileUpdate


def records_move_on_merge(*, tenant_id: int, survivor_id: uuid.UUID, merged_id: uuid.UUID) -> dict[str, int]:
    events = Event.objects.filter(tenant_id=tenant_id, profile_id=merged_id).update(profile_id=survivor_id)
    updates = ProfileUpdate.objects.filter(tenant_id=tenant_id, profile_id=merged_id).update(profile_id=survivor_id)
    channel = ChannelUpdate.objects.filter(tenant_id=tenant_id, profile_id=merged_id).update(profile_id=survivor_id)
    # Derived values are recomputed exactly for the survivor from its (now larger) history.
    DerivedValue.objects.filter(tenant_id=tenant_id, profile_id=merged_id).delete()
    if events:
        derived_recompute(tenant_id=tenant_id, profile_ids=[survivor_id])
    return {"events": events, "profileUpdates": updates, "channelUpdates": channel}
