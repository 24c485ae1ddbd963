"""Plain data crossing the identity app's boundary (the interface ingest relies on)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cdp_project.core.errors import FieldProblem

IDENTIFIER_TYPES = ("EXTERNAL", "EMAIL", "PHONE", "DEVICE_KEY")  # highest precedence first


@dataclass(frozen=True)
class IgnoredIdentifier:
    type: str
    value: str
    reason: str  # "blocked"


@dataclass(frozen=True)
class NormalizedIdentity:
    """An identity map after normalization: `values` maps type -> normalized value,
    blocked values are moved to `ignored`, and `problems` (code `invalid_identity` and
    friends, pointers like `/identity/EMAIL`) say why the map cannot be used."""

    values: dict[str, str]
    ignored: tuple[IgnoredIdentifier, ...] = ()
    problems: tuple[FieldProblem, ...] = ()


@dataclass(frozen=True)
class Conflict:
    type: str
    value: str
    owner_profile_id: uuid.UUID
    reason: str  # e.g. "different_external_id"


@dataclass(frozen=True)
class Resolution:
    """The identity decision, as API.md's `resolution` object explains it."""

    profile_id: uuid.UUID | None  # None only in a dry run that would create a profile
    matched_by: str | None
    created_profile: bool
    merged_profiles: tuple[uuid.UUID, ...] = ()
    attached: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    ignored: tuple[IgnoredIdentifier, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    changed_attributes: tuple[str, ...] = ()  # a profile update: the attributes whose value it changed

    def as_public(self) -> dict[str, Any]:
        return {
            "matchedBy": self.matched_by,
            "createdProfile": self.created_profile,
            "mergedProfiles": [str(pid) for pid in self.merged_profiles],
            "attached": list(self.attached),
            "conflicts": [
                {"type": c.type, "value": c.value, "ownerProfileId": str(c.owner_profile_id), "reason": c.reason}
                for c in self.conflicts
            ],
            "ignored": [{"type": i.type, "value": i.value, "reason": i.reason} for i in self.ignored],
        }
