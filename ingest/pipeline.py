"""The pure half of ingestion: parse and check one envelope (event or profile update)
into a `Prepared` item, with every problem at once, before any write.

Nothing here writes; the checks use one snapshot of the tenant's sources and
contracts, loaded once per request however many items a batch holds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from cdp_project.core.errors import FieldProblem, Problem, pointer
from cdp_project.core.jsonvalues import canonical_json, json_size
from cdp_project.core.parsers import RefusedItem
from cdp_project.core.timestamps import TimestampError, parse_rfc3339
from channels.normalization import channel_update_parse
from contracts.validator import ContractSnapshot
from identity.normalization import identity_normalize
from identity.types import NormalizedIdentity
from tenants.models import Tenant

from .models import RecordKind, Source

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

EVENT_FIELDS = ("source", "externalEventId", "eventType", "occurredAt", "identity", "properties")
PROFILE_UPDATE_FIELDS = ("source", "externalEventId", "occurredAt", "identity", "attributes")
CHANNEL_FIELDS = ("channel", "address", "consent", "reachability", "reason")
CHANNEL_UPDATE_FIELDS = ("source", "externalEventId", "occurredAt", "identity", *CHANNEL_FIELDS)

# The problem code a 422 answers with, chosen by where its first problem points.
_PROBLEM_BY_FIELD = {
    "source": Problem.UNKNOWN_SOURCE,
    "eventType": Problem.UNKNOWN_EVENT_TYPE,
    "occurredAt": Problem.INVALID_TIMESTAMP,
    "identity": Problem.INVALID_IDENTITY,
    "properties": Problem.CONTRACT_VIOLATION,
    "attributes": Problem.CONTRACT_VIOLATION,
    **{name: Problem.INVALID_CHANNEL_UPDATE for name in CHANNEL_FIELDS},
}


@dataclass
class IngestContext:
    """What every item of one request is checked against."""

    tenant: Tenant
    sources: Mapping[str, Source]
    contracts: ContractSnapshot
    now: dt.datetime = field(default_factory=timezone.now)
    derived: Mapping[str, Sequence[Any]] | None = None  # derived definitions by event type, when loaded
    # The version this context was loaded at, while the request has not yet compared it with
    # the database's (ingest.context.ingest_context_check); None once compared.
    unverified: tuple | None = None


@dataclass
class Prepared:
    index: int
    kind: str
    raw: Any
    source_key: str = ""
    source: Source | None = None
    external_id: str = ""
    event_type: str = ""
    occurred_at: dt.datetime | None = None
    identity: NormalizedIdentity | None = None
    body: dict[str, Any] = field(default_factory=dict)  # properties, attributes or the channel update
    channel_update: Any = None  # channels.types.ChannelUpdateSpec for channel updates
    contract_version: int | None = None
    warnings: list[str] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    too_large: bool = False
    fingerprint: str = ""
    record_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def key(self) -> tuple[int, str]:
        assert self.source is not None
        return (self.source.pk, self.external_id)

    @property
    def problem(self) -> Problem:
        """What a refused item answers with: 413 when it is too large, else the 422 of the
        field its first problem is at (a contract violation, an unknown source, ...)."""
        if self.too_large:
            return Problem.PAYLOAD_TOO_LARGE
        first = self.problems[0].pointer.split("/")[1] if self.problems and self.problems[0].pointer else ""
        return _PROBLEM_BY_FIELD.get(first, Problem.VALIDATION_ERROR)

    @property
    def label(self) -> str:
        if self.kind == RecordKind.EVENT:
            return self.event_type
        return "(profile update)" if self.kind == RecordKind.PROFILE_UPDATE else "(channel update)"


def _string(raw: Mapping[str, Any], name: str, problems: list[FieldProblem], *, max_length: int = 255) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        problems.append(FieldProblem(pointer(name), "required" if value is None else "type", "expected a string"))
        return ""
    value = value.strip()
    if not value:
        problems.append(FieldProblem(pointer(name), "required", "must not be empty"))
    elif len(value) > max_length:
        problems.append(FieldProblem(pointer(name), "too_long", f"at most {max_length} characters"))
    elif _CONTROL.search(value):
        problems.append(FieldProblem(pointer(name), "invalid_characters", "control characters are not allowed"))
    return value


def _occurred_at(raw: Mapping[str, Any], ctx: IngestContext, problems: list[FieldProblem]) -> dt.datetime | None:
    if "occurredAt" not in raw or raw["occurredAt"] is None:
        problems.append(FieldProblem("/occurredAt", "required", "occurredAt is required"))
        return None
    try:
        value = parse_rfc3339(raw["occurredAt"])
    except TimestampError as error:
        problems.append(FieldProblem("/occurredAt", "invalid_timestamp", str(error)))
        return None
    earliest = ctx.now - dt.timedelta(days=settings.CDP_MAX_TIMESTAMP_PAST_DAYS)
    latest = ctx.now + dt.timedelta(seconds=settings.CDP_MAX_TIMESTAMP_FUTURE_SECONDS)
    if value < earliest:
        problems.append(
            FieldProblem(
                "/occurredAt",
                "invalid_timestamp",
                f"more than {settings.CDP_MAX_TIMESTAMP_PAST_DAYS} days in the past",
            )
        )
    elif value > latest:
        problems.append(
            FieldProblem(
                "/occurredAt",
                "invalid_timestamp",
                f"more than {settings.CDP_MAX_TIMESTAMP_FUTURE_SECONDS} seconds in the future",
            )
        )
    return value


def fingerprint(kind: str, item: Prepared) -> str:
    """A hash of the normalized payload: a true replay has the same one."""
    assert item.occurred_at is not None and item.identity is not None
    canonical = {
        "kind": kind,
        "eventType": item.event_type,
        "occurredAt": item.occurred_at.astimezone(dt.UTC).isoformat(),
        "identity": dict(sorted(item.identity.values.items())),
        "body": item.body,
    }
    return hashlib.sha256(canonical_json(canonical).encode("utf-8")).hexdigest()


def _envelope(index: int, kind: str, raw: Any, fields: Sequence[str], ctx: IngestContext) -> Prepared:
    item = Prepared(index=index, kind=kind, raw=raw)
    if isinstance(raw, RefusedItem):  # a batch item the JSON parser refused (a NUL, a 20-digit integer, ...)
        item.raw = raw.payload
        item.problems.extend(raw.problems)
        return item
    if not isinstance(raw, dict):
        item.problems.append(FieldProblem("", "type", "each item must be a JSON object"))
        return item
    size = json_size(raw)
    if size > settings.CDP_MAX_EVENT_BYTES:
        item.too_large = True
        item.problems.append(
            FieldProblem("", "too_large", f"the item is {size} bytes; at most {settings.CDP_MAX_EVENT_BYTES}")
        )
        return item
    problems = item.problems
    for name in sorted(set(raw) - set(fields)):
        problems.append(FieldProblem(pointer(name), "undeclared", f"unknown field {name!r}"))
    item.source_key = _string(raw, "source", problems, max_length=63)
    if item.source_key:
        item.source = ctx.sources.get(item.source_key)
        if item.source is None:
            problems.append(
                FieldProblem("/source", "unknown_source", f"{item.source_key!r} is not a registered source")
            )
    item.external_id = _string(raw, "externalEventId", problems)
    item.occurred_at = _occurred_at(raw, ctx, problems)
    if "identity" not in raw:
        problems.append(FieldProblem("/identity", "required", "identity is required"))
    else:
        item.identity = identity_normalize(tenant=ctx.tenant, identity=raw["identity"])
        problems.extend(item.identity.problems)
    return item


def prepare_event(index: int, raw: Any, ctx: IngestContext) -> Prepared:
    item = _envelope(index, RecordKind.EVENT, raw, EVENT_FIELDS, ctx)
    if item.too_large or not isinstance(raw, dict):
        return item
    item.event_type = _string(raw, "eventType", item.problems, max_length=100)
    if "properties" not in raw:
        item.problems.append(FieldProblem("/properties", "required", "properties is required (may be {})"))
    elif item.event_type:
        check = ctx.contracts.check_event(event_type=item.event_type, properties=raw["properties"])
        item.problems.extend(check.problems)
        item.warnings.extend(check.warnings)
        item.contract_version = check.version
        if isinstance(raw["properties"], dict) and check.ok:
            item.body = ctx.contracts.canonical_properties(event_type=item.event_type, properties=raw["properties"])
        elif isinstance(raw["properties"], dict):
            item.body = raw["properties"]
    _finish(item)
    return item


def prepare_profile_update(index: int, raw: Any, ctx: IngestContext) -> Prepared:
    item = _envelope(index, RecordKind.PROFILE_UPDATE, raw, PROFILE_UPDATE_FIELDS, ctx)
    if item.too_large or not isinstance(raw, dict):
        return item
    if "attributes" not in raw:
        item.problems.append(FieldProblem("/attributes", "required", "attributes is required"))
    else:
        problems = ctx.contracts.check_attributes(attributes=raw["attributes"])
        item.problems.extend(problems)
        if isinstance(raw["attributes"], dict):
            attributes = raw["attributes"]
            item.body = attributes if problems else ctx.contracts.canonical_attributes(attributes=attributes)
    _finish(item)
    return item


def prepare_channel_update(index: int, raw: Any, ctx: IngestContext) -> Prepared:
    item = _envelope(index, RecordKind.CHANNEL_UPDATE, raw, CHANNEL_UPDATE_FIELDS, ctx)
    if item.too_large or not isinstance(raw, dict):
        return item
    spec, problems = channel_update_parse(tenant=ctx.tenant, body=raw)
    item.problems.extend(problems)
    if spec is not None:
        item.channel_update = spec
        item.body = spec.as_dict()
    _finish(item)
    return item


def _finish(item: Prepared) -> None:
    item.problems.sort(
        key=lambda p: (_FIELD_ORDER.get(p.pointer.split("/")[1] if "/" in p.pointer else "", 99), p.pointer)
    )
    if item.ok:
        item.fingerprint = fingerprint(item.kind, item)


_FIELD_ORDER = {name: i for i, name in enumerate(("", *EVENT_FIELDS, "attributes", *CHANNEL_FIELDS))}
