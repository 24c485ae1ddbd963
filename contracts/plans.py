"""Contracts as code: a tenant's whole contract as one JSON plan, exported and applied.

`contracts_plan_export` and `contracts_plan_import` round-trip every definition exactly:
export, import into an empty tenant, export again gives the same JSON. Import is
idempotent: it creates what is missing, updates what differs, reports each change, and
leaves alone what the plan does not mention (it never deletes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from cdp_project.core.errors import FieldProblem, ProblemError, pointer

from . import selectors, services, specs
from .types import EventTypeSpec

PLAN_FORMAT = "resultfly-contracts/1"
_SECTIONS = ("eventTypes", "attributeDefinitions", "derivedAttributes")


@dataclass(frozen=True)
class PlanImportResult:
    changes: tuple[str, ...]  # one line per created or updated definition
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def contracts_plan_export(*, tenant_id: int) -> dict[str, Any]:
    """The tenant's contract, every list sorted by name, properties in their order."""
    return {
        "format": PLAN_FORMAT,
        "eventTypes": [
            specs.event_type_as_json(event_type, with_version=False)
            for event_type in selectors.event_type_queryset(tenant_id=tenant_id)
        ],
        "attributeDefinitions": [
            specs.attribute_definition_as_json(definition)
            for definition in selectors.attribute_definition_queryset(tenant_id=tenant_id)
        ],
        "derivedAttributes": [
            specs.derived_attribute_as_json(services.derived_attribute_spec_of(definition))
            for definition in selectors.derived_attribute_queryset(tenant_id=tenant_id)
        ],
    }


def _prefixed(error: ProblemError, *at: str | int) -> list[FieldProblem]:
    """The problems of one definition, with pointers into the whole plan."""
    if not error.errors:
        return [FieldProblem(pointer(*at), error.code, error.detail or error.title)]
    return [FieldProblem(pointer(*at) + p.pointer, p.code, p.detail) for p in error.errors]


def _parse(plan: Any) -> tuple[list[EventTypeSpec], list, list]:
    problems: list[FieldProblem] = []
    if not isinstance(plan, Mapping):
        specs.raise_problems([FieldProblem("", "invalid", "A plan is a JSON object.")])
    for key in plan:
        if key not in (*_SECTIONS, "format"):
            problems.append(FieldProblem(pointer(key), "unknown_field", f"Unknown section {key!r}."))
    if plan.get("format", PLAN_FORMAT) != PLAN_FORMAT:
        problems.append(FieldProblem("/format", "invalid", f"Expected the plan format {PLAN_FORMAT!r}."))
    parsed: dict[str, list] = {section: [] for section in _SECTIONS}
    parsers = {
        "eventTypes": lambda item, at: specs.parse_event_type(item, at=at),
        "attributeDefinitions": lambda item, at: specs.parse_attribute_definition(item, at=at),
        "derivedAttributes": lambda item, at: specs.parse_derived_attribute(item, at=at),
    }
    for section in _SECTIONS:
        items = plan.get(section, [])
        if not isinstance(items, list):
            problems.append(FieldProblem(pointer(section), "invalid", "Must be a list."))
            continue
        seen: set[str] = set()
        for index, item in enumerate(items):
            try:
                spec = parsers[section](item, (section, index))
            except ProblemError as error:
                problems.extend(error.errors)
                continue
            if spec.name in seen:
                problems.append(FieldProblem(pointer(section, index, "name"), "duplicate", f"{spec.name!r} twice."))
                continue
            seen.add(spec.name)
            parsed[section].append((index, spec))
    specs.raise_problems(problems)
    return parsed["eventTypes"], parsed["attributeDefinitions"], parsed["derivedAttributes"]


