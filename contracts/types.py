"""Plain data crossing the contracts app's boundary (the interface ingest relies on)."""

from __future__ import annotations

from dataclasses import dataclass

from cdp_project.core.errors import FieldProblem


@dataclass(frozen=True)
class ContractCheck:
    """The verdict of the validator on one event's type and properties.

    `problems` carry JSON Pointers relative to the request body of one event
    (`/eventType`, `/properties/total`); empty means the event may be stored.
    `warnings` are human-readable (e.g. a deprecated event type) and go back to the client.
    """

    event_type: str
    event_type_id: int | None
    version: int | None
    problems: tuple[FieldProblem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
