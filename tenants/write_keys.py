"""Write keys: `ingest` keys bound to one source, for the Segment-compatible ingress.

Sources belong to the ingest app, a layer above this one, so the ingest app registers
here how to tell whether a tenant has a source (DESIGN.md §2: a lower app never imports
a higher one; the higher one registers a hook).
"""

from __future__ import annotations

from collections.abc import Callable

from .models import Tenant

SourceExists = Callable[[Tenant, str], bool]

_source_exists: SourceExists | None = None


def register_source_exists(check: SourceExists) -> None:
    global _source_exists
    _source_exists = check


def source_exists(*, tenant: Tenant, key: str) -> bool:
    """Whether the tenant has a source with this key; False when no app knows sources."""
    return _source_exists is not None and _source_exists(tenant, key)
