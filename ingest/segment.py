"""The Segment-compatible ingress: Segment / RudderStack messages mapped onto our own items.

Each message becomes exactly one item of our own pipeline (an event or a profile update)
in the write key's source, with `messageId` as its `externalEventId`, so contracts,
identity rules, idempotency and the recording of refused items are those of
`/api/v1/events`. The mapping is documented in docs/segment-compatible-ingress.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdp_project.core.errors import FieldProblem
from cdp_project.core.timestamps import TimestampError, format_utc, parse_rfc3339
from contracts.selectors import attribute_definition_list
from identity.selectors import identifier_owner_get
from tenants.models import Tenant

from . import selectors, services
from .models import RecordKind
from .types import CONFLICT, REJECTED, ItemResult

MESSAGE_TYPES = ("track", "identify", "alias", "page", "screen", "group")

# The event type each non-track call lands as (track names its own).
PAGE_EVENT = "page_viewed"
SCREEN_EVENT = "screen_viewed"
GROUP_EVENT = "group_joined"

# Traits that are identifiers, not attributes.
IDENTIFIER_TRAITS = {"email": "EMAIL", "phone": "PHONE"}

_SAMPLE_LIMIT = 2_000


@dataclass(frozen=True)
class MessageResult:
    """The answer for one message: what `results[i]` of the response says."""

    message_id: str | None
    status: str  # accepted | duplicate | rejected | conflict
    code: str | None = None
    errors: tuple[FieldProblem, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class _Mapped:
    index: int
    message: Any
    message_id: str | None = None
    kind: str = RecordKind.EVENT
    item: Any = None  # our envelope; None when refused before the pipeline
    pointers: dict[str, str] = field(default_factory=dict)  # our pointer prefix -> the message's
    warnings: list[str] = field(default_factory=list)
    derived_time: bool = False  # occurredAt came from originalTimestamp or the time received
    refusal: MessageResult | None = None


def snake_case(name: str) -> str:
    """Segment event names to our event type names: `"Order Completed"` and
    `"orderCompleted"` both become `order_completed`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _id_text(value: Any) -> Any:
    """Segment ids are strings; SDKs of typed languages send numbers too."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _occurred_at(
    message: Mapping[str, Any], sent_at: Any, received_at: dt.datetime, mapped: _Mapped
) -> tuple[Any, str]:
    """Segment's rule: `timestamp`; else `originalTimestamp` corrected by the client's clock
    skew (`receivedAt - sentAt`); else the time received."""
    if message.get("timestamp") is not None:
        return message["timestamp"], "/timestamp"
    mapped.derived_time = True
    original = message.get("originalTimestamp")
    if original is None:
        return format_utc(received_at), ""
    try:
        value = parse_rfc3339(original)
    except TimestampError:
        return original, "/originalTimestamp"  # the pipeline refuses it, pointing there
    sent = message.get("sentAt", sent_at)
    try:
        value += received_at - parse_rfc3339(sent)
    except TimestampError:
        pass  # no usable sentAt: no correction, as Segment does
    except OverflowError:
        return original, "/originalTimestamp"  # a skew of millennia: the pipeline refuses the timestamp
    return format_utc(value), "/originalTimestamp"


def _traits_value(message: Mapping[str, Any], name: str) -> tuple[Any, str] | None:
    for path in (("traits",), ("context", "traits")):
        holder: Any = message
        for token in path:
            holder = holder.get(token) if isinstance(holder, Mapping) else None
        if isinstance(holder, Mapping) and _present(holder.get(name)):
            return holder[name], "/" + "/".join((*path, name))
    return None


def _identity(message: Mapping[str, Any], mapped: _Mapped, *, device_field: str) -> dict[str, Any]:
    identity: dict[str, Any] = {}
    for name, type_ in (("userId", "EXTERNAL"), (device_field, "DEVICE_KEY")):
        value = _id_text(message.get(name))
        if _present(value):
            identity[type_] = value
            mapped.pointers[f"/identity/{type_}"] = f"/{name}"
    for trait, type_ in IDENTIFIER_TRAITS.items():
        found = _traits_value(message, trait)
        if found is not None:
            identity[type_], mapped.pointers[f"/identity/{type_}"] = found
    mapped.pointers["/identity"] = "/userId"
    return identity


def _envelope(
    message: Mapping[str, Any], mapped: _Mapped, source_key: str, sent_at: Any, received_at: dt.datetime
) -> dict[str, Any]:
    occurred_at, time_pointer = _occurred_at(message, sent_at, received_at, mapped)
    mapped.pointers.update({"/source": "", "/externalEventId": "/messageId", "/occurredAt": time_pointer})
    return {"source": source_key, "occurredAt": occurred_at}


def _map(
    index: int,
    message: Any,
    message_type: str | None,
    *,
    tenant: Tenant,
    source_key: str,
    sent_at: Any,
    received_at: dt.datetime,
    attributes: Callable[[], frozenset[str]],
) -> _Mapped:
    mapped = _Mapped(index=index, message=message)
    if not isinstance(message, Mapping):
        # Our pipeline refuses a non-object item (and records it) like any other.
        mapped.item = message
        return mapped
    raw_id = _id_text(message.get("messageId"))
    mapped.message_id = raw_id if isinstance(raw_id, str) else None
    kind = message_type or message.get("type")
    if kind not in MESSAGE_TYPES:
        mapped.refusal = MessageResult(
            message_id=mapped.message_id,
            status=REJECTED,
            code="unknown_message_type",
            errors=(
                FieldProblem(
                    "/type",
                    "unknown_message_type",
                    f"{str(kind)[:40]!r} is not a message type; use one of {', '.join(MESSAGE_TYPES)}",
                ),
            ),
        )
        return mapped
    envelope = _envelope(message, mapped, source_key, sent_at, received_at)
    envelope["externalEventId"] = raw_id  # anything but a string is refused by the pipeline, at /messageId
    if kind == "identify":
        mapped.kind = RecordKind.PROFILE_UPDATE
        envelope["identity"] = _identity(message, mapped, device_field="anonymousId")
        envelope["attributes"] = _identify_attributes(message, mapped, attributes)
    elif kind == "alias":
        mapped.kind = RecordKind.PROFILE_UPDATE
        envelope["identity"] = _identity(message, mapped, device_field="previousId")
        envelope["attributes"] = {}
        mapped.refusal = _alias_refusal(tenant, message, mapped, envelope)
    else:
        envelope["identity"] = _identity(message, mapped, device_field="anonymousId")
        envelope["eventType"], envelope["properties"] = _event_body(kind, message, mapped)
    mapped.item = envelope
    return mapped


def _identify_attributes(message: Mapping[str, Any], mapped: _Mapped, attributes: Callable[[], frozenset[str]]) -> Any:
    """The traits other than email and phone that are registered attributes. Segment's
    SDKs send them as `traits`, RudderStack's as `context.traits`."""
    if "traits" in message:
        traits, where = message["traits"], "/traits"
    else:
        context = message.get("context")
        traits = context.get("traits", {}) if isinstance(context, Mapping) else {}
        where = "/context/traits"
    mapped.pointers["/attributes"] = where
    if not isinstance(traits, Mapping):
        return traits  # refused by the contract check, pointing at the traits
    registered = attributes()
    kept: dict[str, Any] = {}
    for name, value in traits.items():
        if name in IDENTIFIER_TRAITS:
            continue
        if name in registered:
            kept[name] = value
        else:
            mapped.warnings.append(f"trait {name!r} is not a registered attribute; it was not stored")
    return kept


