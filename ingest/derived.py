"""Derived attributes (`count sum min max first last` of one event type's property over
all of a profile's events), kept current as events arrive and recomputed exactly from
the event store after merges and when a definition is created (DESIGN.md §6, API.md)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction

from contracts.selectors import derived_attribute_list
from contracts.types import DerivedAttributeInfo
from profiles.models import DerivedValue

from .models import Event


@dataclass
class _Fold:
    """The running aggregate of one definition for one profile."""

    count: int = 0
    value: object = None
    occurred_at: dt.datetime | None = None

    def add(self, aggregation: str, value: object, occurred_at: dt.datetime) -> bool:
        """Fold one event in; return whether the aggregate changed."""
        if aggregation == "count":
            self.count += 1
            self.value = self.count
            return True
        if value is None:
            return False
        self.count += 1
        if aggregation == "sum":
            self.value = _number(self.value or 0) + _number(value)
        elif aggregation == "min":
            if self.value is not None and _number(value) >= _number(self.value):
                return False
            self.value = value
        elif aggregation == "max":
            if self.value is not None and _number(value) <= _number(self.value):
                return False
            self.value = value
        elif aggregation == "first":
            if self.occurred_at is not None and occurred_at >= self.occurred_at:
                return False
            self.value, self.occurred_at = value, occurred_at
        elif aggregation == "last":
            if self.occurred_at is not None and occurred_at < self.occurred_at:
                return False
            self.value, self.occurred_at = value, occurred_at
        return True


def _number(value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return value


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a double: no numeric copy, the exact value stays in `value`
        return None
    return number if math.isfinite(number) else None


def _property(definition: DerivedAttributeInfo, properties: dict) -> object:
    if definition.property is None:
        return None
    value = properties.get(definition.property)
    if definition.aggregation in ("sum", "min", "max") and _as_number(value) is None:
        return None  # only numbers feed numeric aggregations (the contract makes them numbers)
    return value


def derived_definitions(*, tenant_id: int) -> dict[str, list[DerivedAttributeInfo]]:
    by_type: dict[str, list[DerivedAttributeInfo]] = defaultdict(list)
    for definition in derived_attribute_list(tenant_id=tenant_id):
        by_type[definition.event_type].append(definition)
    return by_type


def derived_apply_events(*, tenant_id: int, events: Sequence[Event]) -> int:
    """Fold newly stored events into their profiles' derived values, inside the ingest
    transaction: one read and at most two writes for the whole batch. Returns the
    number of values changed."""
    definitions = derived_definitions(tenant_id=tenant_id)
    relevant = [event for event in events if event.event_type in definitions]
    if not relevant:
        return 0
    names = {d.name for event in relevant for d in definitions[event.event_type]}
    profile_ids = {event.profile_id for event in relevant}
    rows = {
        (row.profile_id, row.name): row
        for row in DerivedValue.objects.filter(tenant_id=tenant_id, profile_id__in=profile_ids, name__in=names)
    }
    created: dict[tuple[uuid.UUID, str], DerivedValue] = {}
    changed: dict[tuple[uuid.UUID, str], DerivedValue] = {}
    for event in sorted(relevant, key=lambda e: (e.occurred_at, e.received_at)):
        for definition in definitions[event.event_type]:
            key = (event.profile_id, definition.name)
            row = rows.get(key) or DerivedValue(tenant_id=tenant_id, profile_id=event.profile_id, name=definition.name)
            fold = _Fold(count=row.count, value=row.value, occurred_at=row.occurred_at)
            value_changed = fold.add(definition.aggregation, _property(definition, event.properties), event.occurred_at)
            if not value_changed and fold.count == row.count:
                continue  # the event carried no value for this definition
            row.count, row.value, row.occurred_at = fold.count, fold.value, fold.occurred_at
            row.number = _as_number(fold.value)
            if key not in rows:
                rows[key] = created[key] = row
            elif key not in created:
                changed[key] = row
    DerivedValue.objects.bulk_create(created.values())
    if changed:
        DerivedValue.objects.bulk_update(changed.values(), ["count", "value", "number", "occurred_at"])
    return len(created) + len(changed)


def derived_recompute(
    *,
    tenant_id: int,
    profile_ids: Iterable[uuid.UUID] | None = None,
    names: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute derived values exactly from the event store: for the given profiles
    (a merge survivor) or the whole tenant (a backfill), for all or the named
    definitions. Streams events in (profile, time) order; returns values written."""
    definitions = derived_definitions(tenant_id=tenant_id)
    wanted = set(names) if names is not None else None
    selected = {
        event_type: [d for d in items if wanted is None or d.name in wanted]
        for event_type, items in definitions.items()
    }
    selected = {event_type: items for event_type, items in selected.items() if items}
    all_names = {d.name for items in selected.values() for d in items}
    scope = DerivedValue.objects.filter(tenant_id=tenant_id, name__in=all_names)
    events = Event.objects.filter(tenant_id=tenant_id, event_type__in=list(selected))
    if profile_ids is not None:
        ids = list(set(profile_ids))
        scope = scope.filter(profile_id__in=ids)
        events = events.filter(profile_id__in=ids)
    scope.delete()
    if not selected:
        return 0

    written = 0
    buffer: list[DerivedValue] = []
    current: uuid.UUID | None = None
    folds: dict[str, tuple[DerivedAttributeInfo, _Fold]] = {}

    def flush() -> None:
        nonlocal written
        for name, (_definition, fold) in folds.items():
            if fold.count:
                buffer.append(
                    DerivedValue(
                        tenant_id=tenant_id,
                        profile_id=current,
                        name=name,
                        value=fold.value,
                        number=_as_number(fold.value),
                        count=fold.count,
                        occurred_at=fold.occurred_at,
                    )
                )
        folds.clear()
        if len(buffer) >= 1000:
            DerivedValue.objects.bulk_create(buffer)
            written += len(buffer)
            buffer.clear()

    seen = 0
    rows = events.order_by("profile_id", "occurred_at", "received_at", "id").values_list(
        "profile_id", "event_type", "occurred_at", "properties"
    )
    for profile_id, event_type, occurred_at, properties in rows.iterator(chunk_size=2000):
        if profile_id != current:
            if current is not None:
                flush()
            current = profile_id
        for definition in selected[event_type]:
            _, fold = folds.setdefault(definition.name, (definition, _Fold()))
            fold.add(definition.aggregation, _property(definition, properties), occurred_at)
        seen += 1
        if progress is not None and seen % 1000 == 0:
            progress(seen)
    if current is not None:
        flush()
    if buffer:
        DerivedValue.objects.bulk_create(buffer)
        written += len(buffer)
    if progress is not None:
        progress(seen)
    return written


def derived_backfill_on_create(*, tenant_id: int, name: str) -> None:
    """A new definition gets its values from every stored event at once. Fine for the
    event volumes one request can scan; a large tenant runs `derived_recompute` instead,
    and this then costs one scan per definition."""
    with transaction.atomic():
        derived_recompute(tenant_id=tenant_id, names=[name])
