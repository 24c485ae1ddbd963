"""Writes of the ingest app: idempotent ingestion of events and profile updates.

One pipeline serves `/events`, `/events/batch`, `/events/validate` and
`/profile-updates`: every item is checked first (no write), then all accepted items of
a request are applied in array order inside one durable transaction that starts by
claiming their idempotency keys, so effects and keys become visible together and a
concurrent duplicate waits on the key and then answers `duplicate`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, connection, transaction

from cdp_project.core.bulk import SMALL_INSERT, array_literal, rows_insert, statements_pipelined, tenant_rechecked
from cdp_project.core.compiled import prepared_cursor
from cdp_project.core.errors import Problem, already_exists, problems_detail
from cdp_project.core.retries import run_with_retries
from channels.services import channel_update_apply
from identity.resolver import ResolveRequest, identities_resolve, identity_resolve
from identity.suppression import suppressed_indexes
from identity.types import Resolution
from profiles.selectors import profiles_live_ids
from tenants.models import Tenant

from .context import ContextChanged, ingest_context, ingest_context_check, ingest_context_verified
from .derived import derived_apply_events
from .metrics import ingest_items_count
from .models import ChannelUpdate, Event, IdempotencyKey, ProfileUpdate, RecordKind, Source, Violation
from .pipeline import IngestContext, Prepared, prepare_channel_update, prepare_event, prepare_profile_update
from .quarantine import quarantine_keep
from .types import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, SUPPRESSED, ItemResult

SAMPLE_LIMIT = 2_000

# --- sources -----------------------------------------------------------------------


def source_create(*, tenant: Tenant, key: str, name: str = "") -> Source:
    try:
        with transaction.atomic():
            return Source.objects.create(tenant=tenant, key=key, name=name or key)
    except IntegrityError:
        raise already_exists(f"A source {key!r} exists already.") from None


def source_update(*, source: Source, name: str) -> Source:
    source.name = name
    source.save(update_fields=["name", "updated_at"])
    return source


# --- ingestion -----------------------------------------------------------------------


def events_ingest(*, tenant: Tenant, events: Sequence[Any], dry_run: bool = False) -> list[ItemResult]:
    """Ingest events in array order. Each item gets its own result; a bad item never
    rejects the others. With `dry_run` nothing at all is written (not even a violation)."""
    return _ingest(tenant=tenant, raws=events, prepare=prepare_event, dry_run=dry_run)


def profile_updates_ingest(*, tenant: Tenant, updates: Sequence[Any], dry_run: bool = False) -> list[ItemResult]:
    """Ingest profile updates; per attribute the latest occurredAt wins, whatever the arrival order."""
    return _ingest(tenant=tenant, raws=updates, prepare=prepare_profile_update, dry_run=dry_run)


def channel_updates_ingest(*, tenant: Tenant, updates: Sequence[Any], dry_run: bool = False) -> list[ItemResult]:
    """Ingest channel updates: the resolved profile claims the endpoint; consent and
    reachability change per field by the latest occurredAt."""
    return _ingest(tenant=tenant, raws=updates, prepare=prepare_channel_update, dry_run=dry_run)


def _ingest(
    *, tenant: Tenant, raws: Sequence[Any], prepare: Callable[[int, Any, IngestContext], Prepared], dry_run: bool
) -> list[ItemResult]:
    # A context this process holds is used unchecked; the transaction that applies the items
    # checks it in its first round trip (_apply). Changed since: load it again, check the items
    # again, with a context now compared with the database (so at most once).
    ctx = ingest_context(tenant=tenant, verified=False)
    while True:
        items = [prepare(index, raw, ctx) for index, raw in enumerate(raws)]
        valid = [item for item in items if item.ok]
        results: dict[int, ItemResult] = {}
        if ctx.unverified is not None and (dry_run or not valid):  # no transaction will check it
            ctx, changed = ingest_context_verified(ctx)
            if changed:
                continue
        if valid and dry_run:
            results.update(_dry_run(ctx, valid))
        elif valid:
            try:
                results.update(_apply_retried(ctx, valid))
            except ContextChanged:
                ctx = ingest_context(tenant=tenant)
                continue
        break
    for item in items:
        if not item.ok:
            results[item.index] = ItemResult(
                index=item.index,
                status=REJECTED,
                error=item.problem,
                detail=problems_detail(
                    len(item.problems), f"event {item.event_type!r}" if item.event_type else "the item"
                ),
                problems=tuple(item.problems),
            )
    ordered = [results[index] for index in range(len(items))]
    if not dry_run:
        _violations_record(ctx, items, ordered)
        ingest_items_count(items=items, results=ordered)
    return ordered


def _apply_retried(ctx: IngestContext, valid: Sequence[Prepared]) -> dict[int, ItemResult]:
    suppressed: set[int] = set()

    def attempt() -> dict[int, ItemResult]:
        try:
            return _apply(ctx, valid, suppressed)
        except _SuppressedFound as found:  # an erasure committed while we resolved: again, without them
            suppressed.update(found.indexes)
            return _apply(ctx, valid, suppressed)

    return run_with_retries(attempt)


@dataclass(frozen=True, slots=True)
class _Key:
    """A claimed or stored idempotency key, as the pipeline reads it (no model instance)."""

    kind: str
    fingerprint: str
    record_id: uuid.UUID
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class _Original:
    """What a replay answers of the record it repeats."""

    profile_id: uuid.UUID
    resolution: dict[str, Any]


def _existing_keys(tenant: Tenant, items: Sequence[Prepared]) -> dict[tuple[int, str], _Key]:
    """The stored keys of these items. On PostgreSQL each key is looked up by the whole of the
    unique (tenant, source, external_id) index, one equality each: given the external ids as a
    list, the planner may walk the source's whole range of that index and filter them instead
    (its cheapest-looking path while the statistics have not seen the source's keys)."""
    keys = sorted({item.key for item in items})
    if connection.vendor == "postgresql":
        with prepared_cursor(connection) as cursor:
            cursor.execute(
                "SELECT u.source_id, u.external_id, k.kind, k.fingerprint, k.record_id, k.created_at"
                " FROM unnest(%s::bigint[], %s::varchar[]) AS u(source_id, external_id)"
                " CROSS JOIN LATERAL (SELECT kind, fingerprint, record_id, created_at FROM ingest_idempotencykey"
                " WHERE tenant_id = %s AND source_id = u.source_id AND external_id = u.external_id LIMIT 1) AS k",
                [array_literal([k[0] for k in keys]), array_literal([k[1] for k in keys]), tenant.pk],
            )
            rows = cursor.fetchall()
    else:
        rows = IdempotencyKey.objects.filter(
            tenant=tenant, source_id__in={k[0] for k in keys}, external_id__in={k[1] for k in keys}
        ).values_list("source_id", "external_id", "kind", "fingerprint", "record_id", "created_at")
    return {(source_id, external_id): _Key(*rest) for source_id, external_id, *rest in rows}


def _claim_keys(ctx: IngestContext, items: Sequence[Prepared]) -> dict[tuple[int, str], _Key]:
    """Insert the keys of the first occurrence of every key in the request, in one
    statement that says which it inserted; only keys that were there already are read
    back. On PostgreSQL an insert that meets an uncommitted key waits for that
    transaction, so of concurrent duplicates exactly one claims the key."""
    first: dict[tuple[int, str], Prepared] = {}
    for item in items:
        first.setdefault(item.key, item)
    # Sorted, so two requests sharing keys insert them in one order and cannot deadlock on them.
    ordered = [item for _key, item in sorted(first.items(), key=lambda pair: pair[0])]
    assert IdempotencyKey._meta.db_table == "ingest_idempotencykey"
    with prepared_cursor(connection) as cursor:
        if connection.vendor == "postgresql":
            # One array per column, unnested server-side (in array order): a handful of
            # parameters whatever the batch size, not seven rendered per row.
            cursor.execute(
                "INSERT INTO ingest_idempotencykey"
                " (tenant_id, source_id, external_id, kind, fingerprint, record_id, created_at)"
                " SELECT %s, k.source_id, k.external_id, k.kind, k.fingerprint, k.record_id, %s"
                " FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::varchar[], %s::uuid[])"
                " AS k(source_id, external_id, kind, fingerprint, record_id)"
                " ON CONFLICT (tenant_id, source_id, external_id) DO NOTHING RETURNING id, source_id, external_id",
                [
                    ctx.tenant.pk,
                    ctx.now,
                    array_literal([item.key[0] for item in ordered]),
                    array_literal([item.external_id for item in ordered]),
                    array_literal([item.kind for item in ordered]),
                    array_literal([item.fingerprint for item in ordered]),
                    array_literal([item.record_id for item in ordered]),
                ],
            )
        else:
            record_field = IdempotencyKey._meta.get_field("record_id")
            stamp = IdempotencyKey._meta.get_field("created_at").get_db_prep_value(ctx.now, connection)
            params: list[object] = []
            for item in ordered:
                params += [
                    ctx.tenant.pk,
                    item.key[0],
                    item.external_id,
                    item.kind,
                    item.fingerprint,
                    record_field.get_db_prep_value(item.record_id, connection),
                    stamp,
                ]
            rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(ordered))
            cursor.execute(
                "INSERT INTO ingest_idempotencykey"  # noqa: S608 - only placeholders are interpolated
                " (tenant_id, source_id, external_id, kind, fingerprint, record_id, created_at)"
                f" VALUES {rows}"
                " ON CONFLICT (tenant_id, source_id, external_id) DO NOTHING RETURNING id, source_id, external_id",
                params,
            )
        inserted = {(source_id, external_id): pk for pk, source_id, external_id in cursor.fetchall()}
    keys = {
        key: _Key(item.kind, item.fingerprint, item.record_id, ctx.now)
        for key, item in first.items()
        if key in inserted
    }
    others = [item for key, item in first.items() if key not in inserted]
    if others:
        keys.update(_existing_keys(ctx.tenant, others))
    return keys


