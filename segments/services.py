"""Writes of the segments app, and the check that keeps saved segments valid when the
contracts change (registered with `contracts.hooks` in SegmentsConfig.ready())."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from cdp_project.core.errors import FieldProblem, Problem, already_exists, problems_detail
from cdp_project.core.serializers import body_parse
from contracts.types import FieldSpec

from .language import ContractView, definition_check, definition_references
from .models import Segment
from .serializers import SegmentReplaceSerializer, SegmentSerializer
from .types import SegmentSpec


def _raise(problems: Sequence[FieldProblem]) -> None:
    if problems:
        raise Problem.INVALID_SEGMENT.error(problems_detail(len(problems), "the segment"), tuple(problems))


def segment_spec_parse(*, tenant_id: int, body: Mapping[str, Any], key: str | None = None) -> SegmentSpec:
    """Read `{"key", "name", "definition"}` (`serializers.SegmentSerializer`) and check the
    definition against the tenant's contracts; a 422 lists every problem, with pointers
    (`/definition/all/2/op`). With `key` (a PUT), the body's key may be left out, and must
    match when given."""
    serializer = SegmentSerializer if key is None else SegmentReplaceSerializer
    parsed, problems = body_parse(serializer, body, context={"tenant_id": tenant_id, "key": key})
    _raise(problems)
    assert parsed is not None
    return SegmentSpec(key=key or parsed["key"], name=parsed["name"], definition=parsed["definition"])


def _check(*, tenant_id: int, definition: Any) -> None:
    _, problems = definition_check(definition=definition, contract=ContractView(tenant_id=tenant_id))
    _raise(problems)


def segment_create(*, tenant_id: int, spec: SegmentSpec) -> Segment:
    """Save a new segment; its definition must check (422), its key be free (409)."""
    _check(tenant_id=tenant_id, definition=spec.definition)
    try:
        with transaction.atomic():
            return Segment.objects.create(tenant_id=tenant_id, key=spec.key, name=spec.name, definition=spec.definition)
    except IntegrityError:
        raise already_exists(f"A segment {spec.key!r} exists already.") from None


def segment_update(*, segment: Segment, spec: SegmentSpec) -> Segment:
    """Replace a segment's name and definition (the key stays)."""
    _check(tenant_id=segment.tenant_id, definition=spec.definition)
    segment.name = spec.name
    segment.definition = spec.definition
    segment.save(update_fields=["name", "definition", "updated_at"])
    return segment


def segment_contract_dependents(
    *,
    tenant_id: int,
    event_type: str | None = None,
    attribute: str | None = None,
    derived: str | None = None,
    changes: Sequence[FieldSpec] = (),
) -> list[str]:
    """The saved segments a contract change would break, in words. `changes` is the new
    set of properties of `event_type`, or the new definition of `attribute` (empty: it
    is removed); `derived` names a derived attribute that would be deleted. A segment
    breaks when a field it uses disappears, stops being filterable, changes type, or no
    longer accepts the segment's values."""
    if event_type is not None:
        contract = ContractView(tenant_id=tenant_id, property_overrides={event_type: tuple(changes)})
    elif derived is not None:
        contract = ContractView(tenant_id=tenant_id, derived_removed=frozenset({derived}))
    else:
        assert attribute is not None
        contract = ContractView(tenant_id=tenant_id, attribute_overrides={attribute: changes[0] if changes else None})
    new_types = {spec.name: spec.type for spec in changes}
    current = ContractView(tenant_id=tenant_id)
    broken: list[str] = []
    for segment in Segment.objects.filter(tenant_id=tenant_id).order_by("key"):
        used = [
            ref
            for ref in definition_references(definition=segment.definition, contract=current)
            if (ref.kind == "attribute" and ref.name == attribute)
            or (ref.kind == "property" and ref.event_type == event_type)
            or (ref.kind == "derived" and (derived is None or ref.name == derived))
        ]
        if not used:
            continue
        _, already = definition_check(definition=segment.definition, contract=current)
        _, after = definition_check(definition=segment.definition, contract=contract)
        problems = [p for p in after if p not in already]
        retyped = [
            ref for ref in used if ref.kind != "derived" and ref.name in new_types and new_types[ref.name] != ref.type
        ]
        reasons = [f"{p.pointer}: {p.detail}" for p in problems]
        reasons += [f"{ref.pointer}: {ref.name!r} would change type from {ref.type}." for ref in retyped]
        if reasons:
            broken.append(f"segment '{segment.key}' ({'; '.join(reasons)})")
    return broken
