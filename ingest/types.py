"""Plain data crossing the ingest app's boundary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cdp_project.core.errors import FieldProblem, Problem

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
CONFLICT = "conflict"
REJECTED = "rejected"
SUPPRESSED = "suppressed"  # the identity holds an erased, suppressed identifier


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one event or update: what the API answers for it."""

    index: int
    status: str  # accepted | duplicate | conflict | rejected | suppressed
    record_id: uuid.UUID | None = None
    profile_id: uuid.UUID | None = None
    resolution: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    error: Problem | None = None  # for conflict and rejected: the problem the API answers with
    detail: str = ""
    problems: tuple[FieldProblem, ...] = field(default_factory=tuple)

    @property
    def code(self) -> str | None:
        return self.error.code if self.error is not None else None