def _replay_result(
    item: Prepared, key: _Key, originals: dict[uuid.UUID, Any], live: dict[uuid.UUID, uuid.UUID]
) -> ItemResult:
    if key.kind != item.kind or key.fingerprint != item.fingerprint:
        return ItemResult(
            index=item.index,
            status=CONFLICT,
            record_id=key.record_id,
            error=Problem.IDEMPOTENCY_CONFLICT,
            detail=(
                f"The key ({item.source_key}, {item.external_id}) was already used on "
                f"{key.created_at.isoformat()} for a different {RecordKind(key.kind).label}; nothing was applied."
            ),
        )
    original = originals.get(key.record_id)
    profile_id = live.get(original.profile_id, original.profile_id) if original is not None else None
    return ItemResult(
        index=item.index,
        status=DUPLICATE,
        record_id=key.record_id,
        profile_id=profile_id,
        resolution=original.resolution if original is not None else None,
    )


def _originals(tenant: Tenant, keys: Sequence[_Key]) -> tuple[dict[uuid.UUID, Any], dict[uuid.UUID, uuid.UUID]]:
    """The stored records behind replayed keys, and the live profile each now belongs to."""
    by_kind: dict[str, list[uuid.UUID]] = {}
    for key in keys:
        by_kind.setdefault(key.kind, []).append(key.record_id)
    found: dict[uuid.UUID, Any] = {}
    for kind, model in (
        (RecordKind.EVENT, Event),
        (RecordKind.PROFILE_UPDATE, ProfileUpdate),
        (RecordKind.CHANNEL_UPDATE, ChannelUpdate),
    ):
        if by_kind.get(kind):
            rows = tenant_rechecked(model.objects.filter(id__in=by_kind[kind]), tenant.pk)
            rows = rows.values_list("id", "profile_id", "resolution")
            found.update((pk, _Original(profile_id, resolution)) for pk, profile_id, resolution in rows)
    live = profiles_live_ids(tenant_id=tenant.pk, profile_ids={record.profile_id for record in found.values()})
    return found, live


