"""Channel-aware exports of a segment (API.md "Segments and exports").

One row per member whose active endpoint on the channel is ready (the rules of
`channels.selectors.readiness_judge`, in SQL): `profileId`, `address`, then the chosen
attributes. The rows come from one query, read through a server-side cursor in chunks
(`iterator`) or, for CSV on PostgreSQL, formatted by the database and streamed with COPY
(`export_csv_lines`), so neither the segment nor the export is ever held in memory. Only
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

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, FilteredRelation, Q, QuerySet

from cdp_project.core.errors import FieldProblem, Problem
from cdp_project.core.jsonvalues import compact_json
from channels.selectors import ready_endpoints
from channels.types import CHANNELS
from contracts.selectors import attribute_definition_list, derived_attribute_list
from contracts.types import DERIVED_BACKFILLING

from .models import Segment
from .selectors import DERIVED_BACKFILLING_CODE, segment_member_condition, settings_read
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
        raise Problem.INVALID_EXPORT.error(f"{len(problems)} problem(s)", problems)
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
    rows = _ready_members(segment=segment, spec=spec, now=now, after=after, columns=True)
    names = [f"export_{index}" for index in range(len(spec.columns))]
    rows = rows.annotate(**{name: F(f"{name}_row__value") for name in names})
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
    *,
    segment: Segment,
    spec: ExportSpec,
    now: dt.datetime | None = None,
    after: uuid.UUID | None = None,
    columns: bool = False,
) -> QuerySet:
    """The ready endpoints (at most one active per profile and channel, a database constraint)
    of live profiles that match: one row per ready member. The definition is a condition on the
    endpoint's profile id, so the plan joins it to the endpoints directly. With `columns`, each
    chosen column's row is joined as `export_<index>_row`: a LEFT JOIN on the unique (tenant,
    profile, name) row, run inside the parallel workers with the rest of the plan (a column
    subquery would run per row in the leader); a condition on a joined attribute reads that row."""
    tenant_id = segment.tenant_id
    incomplete = [
        FieldProblem(f"/attributes/{index}", DERIVED_BACKFILLING_CODE, column.name)
        for index, column in enumerate(spec.columns)
        if column.backfilling
    ]
    rows = ready_endpoints(tenant_id=tenant_id, channel=spec.channel)
    joined: dict[str, str] = {}
    for index, column in enumerate(spec.columns if columns else ()):
        relation = "profile__attribute_values" if column.source == "attribute" else "profile__derived_values"
        condition = Q(**{f"{relation}__tenant_id": tenant_id, f"{relation}__name": column.name})
        rows = rows.annotate(**{f"export_{index}_row": FilteredRelation(relation, condition=condition)})
        if column.source == "attribute":
            joined[column.name] = f"export_{index}_row__value"
    members = segment_member_condition(
        segment=segment, profile="profile_id", now=now, incomplete=incomplete, joined=joined
    )
    rows = rows.filter(members, profile__tenant_id=tenant_id, profile__merged_into__isnull=True)
    return rows if after is None else rows.filter(profile_id__gt=after)


# The session settings of an export's read on PostgreSQL: plan for reading every row (a
# cursor is planned for its first 10 % by default, a slower plan for a full export), and
# no JIT (an export's cost estimate passes the thresholds for inlining and optimizing:
# seconds of compiling for a read that just streams rows).
EXPORT_READ_SETTINGS = (
    "SET LOCAL cursor_tuple_fraction = 1.0",
    "SET LOCAL jit = off",
    "SET LOCAL extra_float_digits = 1",  # shortest exact floats (the CSV cells in SQL rely on it)
    "SET LOCAL work_mem = '32MB'",  # as a member count (segments.selectors.MEMBERS_READ_SETTINGS)
)


@contextmanager
def export_read(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """One transaction for the whole read of an export: PostgreSQL then streams the
    server-side cursor as it is fetched (outside one, Django declares it WITH HOLD and the
    server copies the whole result first), with EXPORT_READ_SETTINGS."""
    with settings_read(EXPORT_READ_SETTINGS, using=using):
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
    return compact_json(value)


def export_encode(*, rows: Iterable[Mapping[str, Any]], spec: ExportSpec, header: bool = True) -> Iterator[str]:
    """The rows as CSV (a header line first, unless `header` is false: a continuation) or
    NDJSON, a chunk of text at a time."""
    names = [*FIXED_COLUMNS, *(c.name for c in spec.columns)]
    if spec.format == "ndjson":
        for row in rows:
            yield compact_json(row) + "\n"
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


# --- CSV formatted by PostgreSQL -------------------------------------------------------------
# On PostgreSQL the CSV records are made by the database and read with COPY ... TO STDOUT
# (a parallel plan, which a server-side cursor never gets, and no row decoded in Python).
# Each cell is `_csv_cell` plus csv.writer's minimal quoting (a cell with `"`, `,`, CR or LF
# is quoted) written in SQL, for every value where the two provably agree: strings (but the
# two cases below), booleans, nulls, integers, and plain decimals that are their float's
# repr. Any other value (arrays, objects, other numbers, a string starting with \x01 or with
# a sign before a non-ASCII character, which str.isdigit may call a digit) comes raw, as
# \x01 + its JSON text, quoted, and that one record is finished in Python
# (`_csv_record_finish`): the bytes are those of `export_encode` either way.
_RAW_MARK = "\x01"
# The raw cell of a jsonb expression {j}.
_RAW_CELL = """'"' || replace(chr(1) || ({j})::text, '"', '""') || '"'"""
# The cell of a text expression {s}: as it is (most cells), raw, or guarded and/or quoted.
_STRING_GUARD = r"CASE WHEN ({s}) ~ '^([=@\t\r]|[+-]([^0-9]|$))' THEN chr(39) ELSE '' END"
_STRING_CELL = (
    r"""CASE WHEN ({s}) !~ '^[-=@\t\r+\x01]|[",\r\n]' THEN ({s}) """
    r"WHEN ({s}) ~ '^(\x01|[+-][^\x01-\x7f])' THEN {raw} "
    r"""WHEN ({s}) ~ '[",\r\n]' THEN '"' || """ + _STRING_GUARD + r""" || replace(({s}), '"', '""') || '"' """
    r"ELSE " + _STRING_GUARD + r" || ({s}) END"
)
# json.dumps of what json.loads makes of the number's text: an integer as it is; a plain
# decimal only when it is its float's repr (PostgreSQL prints the same shortest digits, less
# Python's ".0" of a whole number, in fixed notation in the range 30 characters allow).
_NUMBER_CELL = (
    r"CASE WHEN length(({j})::text) <= 30 AND ({j})::text ~ '^-?[0-9]+$' THEN ({j})::text "
    r"WHEN length(({j})::text) <= 30 AND ({j})::text ~ '^-?[0-9]+\.[0-9]+$' THEN "
    r"CASE WHEN (({j})::text::float8)::text = ({j})::text "
    r"OR (({j})::text::float8)::text || '.0' = ({j})::text THEN ({j})::text ELSE {raw} END "
    r"ELSE {raw} END"
)
_JSON_CELL = (
    "CASE jsonb_typeof({j}) WHEN 'string' THEN {string} WHEN 'number' THEN {number} "
    "WHEN 'boolean' THEN ({j})::text WHEN 'null' THEN '' "
    "ELSE CASE WHEN ({j}) IS NULL THEN '' ELSE {raw} END END"
)


def _json_cell_sql(column: str) -> str:
    """The CSV cell of a jsonb column (NULL: no value) as an SQL expression."""
    raw = _RAW_CELL.format(j=column)
    string = _STRING_CELL.format(s=f"{column} #>> '{{}}'", raw=raw)
    number = _NUMBER_CELL.format(j=column, raw=raw)
    return _JSON_CELL.format(j=column, string=string, number=number, raw=raw)


def _text_cell_sql(column: str) -> str:
    """The CSV cell of a text column as an SQL expression."""
    return _STRING_CELL.format(s=column, raw=_RAW_CELL.format(j=f"to_jsonb({column})"))


def _csv_record_finish(record: str) -> str:
    """A record with raw cells (\x01 + JSON text) formatted as `export_encode` does."""
    fields = next(csv.reader([record]))
    cells = [_csv_cell(json.loads(f[1:])) if f.startswith(_RAW_MARK) else f for f in fields]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def export_csv_lines(
    *,
    segment: Segment,
    spec: ExportSpec,
    now: dt.datetime | None = None,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> Iterator[str]:
    """The export's CSV records without the header, by profile id, one string each (ending
    in CRLF, starting with the profile id): exactly what `export_encode` makes of
    `export_rows` with the same arguments (checked at the call). On PostgreSQL the database
    formats them and COPY streams them."""
    rows = export_queryset(segment=segment, spec=spec, now=now, after=after, limit=limit)
    if connections[rows.db].vendor != "postgresql":
        return _python_records(rows=_stream(rows, spec.columns), spec=spec)
    return _copy_records(rows=rows, spec=spec)


def _python_records(*, rows: Iterable[Mapping[str, Any]], spec: ExportSpec) -> Iterator[str]:
    names = [*FIXED_COLUMNS, *(c.name for c in spec.columns)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_csv_cell(row[name]) for name in names])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def export_csv_select(*, segment: Segment, spec: ExportSpec, now: dt.datetime | None = None) -> str:
    """PostgreSQL: the SELECT whose rows are the export's CSV records (without CRLF; raw cells
    still to finish), by profile id, its parameters bound (COPY takes none)."""
    return _csv_select(rows=export_queryset(segment=segment, spec=spec, now=now), spec=spec)


def _csv_select(*, rows: QuerySet, spec: ExportSpec) -> str:
    sql, params = rows.query.sql_with_params()
    cells = ["q.profile_id::text", _text_cell_sql("q.address")]
    cells += [_json_cell_sql(f"q.export_{index}") for index in range(len(spec.columns))]
    record = " || ',' || ".join(f"({cell})" for cell in cells)
    inner = connections[rows.db].ops.compose_sql(sql, params)
    return f"SELECT {record} FROM ({inner}) q ORDER BY q.profile_id"  # noqa: S608 - SQL we built


def _copy_records(*, rows: QuerySet, spec: ExportSpec) -> Iterator[str]:
    statement = f"COPY ({_csv_select(rows=rows, spec=spec)}) TO STDOUT"
    with export_read(using=rows.db), connections[rows.db].cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for (line,) in copy.rows():
            yield _csv_record_finish(line) if _RAW_MARK in line else line + "\r\n"


def export_chunks(*, segment: Segment, spec: ExportSpec, now: dt.datetime | None = None) -> Iterator[str]:
    """The whole export encoded, a chunk of text at a time: exactly
    `export_encode(rows=export_rows(...))`, made the fastest way the database allows
    (`export_csv_lines` for CSV). Checked at the call."""
    if spec.format != "csv":
        return export_encode(rows=export_rows(segment=segment, spec=spec, now=now), spec=spec)
    return _chunked(header=csv_header(spec), records=export_csv_lines(segment=segment, spec=spec, now=now))


def csv_header(spec: ExportSpec) -> str:
    """The header line of the CSV export."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([*FIXED_COLUMNS, *(c.name for c in spec.columns)])
    return buffer.getvalue()


def _chunked(*, header: str, records: Iterator[str], size: int = 500) -> Iterator[str]:
    yield header + "".join(itertools.islice(records, size))
    while chunk := "".join(itertools.islice(records, size)):
        yield chunk


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
