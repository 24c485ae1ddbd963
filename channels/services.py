"""Writes of the channels app (to be implemented)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from .types import ChannelUpdateSpec


def channel_update_apply(
    *,
    tenant_id: int,
    profile_id: uuid.UUID,
    spec: ChannelUpdateSpec,
    occurred_at: dt.datetime,
    source: str,
    trigger: str,
) -> dict[str, Any]:
    """Claim the endpoint for the profile and apply consent/reachability (latest
    occurredAt wins per field). Runs inside the caller's transaction. Returns a small
    summary of what changed (stored with the update for audit)."""
    raise NotImplementedError