def contracts_plan_import(*, tenant_id: int, plan: Any, changed_by: str = "import") -> PlanImportResult:
    """Apply a plan in one transaction: all of it, or (with a 422 problem listing every
    problem, pointers into the plan) nothing."""
    event_types, attributes, derived = _parse(plan)
    changes: list[str] = []
    problems: list[FieldProblem] = []
    with transaction.atomic():
        unchanged = _attributes_import(tenant_id=tenant_id, attributes=attributes, changes=changes)
        unchanged += _event_types_import(
            tenant_id=tenant_id, event_types=event_types, changed_by=changed_by, changes=changes, problems=problems
        )
        unchanged += _derived_import(tenant_id=tenant_id, derived=derived, changes=changes, problems=problems)
        if problems:
            specs.raise_problems(problems)  # rolls the whole plan back
    return PlanImportResult(changes=tuple(changes), unchanged=unchanged)


def _attributes_import(*, tenant_id: int, attributes: Sequence[tuple[int, Any]], changes: list[str]) -> int:
    """Create or update the plan's attribute definitions; returns how many were unchanged."""
    unchanged = 0
    for _index, spec in attributes:
        existing = selectors.attribute_definition_queryset(tenant_id=tenant_id).filter(name=spec.name).first()
        if existing is None:
            services.attribute_definition_create(tenant_id=tenant_id, spec=spec)
            changes.append(f"created attribute definition {spec.name}")
        elif services.attribute_definition_spec_of(existing) != spec:
            services.attribute_definition_update(definition=existing, spec=spec)
            changes.append(f"updated attribute definition {spec.name}")
        else:
            unchanged += 1
    return unchanged


def _event_types_import(
    *,
    tenant_id: int,
    event_types: Sequence[tuple[int, Any]],
    changed_by: str,
    changes: list[str],
    problems: list[FieldProblem],
) -> int:
    """Create or update the plan's event types (a new version when their contract changes);
    returns how many were unchanged."""
    unchanged = 0
    for index, spec in event_types:
        existing = selectors.event_type_queryset(tenant_id=tenant_id).filter(name=spec.name).first()
        if existing is None:
            services.event_type_create(tenant_id=tenant_id, spec=spec, changed_by=changed_by)
            changes.append(f"created event type {spec.name} (version 1)")
            continue
        before = specs.event_type_as_json(existing)
        try:
            updated = services.event_type_update(
                event_type=existing,
                description=spec.description,
                status=spec.status,
                allow_additional_properties=spec.allow_additional_properties,
                properties=spec.properties,
                changed_by=changed_by,
            )
        except ProblemError as error:
            problems.extend(_prefixed(error, "eventTypes", index))
            continue
        after = specs.event_type_as_json(selectors.event_type_by_name(tenant_id=tenant_id, name=spec.name))
        if after == before:
            unchanged += 1
        elif updated.version != before["version"]:
            changes.append(f"updated event type {spec.name} (version {before['version']} -> {updated.version})")
        else:
            changes.append(f"updated event type {spec.name} (version {updated.version} kept)")
    return unchanged


def _derived_import(
    *, tenant_id: int, derived: Sequence[tuple[int, Any]], changes: list[str], problems: list[FieldProblem]
) -> int:
    """Create the plan's new derived attributes (an existing one may not change); returns how
    many were unchanged."""
    unchanged = 0
    for index, spec in derived:
        existing = selectors.derived_attribute_queryset(tenant_id=tenant_id).filter(name=spec.name).first()
        if existing is not None:
            if services.derived_attribute_spec_of(existing) == spec:
                unchanged += 1
            else:
                problems.append(
                    FieldProblem(
                        pointer("derivedAttributes", index),
                        "immutable",
                        f"The derived attribute {spec.name!r} exists with another definition; "
                        "derived attributes cannot be changed, define one with a new name.",
                    )
                )
            continue
        try:
            services.derived_attribute_create(tenant_id=tenant_id, spec=spec)
        except ProblemError as error:
            problems.extend(_prefixed(error, "derivedAttributes", index))
            continue
        changes.append(f"created derived attribute {spec.name}")
    return unchanged