def _alias_refusal(
    tenant: Tenant, message: Mapping[str, Any], mapped: _Mapped, envelope: dict[str, Any]
) -> MessageResult | None:
    """`previousId` is the id the customer had before (Segment: usually the anonymousId):
    it joins userId's profile as a DEVICE_KEY. When it is another customer's userId the
    alias is refused: two customers with different EXTERNAL ids are never merged."""
    previous = envelope["identity"].get("DEVICE_KEY")
    user = envelope["identity"].get("EXTERNAL")
    problems = []
    if not _present(message.get("previousId")):
        problems.append(FieldProblem("/previousId", "required", "alias needs the previousId to join"))
    if not _present(message.get("userId")):
        problems.append(FieldProblem("/userId", "required", "alias needs the userId to join previousId to"))
    if not problems and isinstance(previous, str) and isinstance(user, str) and previous.strip() != user.strip():
        if identifier_owner_get(tenant=tenant, type="EXTERNAL", value=previous.strip()) is not None:
            problems.append(
                FieldProblem(
                    "/previousId",
                    "external_conflict",
                    f"{previous.strip()[:60]!r} is the userId of another customer; two customers with "
                    "different userIds are never merged",
                )
            )
    if problems:
        return MessageResult(
            message_id=mapped.message_id, status=REJECTED, code="invalid_identity", errors=tuple(problems)
        )
    return None


def _event_body(kind: str, message: Mapping[str, Any], mapped: _Mapped) -> tuple[Any, Any]:
    if kind == "group":
        traits = message.get("traits", {})
        properties = {"groupId": _id_text(message.get("groupId")), **traits} if isinstance(traits, Mapping) else traits
        if isinstance(properties, dict) and properties.get("groupId") is None:
            properties.pop("groupId")
        mapped.pointers.update({"/eventType": "/type", "/properties/groupId": "/groupId", "/properties": "/traits"})
        return GROUP_EVENT, properties
    properties = message.get("properties", {})
    mapped.pointers["/properties"] = "/properties"
    if kind == "track":
        mapped.pointers["/eventType"] = "/event"
        event = message.get("event")
        return (snake_case(event) or event if isinstance(event, str) else event), properties
    mapped.pointers["/eventType"] = "/type"
    if isinstance(properties, Mapping):
        properties = dict(properties)
        for name in ("name", "category"):
            if _present(message.get(name)) and name not in properties:
                properties[name] = message[name]
                mapped.pointers[f"/properties/{name}"] = f"/{name}"
    return (PAGE_EVENT if kind == "page" else SCREEN_EVENT), properties


