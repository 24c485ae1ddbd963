"""Hooks through which higher apps react to contract changes without contracts importing
them (DESIGN.md §2). Register in AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable

DerivedCreatedHook = Callable[..., None]

_derived_created: dict[str, DerivedCreatedHook] = {}


def register_derived_created_hook(key: str, hook: DerivedCreatedHook) -> None:
    """`hook(*, tenant_id, name)` runs after the transaction that created a derived
    attribute definition commits (ingest backfills its values from the event store)."""
    _derived_created[key] = hook


def derived_created_hooks() -> tuple[DerivedCreatedHook, ...]:
    return tuple(_derived_created[key] for key in sorted(_derived_created))
