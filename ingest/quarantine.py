"""The quarantine: every item refused with a 422-class problem is kept whole, so that a
contract fixed later can still recover the data that arrived while it was wrong.

- `quarantine_keep` runs once per request, after the request's ingest transaction (never
  inside it), and stores the refused items in one multi-row insert. Nothing is kept for
  dry runs (`/events/validate`): the pipeline never records them.
- `rejections_replay` sends quarantined items through the normal pipeline again, with
  their original keys: accepted, duplicate or suppressed items leave the quarantine,
  refused ones stay with their new problems. It is idempotent and resumable: what was
  applied holds its idempotency key, so running it twice (or after a crash) answers
  `duplicate` for it and removes it.
- `quarantine_prune` drops items older than CDP_QUARANTINE_RETENTION_DAYS;
  `quarantine_erase` drops the items of erased identifiers.

Every query is scoped by tenant: a replay reads and writes only its tenant's items.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q, Value
from django.utils import timezone

from cdp_project.core.errors import FieldProblem, Problem, problems_detail
from cdp_project.core.jsonvalues import canonical_json
from identity.suppression import suppressed_indexes
from jobs.services import job_enqueue
from tenants.models import Tenant

from .models import QuarantinedItem, RecordKind
from .pipeline import IngestContext, Prepared
from .types import ACCEPTED, CONFLICT, DUPLICATE, REJECTED, SUPPRESSED, ItemResult

# The 422-class codes of the pipeline: an item refused with one of them is kept.
# (`payload_too_large` is not among them: the quarantine holds only items within the size limit.)
QUARANTINED_CODES = (
    "contract_violation",
    "invalid_channel_update",
    "invalid_identity",
    "invalid_timestamp",
    "unknown_event_type",
    "unknown_source",
    "validation_error",
)
# What a replay may leave on an item: the key now belongs to a different payload.
CONFLICT_CODE = "idempotency_conflict"
FILTER_CODES = (*QUARANTINED_CODES, CONFLICT_CODE)
# Counted in the violations log for every item the per-tenant cap kept out.
DROPPED_CODE = "quarantine_full"
SUMMARY_KEYS = (ACCEPTED, DUPLICATE, REJECTED, CONFLICT, SUPPRESSED)
REPLAY_CHUNK = 200
PRUNE_CHUNK = 5_000
_TEXT_LIMIT = 255

_replaying: ContextVar[bool] = ContextVar("quarantine_replaying", default=False)


@contextlib.contextmanager
def _replay_in_progress() -> Iterator[None]:
    """While a replay ingests, the items it sends are already in the quarantine: the
    replay updates their rows itself instead of keeping copies."""
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)


# --- keeping -----------------------------------------------------------------------------


def _text(raw: Any, name: str) -> str:
    value = raw.get(name) if isinstance(raw, dict) else None
    return value[:_TEXT_LIMIT] if isinstance(value, str) else ""


def _digest(kind: str, raw: Any) -> str:
    text = canonical_json([kind, raw])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _row(ctx: IngestContext, item: Prepared, result: ItemResult) -> QuarantinedItem:
    return QuarantinedItem(
        tenant=ctx.tenant,
        kind=item.kind,
        source_key=(item.source_key or _text(item.raw, "source"))[:_TEXT_LIMIT],
        external_event_id=(item.external_id or _text(item.raw, "externalEventId"))[:_TEXT_LIMIT],
        event_type=(item.event_type or _text(item.raw, "eventType"))[:_TEXT_LIMIT]
        if item.kind == RecordKind.EVENT
        else "",
        code=result.code or "validation_error",
        errors=[problem.as_dict() for problem in result.problems],
        payload=_json_value(item.raw),
        digest=_digest(item.kind, item.raw),
        identity=dict(item.identity.values) if item.identity is not None else {},
        received_at=ctx.now,
        position=item.index,
    )


def _json_value(value: object) -> object:
    """The item as sent, as a JSON value: a `null` item is stored as JSON null (Django would
    store None as SQL NULL, which the NOT NULL column refuses)."""
    return Value(None, output_field=models.JSONField()) if value is None else value


def _room(tenant: Tenant) -> int:
    cap = settings.CDP_QUARANTINE_MAX_ITEMS
    if cap <= 0:
        return 0
    # Counting stops at the cap, so a full quarantine costs no more to check than a nearly full one.
    return cap - QuarantinedItem.objects.filter(tenant=tenant)[:cap].count()


def quarantine_keep(*, ctx: IngestContext, items: Sequence[Prepared], results: Sequence[ItemResult]) -> int:
    """Keep every item of one request refused with a 422-class problem, whole, with its
    problems, in one multi-row insert. An identical payload refused again refreshes its
    row rather than adding one; an item whose identity holds a suppressed (erased)
    identifier is not kept. Items beyond the tenant's CDP_QUARANTINE_MAX_ITEMS are
    not kept and are counted in the violations log with code `quarantine_full` (the cap
    may be passed by the items of requests racing at the cap). Answers how many were kept."""
    if _replaying.get():
        return 0
    refused: dict[str, QuarantinedItem] = {}
    for item, result in zip(items, results, strict=True):
        if result.status == REJECTED and result.code in QUARANTINED_CODES:
            row = _row(ctx, item, result)
            refused.setdefault(row.digest, row)
    if not refused:
        return 0
    rows = list(refused.values())
    # An erased, suppressed customer's later data is never stored: not even in the quarantine.
    hidden = suppressed_indexes(tenant=ctx.tenant, identities=[row.identity for row in rows])
    rows = [row for position, row in enumerate(rows) if position not in hidden]
    if not rows:
        return 0
    room = max(_room(ctx.tenant), 0)
    kept, dropped = rows[:room], rows[room:]
    if dropped:  # a refusal already kept is refreshed, even in a full quarantine
        present = set(
            QuarantinedItem.objects.filter(tenant=ctx.tenant, digest__in=[row.digest for row in dropped]).values_list(
                "digest", flat=True
            )
        )
        kept += [row for row in dropped if row.digest in present]
        dropped = [row for row in dropped if row.digest not in present]
    if kept:
        QuarantinedItem.objects.bulk_create(
            kept,
            update_conflicts=True,
            unique_fields=["tenant", "digest"],
            update_fields=["code", "errors", "received_at", "position"],
        )
    if dropped:
        _count_dropped(ctx, dropped)
    return len(kept)


def _count_dropped(ctx: IngestContext, rows: Sequence[QuarantinedItem]) -> None:
    from .services import SAMPLE_LIMIT, violations_record  # services hooks this module in

    counts: dict[tuple[str, str, str], tuple[int, str]] = {}
    for row in rows:
        label = row.event_type if row.kind == RecordKind.EVENT else f"({RecordKind(row.kind).label})"
        group = (row.source_key, label or "(unknown)", DROPPED_CODE)
        count, _ = counts.get(group, (0, ""))
        payload = json.dumps(row.payload, ensure_ascii=False, default=str)[:SAMPLE_LIMIT]
        note = {"detail": f"not quarantined: the tenant's quarantine holds {settings.CDP_QUARANTINE_MAX_ITEMS} items"}
        counts[group] = (count + 1, json.dumps(note) + "\n" + payload)
    violations_record(tenant=ctx.tenant, counts=counts, now=ctx.now)


# --- filters -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectionFilter:
    """Which quarantined items a list or a replay is about; empty fields match all."""

    source: str | None = None
    event_type: str | None = None
    code: str | None = None
    kind: str | None = None

    def as_json(self) -> dict[str, str]:
        pairs = {"source": self.source, "eventType": self.event_type, "code": self.code, "kind": self.kind}
        return {name: value for name, value in pairs.items() if value is not None}


_FILTER_FIELDS = {"source": "source", "eventType": "event_type", "code": "code", "kind": "kind"}


def rejection_filter_parse(
    data: Any,
    *,
    at: str = "",
    ignore: Iterable[str] = (),
    allowed: Iterable[str] = tuple(_FILTER_FIELDS),
    problem: Problem = Problem.INVALID_REJECTION_FILTER,
) -> RejectionFilter:
    """Read `source`, `eventType`, `code` and `kind` (or only the `allowed` ones); a 422
    points at every bad one (`at` prefixes the pointers, e.g. `/filter`). Names in
    `ignore` are let through (a list's `cursor` and `limit`)."""
    allowed = set(allowed)
    if data is None:
        return RejectionFilter()
    if not isinstance(data, Mapping):
        raise problem.error("The filter must be an object.", [FieldProblem(at, "type", "expected an object")])
    problems: list[FieldProblem] = []
    values: dict[str, str] = {}
    for name, value in data.items():
        if name in ignore:
            continue
        field = _FILTER_FIELDS.get(name) if name in allowed else None
        if field is None:
            problems.append(FieldProblem(f"{at}/{name}", "unknown_parameter", f"unknown filter {str(name)[:60]!r}"))
        elif not isinstance(value, str) or not value.strip() or len(value) > _TEXT_LIMIT:
            problems.append(FieldProblem(f"{at}/{name}", "type", f"{name} must be a string of 1–255 characters"))
        else:
            values[field] = value.strip()
    if values.get("code") is not None and values["code"] not in FILTER_CODES:
        problems.append(FieldProblem(f"{at}/code", "unknown_code", f"code must be one of {', '.join(FILTER_CODES)}"))
    if values.get("kind") is not None and values["kind"] not in RecordKind.values:
        problems.append(
            FieldProblem(f"{at}/kind", "unknown_kind", f"kind must be one of {', '.join(RecordKind.values)}")
        )
    if problems:
        raise problem.error(problems_detail(len(problems), "the filter"), problems)
    return RejectionFilter(**values)


def quarantine_queryset(*, tenant: Tenant, filter: RejectionFilter) -> Any:  # noqa: A002 - the API's word
    rows = QuarantinedItem.objects.filter(tenant=tenant)
    if filter.source is not None:
        rows = rows.filter(source_key=filter.source)
    if filter.event_type is not None:
        rows = rows.filter(event_type=filter.event_type)
    if filter.code is not None:
        rows = rows.filter(code=filter.code)
    if filter.kind is not None:
        rows = rows.filter(kind=filter.kind)
    return rows


# --- replay ------------------------------------------------------------------------------------


class Progress(Protocol):
    """What a replay reports after each chunk, inside the transaction that records the
    chunk's outcome (the jobs engine's `progress`): `checkpoint` resumes the replay."""

    def __call__(self, *, done: int, total: int | None = None, checkpoint: Any = ...) -> None: ...


def _ingest_function(kind: str) -> Callable[..., list[ItemResult]]:
    from . import services  # services hooks this module in

    return {
        RecordKind.EVENT: services.events_ingest,
        RecordKind.PROFILE_UPDATE: services.profile_updates_ingest,
        RecordKind.CHANNEL_UPDATE: services.channel_updates_ingest,
    }[RecordKind(kind)]


_ITEMS_ARGUMENT = {
    RecordKind.EVENT: "events",
    RecordKind.PROFILE_UPDATE: "updates",
    RecordKind.CHANNEL_UPDATE: "updates",
}


def _runs(rows: Sequence[QuarantinedItem]) -> Iterator[list[QuarantinedItem]]:
    """Consecutive rows of one kind: replayed together, in arrival order."""
    run: list[QuarantinedItem] = []
    for row in rows:
        if run and run[-1].kind != row.kind:
            yield run
            run = []
        run.append(row)
    if run:
        yield run


def _conflict_errors(result: ItemResult) -> list[dict[str, str]]:
    return [{"pointer": "/externalEventId", "code": CONFLICT_CODE, "detail": result.detail}]


def _state_new(started: dt.datetime) -> dict[str, Any]:
    return {"started": started.isoformat(), "after": None, "done": 0, "summary": dict.fromkeys(SUMMARY_KEYS, 0)}


def rejections_replay(
    *,
    tenant: Tenant,
    filter: RejectionFilter,  # noqa: A002 - the API's word
    dry_run: bool,
    progress: Progress | None = None,
    resume: Mapping[str, Any] | None = None,
    chunk_size: int = REPLAY_CHUNK,
) -> dict[str, Any]:
    """Send the tenant's quarantined items that match `filter` and arrived before the
    replay started through ingest again, oldest first, with their original keys.

    Accepted, duplicate and suppressed items leave the quarantine; refused ones (and
    conflicts) stay with their new problems. Each chunk's ingest commits first; then, in
    one transaction, its quarantine rows change and `progress` records a checkpoint.
    Given that checkpoint as `resume`, a replay goes on where it stopped; run again from
    scratch, it is just as safe: what was applied answers `duplicate` and leaves.
    With `dry_run` nothing at all is written. Answers
    `{"dryRun", "filter", "total", "summary": {accepted, duplicate, rejected, conflict, suppressed}}`."""
    state = dict(resume) if resume else _state_new(timezone.now())
    started = dt.datetime.fromisoformat(state["started"])
    rows = quarantine_queryset(tenant=tenant, filter=filter).filter(received_at__lte=started)
    total = state["done"] + _remaining(rows, state["after"]).count()
    if progress is not None:
        progress(done=state["done"], total=total)
    while True:
        chunk = list(_remaining(rows, state["after"]).order_by("received_at", "position", "id")[:chunk_size])
        if not chunk:
            break
        leave: list[Any] = []
        stay: list[QuarantinedItem] = []
        outcomes: Counter[str] = Counter()
        for run in _runs(chunk):
            for row, result in _replay_run(run, tenant=tenant, dry_run=dry_run):
                outcomes[result.status] += 1
                if result.status in (ACCEPTED, DUPLICATE, SUPPRESSED):
                    leave.append(row.pk)
                else:
                    stay.append(_refused_again(row, result))
        state = {
            **state,
            "after": [chunk[-1].received_at.isoformat(), chunk[-1].position, str(chunk[-1].pk)],
            "done": state["done"] + len(chunk),
            "summary": {name: state["summary"].get(name, 0) + outcomes.get(name, 0) for name in SUMMARY_KEYS},
        }
        with transaction.atomic():
            if not dry_run and leave:
                QuarantinedItem.objects.filter(tenant=tenant, pk__in=leave).delete()
            if not dry_run and stay:
                QuarantinedItem.objects.bulk_update(stay, ["code", "errors", "replay_count", "last_replayed_at"])
            if progress is not None:
                progress(done=state["done"], total=max(total, state["done"]), checkpoint=state)
    return {"dryRun": dry_run, "filter": filter.as_json(), "total": state["done"], "summary": state["summary"]}


def _remaining(rows: Any, after: Sequence[Any] | None) -> Any:
    if after is None:
        return rows
    at, position, pk = dt.datetime.fromisoformat(after[0]), after[1], after[2]
    return rows.filter(
        Q(received_at__gt=at)
        | Q(received_at=at, position__gt=position)
        | Q(received_at=at, position=position, id__gt=pk)
    )


def _replay_run(
    run: Sequence[QuarantinedItem], *, tenant: Tenant, dry_run: bool
) -> list[tuple[QuarantinedItem, ItemResult]]:
    ingest = _ingest_function(run[0].kind)
    with _replay_in_progress():
        results = ingest(tenant=tenant, dry_run=dry_run, **{_ITEMS_ARGUMENT[run[0].kind]: [r.payload for r in run]})
    return list(zip(run, results, strict=True))


def _refused_again(row: QuarantinedItem, result: ItemResult) -> QuarantinedItem:
    row.code = result.code or "validation_error"
    row.errors = _conflict_errors(result) if result.status == CONFLICT else [p.as_dict() for p in result.problems]
    row.replay_count += 1
    row.last_replayed_at = timezone.now()
    return row


def rejections_replay_job(job: Any, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The `ingest.rejections_replay` job: resumes from the job's checkpoint."""
    return rejections_replay(
        tenant=job.tenant,
        filter=rejection_filter_parse(params.get("filter") or {}),
        dry_run=bool(params.get("dryRun")),
        progress=progress,
        resume=job.checkpoint,
    )


REPLAY_JOB = "ingest.rejections_replay"
PRUNE_JOB = "ingest.quarantine_prune"


def rejections_replay_enqueue(*, tenant: Tenant, filter: RejectionFilter, dry_run: bool) -> Any:  # noqa: A002
    """Queue a replay on the worker (never run inside a request); answers the job."""
    return job_enqueue(tenant=tenant, kind=REPLAY_JOB, params={"filter": filter.as_json(), "dryRun": dry_run})


# --- retention and erasure -----------------------------------------------------------------------


def quarantine_prune(*, now: dt.datetime | None = None, tenant: Tenant | None = None) -> int:
    """Delete quarantined items older than CDP_QUARANTINE_RETENTION_DAYS, tenant by
    tenant, in bounded chunks (each a short transaction). Answers how many went."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.CDP_QUARANTINE_RETENTION_DAYS)
    tenant_ids = (
        [tenant.pk]
        if tenant is not None
        else list(QuarantinedItem.objects.values_list("tenant_id", flat=True).distinct().order_by("tenant_id"))
    )
    removed = 0
    for tenant_id in tenant_ids:
        while True:
            ids = list(
                QuarantinedItem.objects.filter(tenant_id=tenant_id, received_at__lt=cutoff).values_list(
                    "id", flat=True
                )[:PRUNE_CHUNK]
            )
            if not ids:
                break
            removed += QuarantinedItem.objects.filter(tenant_id=tenant_id, id__in=ids).delete()[0]
    return removed


def quarantine_prune_job(job: Any, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The `ingest.quarantine_prune` job: prunes the job's tenant."""
    removed = quarantine_prune(tenant=job.tenant)
    progress(done=removed, total=removed)
    return {"removed": removed}


def quarantine_erase(*, tenant_id: int, identifiers: Mapping[str, Iterable[str]]) -> int:
    """Delete the quarantined items whose identity holds any of `identifiers`
    (identifier type -> normalized values), for erasure: no payload of an erased
    customer stays in the quarantine. Answers how many went."""
    wanted = {(type_, value) for type_, values in identifiers.items() for value in values}
    if not wanted:
        return 0
    doomed = [
        pk
        for pk, identity in QuarantinedItem.objects.filter(tenant_id=tenant_id)
        .values_list("id", "identity")
        .iterator(chunk_size=PRUNE_CHUNK)
        if isinstance(identity, dict) and any((t, v) in wanted for t, v in identity.items())
    ]
    removed = 0
    for start in range(0, len(doomed), PRUNE_CHUNK):
        removed += QuarantinedItem.objects.filter(
            tenant_id=tenant_id, id__in=doomed[start : start + PRUNE_CHUNK]
        ).delete()[0]
    return removed
