"""Hooks through which higher apps take part in contract changes without contracts importing
them (DESIGN.md §2). Register in AppConfig.ready(). (A new derived attribute's backfill is a
job of kind `derived.backfill`, whose handler ingest registers in jobs.registry.)"""

from __future__ import annotations

from collections.abc import Callable

from cdp_project.core.hooks import Registry

# --- dependents of contract fields (segments and the like) --------------------------------------

ContractDependentsCheck = Callable[..., list[str]]

_dependents: Registry[ContractDependentsCheck] = Registry("contract dependents check")


def register_contract_dependents(key: str, check: ContractDependentsCheck) -> None:
    """`check(*, tenant_id, event_type=None, attribute=None, derived=None, changes=()) -> list[str]`
    names, in words, what a contract change would break: `changes` is the new list of
    properties of `event_type`, or the new definition of `attribute` as a one-item list
    (empty when it is removed); `derived` names a derived attribute about to be deleted.
    An empty answer means nothing breaks."""
    _dependents.register(key, check)


def contract_dependents_checks() -> tuple[ContractDependentsCheck, ...]:
    return tuple(_dependents.values())
