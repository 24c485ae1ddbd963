"""Campaign definitions as JSON (API bodies): parse with every problem at once, each
with a JSON Pointer, and render back as API.md shows them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.timestamps import format_utc
from contracts.specs import raise_problems

from .models import CAMPAIGN_KEY_PATTERN
from .variables import VariableSpec, variable_spec_from_row, variables_parse

_KEY_RE = re.compile(CAMPAIGN_KEY_PATTERN)
CAMPAIGN_KEYS = ("key", "name", "active", "variables")
MAX_NAME = 200


@dataclass(frozen=True)
class CampaignChanges:
    """A parsed body. For PATCH, None means "not given"."""

    key: str | None = None
    name: str | None = None
    active: bool | None = None
    variables: tuple[VariableSpec, ...] | None = None


def campaign_parse(data: Any, *, key: str | None = None) -> CampaignChanges:
    """POST (key None): `key` and `name` required, `active` defaults to true, `variables`
    to none. PATCH (key from the URL): only what is given; the key cannot change."""
    if not isinstance(data, Mapping):
        raise_problems([FieldProblem("", "invalid", "The body must be a JSON object.")])
    problems: list[FieldProblem] = [
        FieldProblem(
            pointer(name), "unknown_field", f"Unknown field {name!r}; expected one of {', '.join(CAMPAIGN_KEYS)}."
        )
        for name in data
        if name not in CAMPAIGN_KEYS
    ]
    creating = key is None
    parsed_key: str | None = None
    if creating:
        raw = data.get("key")
        if raw is None:
            problems.append(FieldProblem("/key", "required", "This field is required."))
        elif not isinstance(raw, str) or not _KEY_RE.match(raw):
            problems.append(
                FieldProblem(
                    "/key",
                    "invalid",
                    "Use 1–100 lowercase letters, digits, '.', '_' or '-', starting with one of the first two.",
                )
            )
        else:
            parsed_key = raw
    elif "key" in data and data["key"] != key:
        problems.append(FieldProblem("/key", "immutable", "A campaign's key cannot change; create a new campaign."))

    name: str | None = None
    if "name" in data or creating:
        raw = data.get("name")
        if raw is None:
            problems.append(FieldProblem("/name", "required", "This field is required."))
        elif not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME:
            problems.append(
                FieldProblem("/name", "invalid", f"Must be a non-empty string of at most {MAX_NAME} characters.")
            )
        else:
            name = raw.strip()

    active: bool | None = True if creating else None
    if "active" in data:
        if not isinstance(data["active"], bool):
            problems.append(FieldProblem("/active", "invalid", "Must be true or false."))
        else:
            active = data["active"]

    variables: tuple[VariableSpec, ...] | None = () if creating else None
    if "variables" in data:
        variables, found = variables_parse(data["variables"])
        problems.extend(found)

    raise_problems(problems)
    return CampaignChanges(key=parsed_key or key, name=name, active=active, variables=variables)


def campaign_as_json(campaign: Any) -> dict[str, Any]:
    """A Campaign row (variables prefetched in order) as API.md shows it."""
    return {
        "key": campaign.key,
        "name": campaign.name,
        "active": campaign.active,
        "variables": [variable_spec_from_row(row).as_json() for row in campaign.variables.all()],
        "createdAt": format_utc(campaign.created_at),
        "updatedAt": format_utc(campaign.updated_at),
    }
