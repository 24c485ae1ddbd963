"""Plain data crossing the ingest app's boundary."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cdp_project.core.errors import FieldProblem

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
    code: str | None = None  # for conflict and rejected
    detail: str = ""
    problems: tuple[FieldProblem, ...] = field(default_factory=tuple)