def _trigger(item: Prepared) -> str:
    return f"{RecordKind(item.kind).label} {item.source_key}/{item.external_id}"


# --- one handler per record kind -----------------------------------------------------

COMMON_COLUMNS = (
    "id",
    "tenant",
    "source",
    "external_event_id",
    "occurred_at",
    "received_at",
    "profile",
    "identity",
    "resolution",
    "fingerprint",
)


@dataclass(frozen=True)
class Accepted:
    """An item of the batch that applies, with the resolution of its identity map and the
    live profile it lands on once the whole batch resolved."""

    item: Prepared
    resolution: Resolution
    profile_id: uuid.UUID
    public: dict[str, Any]  # the resolution as stored and answered


class RecordHandler:
    """How one record kind is applied and stored; `_apply` knows nothing else about it."""

    model: type[Event] | type[ProfileUpdate] | type[ChannelUpdate]
    columns: tuple[str, ...] = ()

    def attributes(self, item: Prepared) -> dict[str, Any] | None:
        """Attribute values the resolution applies to the profile right after the map resolved."""
        return None

    def values(self, ctx: IngestContext, accepted: Sequence[Accepted]) -> list[tuple[object, ...]]:
        """The kind's own columns of each stored record (after its effects, if any)."""
        raise NotImplementedError

    def stored(self, ctx: IngestContext, rows: Sequence[tuple[object, ...]]) -> None:
        """Runs after the records were inserted."""


