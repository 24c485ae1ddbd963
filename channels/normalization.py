"""Checking and normalizing a channel update's endpoint fields (to be implemented)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp_project.core.errors import FieldProblem
from tenants.models import Tenant

from .types import ChannelUpdateSpec


def channel_update_parse(
    *, tenant: Tenant, body: Mapping[str, Any]
) -> tuple[ChannelUpdateSpec | None, tuple[FieldProblem, ...]]:
    """Read `channel`, `address`, `consent`, `reachability`, `reason` from one channel-update
    body; return the normalized spec, or None with every problem (pointers `/channel`,
    `/address`, `/consent`, `/reachability`, `/reason`)."""
    raise NotImplementedError
