"""Channel-aware exports of a segment (API.md "Segments and exports").

One row per member whose active endpoint on the channel is ready (the rules of
`channels.selectors.readiness_judge`, in SQL): `profileId`, `address`, then the chosen
attributes. The rows come from one query read through a server-side cursor in chunks
(`iterator`), so neither the segment nor the export is ever held in memory. Only
profile attributes and derived attributes can be chosen: campaign variables are
runtime state and never leave the runtime (DESIGN.md §1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import JSONField, OuterRef, QuerySet, Subquery

from cdp_project.core.errors import FieldProblem, unprocessable
from channels.selectors import ready_endpoints
from channels.types import CHANNELS
from contracts.models import DERIVED_BACKFILLING
from contracts.selectors import attribute_definition_list, derived_attribute_list
from profiles.models import AttributeValue, DerivedValue

from .models import Segment
from .selectors import DERIVED_BACKFILLING_CODE, segment_members
from .types import ExportColumn, ExportSpec

logger = logging.getLogger(__name__)

FORMATS = ("csv", "ndjson")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
FIXED_COLUMNS = ("profileId", "address")
MAX_COLUMNS = 50
EXPORT_CHUNK = 2_000


def export_spec_parse(*, tenant_id: int, params: Mapping[str, str]) -> ExportSpec:
    """Read `channel`, `format` (csv by default) and `attributes` (comma-separated names of
    attribute or derived-attribute definitions); a 422 lists every problem (`/channel`,
    `/format`, `/attributes/1`)."""
    problems = _unknown_parameters(params)
    names = [n.strip() for n in params.get("attributes", "").split(",") if n.strip()]
    return _spec_build(
        tenant_id=tenant_id,
        channel=params.get("channel", ""),
        output=params.get("format", "csv"),
        names=names,
        problems=problems,
    )


def export_spec_from_body(*, tenant_id: int, body: Mapping[str, Any]) -> ExportSpec:
    """The same request as a JSON body (the export job's): `{"channel", "format"?,
    "attributes"?: ["firstName", "tier"]}` (a comma-separated string is taken too)."""
    problems = _unknown_parameters(body)
    attributes = body.get("attributes", [])
    names: list[str] = []
    if isinstance(attributes, str):
        names = [n.strip() for n in attributes.split(",") if n.strip()]
    elif isinstance(attributes, list):
        for index, name in enumerate(attributes):
            if isinstance(name, str) and "," not in name:
                names.append(name.strip())
            else:
                problems.append(FieldProblem(f"/attributes/{index}", "type", "Each attribute is one name (a string)."))
    else:
        problems.append(FieldProblem("/attributes", "type", "attributes is a list of names."))
    channel, output = body.get("channel", ""), body.get("format", "csv")
    return _spec_build(
        tenant_id=tenant_id,
        channel=channel if isinstance(channel, str) else "",
        output=output if isinstance(output, str) else "",
        names=[] if any(p.pointer.startswith("/attributes") for p in problems) else names,
        problems=problems,
    )


def _unknown_parameters(params: Mapping[str, Any]) -> list[FieldProblem]:
    return [
        FieldProblem(f"/{name}", "unknown_parameter", f"Unknown parameter {str(name)[:60]!r}.")
        for name in params
        if name not in ("channel", "format", "attributes")
    ]


def _spec_build(
    *, tenant_id: int, channel: str, output: str, names: list[str], problems: list[FieldProblem]
) -> ExportSpec:
    if channel not in CHANNELS:
        problems.append(FieldProblem("/channel", "unknown_channel", f"channel must be one of {', '.join(CHANNELS)}."))
    if output not in FORMATS:
        problems.append(FieldProblem("/format", "unknown_format", f"format must be one of {', '.join(FORMATS)}."))
    columns: list[ExportColumn] = []
    if len(names) > MAX_COLUMNS:
        problems.append(FieldProblem("/attributes", "too_many", f"At most {MAX_COLUMNS} attributes."))
        names = []
    attributes = {d.name for d in attribute_definition_list(tenant_id=tenant_id)} if names else set()
    derived = {d.name: d.status for d in derived_attribute_list(tenant_id=tenant_id)} if names else {}
    for index, name in enumerate(names):
        at = f"/attributes/{index}"
        if name in FIXED_COLUMNS:
            problems.append(FieldProblem(at, "reserved", f"{name!r} is always exported; do not list it."))
        elif name in (c.name for c in columns):
            problems.append(FieldProblem(at, "duplicate", f"{name!r} is listed twice."))
        elif name in attributes:
            columns.append(ExportColumn(name=name, source="attribute"))
        elif name in derived:
            columns.append(ExportColumn(name=name, source="derived", backfilling=derived[name] == DERIVED_BACKFILLING))
        else:
            problems.append(
                FieldProblem(at, "unknown_attribute", f"{name[:60]!r} is not an attribute or derived attribute.")
            )
    if problems:
        raise unprocessable("invalid_export", "Invalid export request", f"{len(problems)} problem(s)", problems)
    return ExportSpec(channel=channel, format=output, columns=tuple(columns))


def export_rows(
    *,
    segment: Segment,
    spec: ExportSpec,
    now: dt.datetime | None = None,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The export's rows, by profile id, streamed from one query in chunks. The segment is
    checked here, at the call, so a problem is raised before any row is sent. `after` and
    `limit` read one slice (behind that profile id, at most that many rows): how the export
    job goes through a segment, a slice per checkpoint, with the very rows of the stream."""
    return _stream(export_queryset(segment=segment, spec=spec, now=now, after=after, limit=limit), spec.columns)


def export_queryset(
    *,
    segment: Segment,
    spec: ExportSpec,
    now: dt.datetime | None = None,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> QuerySet:
    """The one query of an export: (profile id, address, *chosen values), by profile id.
    A 409 `derived_backfilling` when a derived attribute it reads (in the segment, or as a
    column) is still being computed: an export is never silently incomplete."""
    rows = _ready_members(segment=segment, spec=spec, now=now, after=after)
    names = []
    for index, column in enumerate(spec.columns):
        model = AttributeValue if column.source == "attribute" else DerivedValue
        value = model.objects.filter(tenant_id=segment.tenant_id, profile_id=OuterRef("profile_id"), name=column.name)
        names.append(f"export_{index}")
        rows = rows.annotate(**{names[-1]: Subquery(value.values("value")[:1], output_field=JSONField())})
    rows = rows.order_by("profile_id").values_list("profile_id", "address", *names)
    return rows if limit is None else rows[:limit]


def export_row_count(
    *,
    segment: Segment,
    spec: ExportSpec,
    up_to: int | None = None,
    now: dt.datetime | None = None,
    after: uuid.UUID | None = None,
) -> int:
    """How many rows the export has (behind `after`), counted up to `up_to` when given (a
    bounded count stops there: asking whether an export is too large to stream costs at most
    that much). Raises the export's own problems (409 derived_backfilling), so it is also the
    check of an export asked for now and run later."""
    rows = _ready_members(segment=segment, spec=spec, now=now, after=after)
    return rows[:up_to].count() if up_to is not None else rows.count()


def export_check(*, segment: Segment, spec: ExportSpec) -> None:
    """Raise the problems the export would raise now (422 segment_invalid, 409
    derived_backfilling), without reading any row."""
    _ready_members(segment=segment, spec=spec)


def _ready_members(
    *, segment: Segment, spec: ExportSpec, now: dt.datetime | None = None, after: uuid.UUID | None = None
) -> QuerySet:
    tenant_id = segment.tenant_id
    incomplete = [
        FieldProblem(f"/attributes/{index}", DERIVED_BACKFILLING_CODE, column.name)
        for index, column in enumerate(spec.columns)
        if column.backfilling
    ]
    # From the ready endpoints (at most one active per profile and channel, a database
    # constraint), joined to the members: one row per ready member.
    members = segment_members(segment=segment, now=now, incomplete=incomplete)
    rows = ready_endpoints(tenant_id=tenant_id, channel=spec.channel)
    if after is not None:
        members, rows = members.filter(pk__gt=after), rows.filter(profile_id__gt=after)
    return rows.filter(profile_id__in=members.values("pk"))
    names = []
    for index, column in enumerate(spec.columns):
        model = AttributeValue if column.source == "attribute" else DerivedValue
        value = model.objects.filter(tenant_id=tenant_id, profile_id=OuterRef("profile_id"), name=column.name)
        names.append(f"export_{index}")
        rows = rows.annotate(**{names[-1]: Subquery(value.values("value")[:1], output_field=JSONField())})
    return rows.order_by("profile_id").values_list("profile_id", "address", *names)


# The session settings of an export's read on PostgreSQL: plan for reading every row (a
# cursor is planned for its first 10 % by default, a slower plan for a full export), and
# no JIT (the per-row column subqueries inflate the cost estimate past the thresholds for
# inlining and optimizing: seconds of compiling for a read that just streams rows).
EXPORT_READ_SETTINGS = ("SET LOCAL cursor_tuple_fraction = 1.0", "SET LOCAL jit = off")


@contextmanager
def export_read(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """One transaction for the whole read of an export: PostgreSQL then streams the
    server-side cursor as it is fetched (outside one, Django declares it WITH HOLD and the
    server copies the whole result first), with EXPORT_READ_SETTINGS."""
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for statement in EXPORT_READ_SETTINGS:
                    cursor.execute(statement)
        yield


def _stream(rows: Any, columns: tuple[ExportColumn, ...]) -> Iterator[dict[str, Any]]:
    with export_read(using=rows.db):
        for profile_id, address, *values in rows.iterator(chunk_size=EXPORT_CHUNK):
            row: dict[str, Any] = {"profileId": str(profile_id), "address": address}
            row.update((column.name, value) for column, value in zip(columns, values, strict=True))
            yield row


_FORMULA_START = ("=", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # A cell a spreadsheet would run as a formula is quoted with a leading apostrophe
        # (OWASP's advice for CSV injection); signed numbers such as E.164 phones stay as they are.
        if value.startswith(_FORMULA_START) or (value[:1] in "+-" and not value[1:2].isdigit() and value):
            return "'" + value
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_encode(*, rows: Iterable[Mapping[str, Any]], spec: ExportSpec, header: bool = True) -> Iterator[str]:
    """The rows as CSV (a header line first, unless `header` is false: a continuation) or
    NDJSON, a chunk of text at a time."""
    names = [*FIXED_COLUMNS, *(c.name for c in spec.columns)]
    if spec.format == "ndjson":
        for row in rows:
            yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(names)
    for count, row in enumerate(rows, start=1):
        writer.writerow([_csv_cell(row[name]) for name in names])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _aborted_marker(spec: ExportSpec) -> str:
    if spec.format == "ndjson":
        return json.dumps({"error": "export_aborted", "detail": "the export failed; this file is incomplete"}) + "\n"
    return "\r\n#export_aborted: the export failed; this file is incomplete\r\n"


def export_stream(*, chunks: Iterator[str], spec: ExportSpec) -> Iterator[str]:
    """The encoded export, started now: its first chunk (and so the query) is produced
    before the response begins, so a failure there is answered with a problem document.
    A failure after the first byte cannot change the status any more: the stream ends
    with an `export_aborted` line and the error is raised again, so the server aborts the
    connection (a chunked response then lacks its last chunk). Never an HTML page in a CSV."""
    first = next(chunks, "")

    def rest() -> Iterator[str]:
        try:
            yield from chunks
        except Exception:
            logger.exception("export of %s to %s aborted mid-stream", spec.format, spec.channel)
            yield _aborted_marker(spec)
            raise

    return itertools.chain([first], rest())