@dataclass(frozen=True)
class _EventView:
    """What derived values read of a stored event."""

    event_type: str
    profile_id: uuid.UUID
    properties: dict[str, Any]
    occurred_at: dt.datetime
    received_at: dt.datetime


class EventHandler(RecordHandler):
    model = Event
    columns = ("event_type", "contract_version", "properties")

    def values(self, ctx: IngestContext, accepted: Sequence[Accepted]) -> list[tuple[object, ...]]:
        return [(a.item.event_type, a.item.contract_version or 0, a.item.body) for a in accepted]

    def stored(self, ctx: IngestContext, rows: Sequence[tuple[object, ...]]) -> None:
        # Columns: COMMON_COLUMNS + ours, in that order.
        derived_apply_events(
            tenant_id=ctx.tenant.pk,
            events=[_EventView(row[10], row[6], row[12], row[4], row[5]) for row in rows],  # type: ignore[arg-type]
            definitions=ctx.derived,
        )


class ProfileUpdateHandler(RecordHandler):
    model = ProfileUpdate
    columns = ("attributes", "changed")

    def attributes(self, item: Prepared) -> dict[str, Any] | None:
        return item.body

    def values(self, ctx: IngestContext, accepted: Sequence[Accepted]) -> list[tuple[object, ...]]:
        return [(a.item.body, list(a.resolution.changed_attributes)) for a in accepted]


class ChannelUpdateHandler(RecordHandler):
    model = ChannelUpdate
    columns = ("update", "outcome")

    def values(self, ctx: IngestContext, accepted: Sequence[Accepted]) -> list[tuple[object, ...]]:
        # Endpoint state is per address: each update applies in order, on the live profile.
        return [
            (
                a.item.body,
                channel_update_apply(
                    tenant_id=ctx.tenant.pk,
                    profile_id=a.profile_id,
                    spec=a.item.channel_update,
                    occurred_at=a.item.occurred_at,  # type: ignore[arg-type]
                    source=a.item.source_key,
                    trigger=_trigger(a.item),
                ),
            )
            for a in accepted
        ]


