"""Reads of the channels app (to be implemented)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from .types import Readiness


def profile_readiness(*, tenant_id: int, profile_id: uuid.UUID) -> dict[str, Readiness]:
    """Readiness of one live profile on every channel (EMAIL, SMS, PUSH, WHATSAPP), judged
    on its active endpoint there (DESIGN.md §5)."""
    raise NotImplementedError


def profiles_readiness(*, tenant_id: int, profile_ids: Iterable[uuid.UUID], channel: str) -> dict[uuid.UUID, Readiness]:
    """Readiness of many profiles on one channel, in a constant number of queries (exports)."""
    raise NotImplementedError