def _translate(pointer: str, pointers: Mapping[str, str]) -> str:
    """Our item's JSON pointer, moved onto the Segment message it came from."""
    for ours in sorted(pointers, key=len, reverse=True):
        if pointer == ours or pointer.startswith(ours + "/"):
            return pointers[ours] + pointer[len(ours) :]
    return pointer


def _message_result(mapped: _Mapped, result: ItemResult) -> MessageResult:
    if result.status == CONFLICT:
        errors: tuple[FieldProblem, ...] = (
            FieldProblem("/messageId", result.code or "idempotency_conflict", result.detail),
        )
    else:
        errors = tuple(FieldProblem(_translate(p.pointer, mapped.pointers), p.code, p.detail) for p in result.problems)
    return MessageResult(
        message_id=mapped.message_id,
        status=result.status,
        code=result.code,
        errors=errors,
        warnings=(*result.warnings, *mapped.warnings),
    )


def _keep_stored_times(tenant: Tenant, source_key: str, mapped_all: Sequence[_Mapped]) -> None:
    """A retry of a message without `timestamp` derives another occurredAt (sentAt and the
    time received move on); the one stored the first time is kept, so the retry is the
    duplicate it is and not an idempotency conflict."""
    derived = {m.message_id: m for m in mapped_all if m.derived_time and m.refusal is None and m.message_id}
    if not derived:
        return
    stored = selectors.records_occurred_at(tenant=tenant, source_key=source_key, external_ids=list(derived))
    for message_id, occurred_at in stored.items():
        for mapped in mapped_all:
            if mapped.message_id == message_id and mapped.derived_time and isinstance(mapped.item, dict):
                mapped.item["occurredAt"] = format_utc(occurred_at)


def _refusals_record(tenant: Tenant, source_key: str, refused: Sequence[_Mapped], now: dt.datetime) -> None:
    """Messages refused before our pipeline (an unknown type, an alias between two
    customers) are counted in the violations log like every refused item."""
    counts: dict[tuple[str, str, str], tuple[int, str]] = {}
    for mapped in refused:
        assert mapped.refusal is not None and mapped.refusal.code is not None
        kind = mapped.message.get("type") if isinstance(mapped.message, Mapping) else None
        group = (source_key, f"(segment {str(kind)[:40]})", mapped.refusal.code)
        count, _ = counts.get(group, (0, ""))
        payload = json.dumps(mapped.message, ensure_ascii=False, default=str)[:_SAMPLE_LIMIT]
        errors = json.dumps({"errors": [p.as_dict() for p in mapped.refusal.errors]}, ensure_ascii=False)
        counts[group] = (count + 1, errors + "\n" + payload)
    if counts:
        services.violations_record(tenant=tenant, counts=counts, now=now)


_INGEST: dict[str, Callable[..., list[ItemResult]]] = {
    RecordKind.EVENT: lambda tenant, items: services.events_ingest(tenant=tenant, events=items),
    RecordKind.PROFILE_UPDATE: lambda tenant, items: services.profile_updates_ingest(tenant=tenant, updates=items),
}


def segment_messages_ingest(
    *,
    tenant: Tenant,
    source_key: str,
    messages: Sequence[Any],
    message_type: str | None = None,
    sent_at: Any = None,
    received_at: dt.datetime,
) -> list[MessageResult]:
    """Ingest Segment messages in array order, one result per message. `message_type`
    is the type of the single-message endpoints (`/v1/track`, …); the batch endpoint
    reads each message's own `type`. Messages are applied in array order: consecutive
    messages of one kind go through our pipeline together, each run in its own
    transaction. A bad message never sinks the others."""
    registered: list[frozenset[str]] = []

    def attributes() -> frozenset[str]:
        if not registered:
            registered.append(frozenset(a.name for a in attribute_definition_list(tenant_id=tenant.pk)))
        return registered[0]

    mapped_all = [
        _map(
            index,
            message,
            message_type,
            tenant=tenant,
            source_key=source_key,
            sent_at=sent_at,
            received_at=received_at,
            attributes=attributes,
        )
        for index, message in enumerate(messages)
    ]
    _keep_stored_times(tenant, source_key, mapped_all)
    results: dict[int, MessageResult] = {}
    local = [m for m in mapped_all if m.refusal is not None]
    for mapped in local:
        results[mapped.index] = mapped.refusal  # type: ignore[assignment]
    _refusals_record(tenant, source_key, local, received_at)
    piped = [m for m in mapped_all if m.refusal is None]
    start = 0
    while start < len(piped):
        end = start
        while end < len(piped) and piped[end].kind == piped[start].kind:
            end += 1
        run = piped[start:end]
        outcomes = _INGEST[run[0].kind](tenant, [m.item for m in run])
        for mapped, outcome in zip(run, outcomes, strict=True):
            results[mapped.index] = _message_result(mapped, outcome)
        start = end
    return [results[index] for index in range(len(mapped_all))]