HANDLERS: dict[str, RecordHandler] = {
    RecordKind.EVENT: EventHandler(),
    RecordKind.PROFILE_UPDATE: ProfileUpdateHandler(),
    RecordKind.CHANNEL_UPDATE: ChannelUpdateHandler(),
}


class _SuppressedFound(Exception):
    """Items whose identity holds a suppressed identifier, found after resolution: the
    transaction is rolled back and applied again with those items claimed and stored not."""

    def __init__(self, indexes: set[int]) -> None:
        super().__init__(f"{len(indexes)} suppressed items")
        self.indexes = indexes


def _suppressed_check(ctx: IngestContext, items: Sequence[Prepared], known: set[int]) -> None:
    """Checked after resolution, under the identifier locks an erasure also takes, so an
    erasure that commits while this request waits on its locks is seen here."""
    identities = [item.identity.values for item in items]  # type: ignore[union-attr]
    new = {items[position].index for position in suppressed_indexes(tenant=ctx.tenant, identities=identities)}
    if new - known:
        raise _SuppressedFound(new - known)


def _apply(
    ctx: IngestContext, items: Sequence[Prepared], suppressed: set[int] | frozenset[int] = frozenset()
) -> dict[int, ItemResult]:
    """Apply the valid items of one request in one durable transaction: claim their keys,
    resolve every map of the batch set-based, apply each kind's effects, store the records."""
    with transaction.atomic(durable=True):
        # The opening round trip: BEGIN, the context's version question (if the context is
        # unverified) and the claim of the keys travel together.
        with statements_pipelined():
            context_current = ingest_context_check(ctx)
            keys = _claim_keys(ctx, items)
        context_current()
        ours = {item.record_id for item in items}
        claimed = {k: row for k, row in keys.items() if row.record_id in ours}
        replays = [row for k, row in keys.items() if k not in claimed]
        originals, live = _originals(ctx.tenant, replays)

        results: dict[int, ItemResult] = {}
        applied: dict[tuple[int, str], Prepared] = {}
        to_apply: list[Prepared] = []
        deferred: list[Prepared] = []
        for item in items:
            if item.key in applied or item.key not in claimed or keys[item.key].record_id != item.record_id:
                deferred.append(item)
            elif item.index in suppressed:
                # The key is claimed (a replay answers duplicate); nothing else is stored.
                applied[item.key] = item
                results[item.index] = ItemResult(index=item.index, status=SUPPRESSED)
            else:
                applied[item.key] = item
                to_apply.append(item)

        accepted, survivors = _resolve(ctx, to_apply, suppressed)
        with statements_pipelined(enabled=_pipeline_fits(to_apply)):
            _store(ctx, to_apply, accepted)
        for a in accepted.values():
            results[a.item.index] = ItemResult(
                index=a.item.index,
                status=ACCEPTED,
                record_id=a.item.record_id,
                profile_id=a.profile_id,
                resolution=a.public,
                warnings=tuple(a.item.warnings),
            )
        for item in deferred:
            earlier = applied.get(item.key)
            if earlier is not None:  # the same key twice in one request
                results[item.index] = _repeat_in_request(item, earlier, results[earlier.index])
            else:
                result = _replay_result(item, keys[item.key], originals, live)
                if result.profile_id is not None:
                    result = _with_profile(result, _chase(survivors, result.profile_id))
                results[item.index] = result
    return results


def _pipeline_fits(items: Sequence[Prepared]) -> bool:
    """A few events are stored in psycopg's pipeline mode: the event's INSERT travels with
    the read of its derived values instead of a round trip of its own, which a single event,
    most of whose time is round trips, feels. Storing events runs no other app's code (their
    merges ran during resolution); larger batches keep COPY, which cannot be pipelined."""
    return len(items) <= SMALL_INSERT and all(item.kind == RecordKind.EVENT for item in items)


