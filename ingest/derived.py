"""Derived attributes (`count sum min max first last` of one event type's property over
all of a profile's events), kept current as events arrive and recomputed exactly from
the event store after merges and when a definition is created (DESIGN.md §6, API.md)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cdp_project.core.bulk import tenant_rechecked
from cdp_project.core.jsonvalues import canonical_json
from cdp_project.core.retries import run_with_retries
from contracts.selectors import derived_attribute_list
from contracts.services import derived_attribute_backfill_finish, derived_attributes_job_finish
from contracts.types import DerivedAttributeInfo
from jobs.models import Job
from jobs.registry import Progress
from profiles.locks import profiles_lock
from profiles.selectors import derived_values_stored
from profiles.services import derived_values_create, derived_values_delete, derived_values_save

from .models import Event

# Sums are added in exact decimal arithmetic (inputs are at most 1e15 with ~17 significant
# digits), so a total never depends on the order events arrive in.
_EXACT = decimal.Context(prec=120)


@dataclass
class _Fold:
    """The running aggregate of one definition for one profile. Every rule is a total
    order on the data alone (ties broken by the value's canonical JSON), so folding the
    same events in any order gives the same result as a recompute."""

    count: int = 0
    value: object = None
    occurred_at: dt.datetime | None = None
    exact: str = ""

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
            total = _EXACT.add(decimal.Decimal(self.exact or "0"), _decimal(value))
            self.exact = str(total)
            self.value = int(total) if total == total.to_integral_value() and _all_ints(self, value) else float(total)
            return True
        if aggregation in ("min", "max"):
            if self.value is not None:
                new, old = (_number(value), canonical_json(value)), (_number(self.value), canonical_json(self.value))
                if (new >= old) if aggregation == "min" else (new <= old):
                    return False
            self.value = value
            return True
        if aggregation in ("first", "last"):
            if self.occurred_at is not None:
                new_key = (occurred_at, canonical_json(value))
                old_key = (self.occurred_at, canonical_json(self.value))
                if (new_key >= old_key) if aggregation == "first" else (new_key <= old_key):
                    return False
            self.value, self.occurred_at = value, occurred_at
            return True
        return False


def _decimal(value: object) -> decimal.Decimal:
    number = _number(value)
    return decimal.Decimal(number) if isinstance(number, int) else decimal.Decimal(repr(number))


def _all_ints(fold: _Fold, value: object) -> bool:
    # An integer total stays an integer only while every added value was one.
    previous_ints = fold.count == 1 or isinstance(fold.value, int)
    return previous_ints and isinstance(value, int) and not isinstance(value, bool)


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


@dataclass(slots=True)
class _Value:
    """A derived value as the ingest path folds it (a plain row, no model instance)."""

    pk: int | None
    profile_id: uuid.UUID
    name: str
    count: int = 0
    value: object = None
    occurred_at: dt.datetime | None = None
    exact: str = ""
    number: float | None = None


def derived_apply_events(
    *, tenant_id: int, events: Sequence[Event], definitions: Mapping[str, Sequence[DerivedAttributeInfo]] | None = None
) -> int:
    """Fold newly stored events into their profiles' derived values, inside the ingest
    transaction: one read and at most two writes for the whole batch. Returns the
    number of values changed. `definitions`: the tenant's, when the caller has them."""
    if definitions is None:
        definitions = derived_definitions(tenant_id=tenant_id)
    relevant = [event for event in events if event.event_type in definitions]
    if not relevant:
        return 0
    names = {d.name for event in relevant for d in definitions[event.event_type]}
    profile_ids = {event.profile_id for event in relevant}
    stored = derived_values_stored(tenant_id=tenant_id, profile_ids=profile_ids, names=names)
    rows = {
        (profile_id, name): _Value(pk, profile_id, name, count, value, occurred_at, exact)
        for pk, profile_id, name, count, value, occurred_at, exact in stored
    }
    created: dict[tuple[uuid.UUID, str], _Value] = {}
    changed: dict[tuple[uuid.UUID, str], _Value] = {}
    for event in sorted(relevant, key=lambda e: (e.occurred_at, e.received_at)):
        for definition in definitions[event.event_type]:
            key = (event.profile_id, definition.name)
            row = rows.get(key) or _Value(None, event.profile_id, definition.name)
            fold = _Fold(count=row.count, value=row.value, occurred_at=row.occurred_at, exact=row.exact)
            value_changed = fold.add(definition.aggregation, _property(definition, event.properties), event.occurred_at)
            if not value_changed and fold.count == row.count:
                continue  # the event carried no value for this definition
            row.count, row.value, row.occurred_at, row.exact = fold.count, fold.value, fold.occurred_at, fold.exact
            row.number = _as_number(fold.value)
            if key not in rows:
                rows[key] = created[key] = row
            elif key not in created:
                changed[key] = row
    derived_values_save(
        tenant_id=tenant_id,
        created=[(r.profile_id, r.name, r.value, r.number, r.count, r.occurred_at, r.exact) for r in created.values()],
        changed=[(r.pk, r.count, r.value, r.number, r.occurred_at, r.exact) for r in changed.values()],
        now=timezone.now(),
    )
    return len(created) + len(changed)


def derived_recompute(
    *,
    tenant_id: int,
    profile_ids: Iterable[uuid.UUID] | None = None,
    names: Iterable[str] | None = None,
    progress: Callable[[int], None] | None = None,
    after: uuid.UUID | None = None,
    on_chunk: Callable[[uuid.UUID, int, int], None] | None = None,
) -> int:
    """Recompute derived values exactly from the event store, for all or the named
    definitions; returns the values written.

    With `profile_ids` (a merge survivor) it runs inside the caller's transaction, which
    already holds those profiles' row locks. Without (a backfill or a repair of the whole
    tenant) it works through the profiles in id order, a chunk per transaction: each chunk
    first locks its profile rows (DESIGN.md §8 order, as ingestion and merges do), so it
    waits for, and never deadlocks with, ingestion of the same customers; a chunk that
    still meets a deadlock is retried.

    `after` resumes behind that profile id. `on_chunk(last_profile_id, profiles_seen,
    values_written)` runs inside each chunk's transaction, so what it records (a job's
    checkpoint) commits together with the chunk, or not at all."""
    selected = _selected(tenant_id=tenant_id, names=names)
    if profile_ids is not None:
        return _recompute_profiles(tenant_id=tenant_id, selected=selected, profile_ids=sorted(set(profile_ids)))
    if not selected:
        return 0
    written = seen = 0
    last = after
    while True:
        ids = _next_profiles(tenant_id=tenant_id, selected=selected, after=last)
        if not ids:
            break

        def chunk(ids: list[uuid.UUID] = ids, seen: int = seen, written: int = written) -> int:
            with transaction.atomic():
                count = _recompute_profiles(tenant_id=tenant_id, selected=selected, profile_ids=ids)
                if on_chunk is not None:
                    on_chunk(ids[-1], seen + len(ids), written + count)
                return count

        written += run_with_retries(chunk)
        last = ids[-1]
        seen += len(ids)
        if progress is not None:
            progress(seen)
    return written


def _selected(*, tenant_id: int, names: Iterable[str] | None) -> dict[str, list[DerivedAttributeInfo]]:
    wanted = set(names) if names is not None else None
    selected = {
        event_type: [d for d in items if wanted is None or d.name in wanted]
        for event_type, items in derived_definitions(tenant_id=tenant_id).items()
    }
    return {event_type: items for event_type, items in selected.items() if items}


def _next_profiles(
    *, tenant_id: int, selected: dict[str, list[DerivedAttributeInfo]], after: uuid.UUID | None
) -> list[uuid.UUID]:
    events = Event.objects.filter(tenant_id=tenant_id, event_type__in=list(selected))
    if after is not None:
        events = events.filter(profile_id__gt=after)
    chunk = settings.CDP_DERIVED_CHUNK_PROFILES
    return list(events.order_by("profile_id").values_list("profile_id", flat=True).distinct()[:chunk])


def _recompute_profiles(
    *, tenant_id: int, selected: dict[str, list[DerivedAttributeInfo]], profile_ids: list[uuid.UUID]
) -> int:
    if not selected or not profile_ids:
        return 0
    profiles_lock(tenant_id=tenant_id, profile_ids=profile_ids)
    names = {d.name for items in selected.values() for d in items}
    derived_values_delete(tenant_id=tenant_id, profile_ids=profile_ids, names=names)
    folds: dict[tuple[uuid.UUID, str], _Fold] = {}
    rows = (
        tenant_rechecked(Event.objects.filter(event_type__in=list(selected), profile_id__in=profile_ids), tenant_id)
        .values_list("profile_id", "event_type", "occurred_at", "properties")
        .iterator(chunk_size=2000)
    )
    for profile_id, event_type, occurred_at, properties in rows:
        for definition in selected[event_type]:
            fold = folds.setdefault((profile_id, definition.name), _Fold())
            fold.add(definition.aggregation, _property(definition, properties), occurred_at)
    values = [
        (profile_id, name, fold.value, _as_number(fold.value), fold.count, fold.occurred_at, fold.exact)
        for (profile_id, name), fold in folds.items()
        if fold.count
    ]
    derived_values_create(tenant_id=tenant_id, rows=values)
    return len(values)


def _derived_recompute_resumable(*, job: Job, names: list[str], progress: Progress) -> dict[str, int]:
    """A whole-tenant recompute that checkpoints after every chunk, in the chunk's own
    transaction, and starts again behind the last committed chunk when run again. Redoing a
    chunk is harmless: a chunk replaces its profiles' values by exact ones."""
    checkpoint = job.checkpoint or {}
    after = uuid.UUID(checkpoint["after"]) if checkpoint.get("after") else None
    done, written_before = checkpoint.get("done", 0), checkpoint.get("written", 0)
    total = done + derived_profiles_count_after(tenant_id=job.tenant_id, names=names, after=after)
    progress(done=done, total=total)

    def on_chunk(last: uuid.UUID, seen: int, written: int) -> None:
        progress(
            done=done + seen,
            total=max(total, done + seen),
            checkpoint={"after": str(last), "done": done + seen, "written": written_before + written},
        )

    written = derived_recompute(tenant_id=job.tenant_id, names=names, after=after, on_chunk=on_chunk)
    return {"profiles": max(total, done), "valuesWritten": written_before + written, "resumedFrom": done}


def derived_profiles_count_after(*, tenant_id: int, names: Iterable[str], after: uuid.UUID | None) -> int:
    """How many profiles a recompute of these definitions still visits behind `after`."""
    selected = _selected(tenant_id=tenant_id, names=names)
    if not selected:
        return 0
    events = Event.objects.filter(tenant_id=tenant_id, event_type__in=list(selected))
    if after is not None:
        events = events.filter(profile_id__gt=after)
    return events.values("profile_id").distinct().count()


def derived_backfill_job(job: Job, params: dict, progress: Progress) -> dict[str, object]:
    """Job `derived.backfill`: compute a new definition's values from every stored event, then
    mark it ready. Resumable from its checkpoint; a definition deleted meanwhile ends it."""
    definitions = derived_attribute_list(tenant_id=job.tenant_id)
    definition = next((d for d in definitions if d.id == params["definition"]), None)
    if definition is None:
        return {"skipped": "the derived attribute was deleted"}
    result = _derived_recompute_resumable(job=job, names=[definition.name], progress=progress)
    derived_attribute_backfill_finish(tenant_id=job.tenant_id, definition_id=definition.id, job_id=job.pk)
    return result


def derived_recompute_job(job: Job, params: dict, progress: Progress) -> dict[str, object]:
    """Job `derived.recompute`: recompute the named definitions (those that still exist), then
    mark those still in its charge ready. Resumable from its checkpoint."""
    existing = {d.name for d in derived_attribute_list(tenant_id=job.tenant_id)}
    names = [name for name in params["names"] if name in existing]
    result = _derived_recompute_resumable(job=job, names=names, progress=progress)
    derived_attributes_job_finish(tenant_id=job.tenant_id, job_id=job.pk)
    return result