def _resolve(
    ctx: IngestContext, to_apply: Sequence[Prepared], suppressed: set[int] | frozenset[int]
) -> tuple[dict[int, Accepted], dict[uuid.UUID, uuid.UUID]]:
    """Resolve the identity maps of the items to apply, set-based, in their order. Returns
    each item's acceptance (by index) and the profiles merged away on the way (merged ->
    survivor): a later item may have merged the profile an earlier one landed on."""
    requests = [
        ResolveRequest(
            identity=item.identity,  # type: ignore[arg-type]
            occurred_at=item.occurred_at,  # type: ignore[arg-type]
            source=item.source_key,
            trigger=_trigger(item),
            attributes=HANDLERS[item.kind].attributes(item),
        )
        for item in to_apply
    ]
    resolutions = identities_resolve(tenant=ctx.tenant, requests=requests)
    _suppressed_check(ctx, to_apply, set(suppressed))
    # A later item of this request may have merged the profile an earlier one landed on.
    survivors: dict[uuid.UUID, uuid.UUID] = {}
    for resolution in resolutions:
        for merged in resolution.merged_profiles:
            survivors[merged] = resolution.profile_id  # type: ignore[assignment]
    accepted = {
        item.index: Accepted(
            item,
            resolution,
            _chase(survivors, resolution.profile_id),  # type: ignore[arg-type]
            resolution.as_public(),
        )
        for item, resolution in zip(to_apply, resolutions, strict=True)
    }
    return accepted, survivors


def _store(ctx: IngestContext, to_apply: Sequence[Prepared], accepted: Mapping[int, Accepted]) -> None:
    """Each kind's handler applies its effects and its records go in, one statement per kind
    (kinds in the order they first appear in the request)."""
    by_kind: dict[str, list[Prepared]] = {}
    for item in to_apply:
        by_kind.setdefault(item.kind, []).append(item)
    for kind, kind_items in by_kind.items():
        handler = HANDLERS[kind]
        batch = [accepted[item.index] for item in kind_items]
        own = handler.values(ctx, batch)
        rows = [_common_values(ctx, a) + values for a, values in zip(batch, own, strict=True)]
        rows_insert(handler.model, COMMON_COLUMNS + handler.columns, rows)
        handler.stored(ctx, rows)


def _common_values(ctx: IngestContext, a: Accepted) -> tuple[object, ...]:
    item = a.item
    return (
        item.record_id,
        ctx.tenant.pk,
        item.key[0],
        item.external_id,
        item.occurred_at,
        ctx.now,
        a.profile_id,
        item.identity.values,  # type: ignore[union-attr]
        a.public,
        item.fingerprint,
    )


def _chase(survivors: dict[uuid.UUID, uuid.UUID], profile_id: uuid.UUID) -> uuid.UUID:
    seen = 0
    while profile_id in survivors and seen < 1000:
        profile_id = survivors[profile_id]
        seen += 1
    return profile_id


def _with_profile(result: ItemResult, profile_id: uuid.UUID) -> ItemResult:
    return replace(result, profile_id=profile_id)


def _repeat_in_request(item: Prepared, earlier: Prepared, earlier_result: ItemResult) -> ItemResult:
    if earlier.fingerprint == item.fingerprint and earlier.kind == item.kind:
        return ItemResult(
            index=item.index,
            status=DUPLICATE,
            record_id=earlier_result.record_id,
            profile_id=earlier_result.profile_id,
            resolution=earlier_result.resolution,
        )
    return ItemResult(
        index=item.index,
        status=CONFLICT,
        record_id=earlier_result.record_id,
        error=Problem.IDEMPOTENCY_CONFLICT,
        detail=(
            f"The key ({item.source_key}, {item.external_id}) was used by item {earlier.index} of this request "
            "with a different payload; nothing was applied."
        ),
    )


def _dry_run(ctx: IngestContext, items: Sequence[Prepared]) -> dict[int, ItemResult]:
    """The whole pipeline with no effect: existing keys are read, identity is resolved
    in dry-run mode, and the transaction is rolled back whatever happens."""
    results: dict[int, ItemResult] = {}
    with transaction.atomic():
        keys = _existing_keys(ctx.tenant, items)
        originals, live = _originals(ctx.tenant, list(keys.values()))
        seen: dict[tuple[int, str], Prepared] = {}
        identities = [item.identity.values for item in items]  # type: ignore[union-attr]
        hidden = suppressed_indexes(tenant=ctx.tenant, identities=identities)
        for position, item in enumerate(items):
            if item.key in keys:
                results[item.index] = _replay_result(item, keys[item.key], originals, live)
                continue
            if item.key in seen:
                results[item.index] = _repeat_in_request(item, seen[item.key], results[seen[item.key].index])
                continue
            seen[item.key] = item
            if position in hidden:
                results[item.index] = ItemResult(index=item.index, status=SUPPRESSED)
                continue
            resolution = identity_resolve(
                tenant=ctx.tenant,
                identity=item.identity,  # type: ignore[arg-type]
                occurred_at=item.occurred_at,  # type: ignore[arg-type]
                source=item.source_key,
                trigger=_trigger(item),
                dry_run=True,
            )
            results[item.index] = ItemResult(
                index=item.index,
                status=ACCEPTED,
                profile_id=resolution.profile_id,
                resolution=resolution.as_public(),
                warnings=tuple(item.warnings),
            )
        transaction.set_rollback(True)
    return results


# --- violations log ---------------------------------------------------------------------


def _violations_record(ctx: IngestContext, items: Sequence[Prepared], results: Sequence[ItemResult]) -> None:
    """Count every refused item (rejected or idempotency conflict) per source, event type and code."""
    counts: dict[tuple[str, str, str], tuple[int, str]] = {}
    for item, result in zip(items, results, strict=True):
        if result.status not in (REJECTED, CONFLICT) or result.code is None:
            continue
        label = item.label if item.event_type or item.kind != RecordKind.EVENT else _raw_text(item.raw, "eventType")
        group = (item.source_key or _raw_text(item.raw, "source"), label or "(unknown)", result.code)
        count, _ = counts.get(group, (0, ""))
        counts[group] = (count + 1, _sample(item.raw, result))
    if counts:
        violations_record(tenant=ctx.tenant, counts=counts, now=ctx.now)
    quarantine_keep(ctx=ctx, items=items, results=results)  # the refused items themselves, for replay


def _raw_text(raw: Any, name: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else None
    return value if isinstance(value, str) else ""


def _sample(raw: Any, result: ItemResult) -> str:
    payload = json.dumps(raw, ensure_ascii=False, default=str)
    if len(payload) > SAMPLE_LIMIT:
        payload = payload[:SAMPLE_LIMIT] + "…"
    problems = [p.as_dict() for p in result.problems[:20]]
    return json.dumps({"errors": problems, "detail": result.detail}, ensure_ascii=False) + "\n" + payload


def violations_record(*, tenant: Tenant, counts: dict[tuple[str, str, str], tuple[int, str]], now: dt.datetime) -> None:
    """Upsert violation counters in one statement per group; safe under concurrency."""
    time_field = Violation._meta.get_field("last_seen_at")
    stamp = time_field.get_db_prep_value(now, connection)
    assert Violation._meta.db_table == "ingest_violation"
    sql = (
        "INSERT INTO ingest_violation"
        " (tenant_id, source_key, event_type, code, count, first_seen_at, last_seen_at, sample)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, source_key, event_type, code) DO UPDATE SET"
        " count = ingest_violation.count + excluded.count,"
        " last_seen_at = excluded.last_seen_at, sample = excluded.sample"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        for (source_key, event_type, code), (count, sample) in sorted(counts.items()):
            cursor.execute(
                sql,
                [tenant.pk, source_key[:255], event_type[:255], code[:64], count, stamp, stamp, _clean(sample)],
            )


def _clean(text: str) -> str:
    # Samples are diagnostics: characters PostgreSQL cannot store are replaced, not refused.
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
