"""Checking and normalizing a channel update's endpoint fields (DESIGN.md §5).

EMAIL addresses are normalized exactly like EMAIL identifiers, SMS and WHATSAPP numbers
to E.164 (read in the tenant's default region when they have no `+`), push tokens are
trimmed. The tenant's blocked placeholder values (`null`, `undefined`, …) are refused as
addresses, like they are ignored as identifiers."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import phonenumbers

from cdp_project.core.errors import FieldProblem
from cdp_project.core.jsonvalues import json_type_name
from cdp_project.core.text import has_lone_surrogate
from identity.normalization import InvalidIdentifier, blocked_values, normalize_value
from tenants.models import Tenant

from .models import MAX_ADDRESS_LENGTH, MAX_REASON_LENGTH
from .types import CHANNELS, CONSENT_STATES, REACHABILITY_STATES, ChannelUpdateSpec

PHONE_CHANNELS = ("SMS", "WHATSAPP")


class InvalidAddress(ValueError):
    """An address that cannot be an endpoint on its channel; the message says why."""


def _json_type(value: object) -> str:
    return json_type_name(value, integers=False)


def _check_text(text: str) -> None:
    if has_lone_surrogate(text):
        raise InvalidAddress("contains a lone surrogate")
    for char in text:
        if unicodedata.category(char) == "Cc":
            raise InvalidAddress(f"contains a control character (U+{ord(char):04X})")


def _normalize_push_token(text: str) -> str:
    _check_text(text)
    value = text.strip()
    if not value:
        raise InvalidAddress("is empty")
    if len(value) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"is longer than {MAX_ADDRESS_LENGTH} characters")
    return value


def address_normalize(*, channel: str, address: object, region: str) -> str:
    """The canonical address on a channel, or InvalidAddress with the reason."""
    if not isinstance(address, str):
        raise InvalidAddress(f"must be a string, got {_json_type(address)}")
    if channel == "PUSH":
        return _normalize_push_token(address)
    try:
        return normalize_value(type="EMAIL" if channel == "EMAIL" else "PHONE", value=address, region=region)
    except InvalidIdentifier as error:
        raise InvalidAddress(str(error)) from None


def phone_number_type(e164: str) -> str:
    """The phonenumbers type name of a valid E.164 number: MOBILE, FIXED_LINE,
    FIXED_LINE_OR_MOBILE, VOIP, …; UNKNOWN when the metadata cannot tell."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "UNKNOWN"
    kind = phonenumbers.number_type(number)
    for name in dir(phonenumbers.PhoneNumberType):
        if not name.startswith("_") and getattr(phonenumbers.PhoneNumberType, name) == kind:
            return name
    return "UNKNOWN"


def _choice(
    body: Mapping[str, Any], name: str, allowed: tuple[str, ...], code: str, problems: list[FieldProblem]
) -> str | None:
    """An optional enum field; absent and null both mean "no change"."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value in allowed:
        return value
    hint = ""
    if isinstance(value, str) and value.strip().lower() in allowed:
        hint = f"; did you mean {value.strip().lower()!r}?"
    shown = repr(value[:40]) if isinstance(value, str) else _json_type(value)
    problems.append(FieldProblem(f"/{name}", code, f"{shown} is not one of {', '.join(allowed)}{hint}"))
    return None


def _channel(body: Mapping[str, Any], problems: list[FieldProblem]) -> str | None:
    value = body.get("channel")
    if value is None:
        problems.append(FieldProblem("/channel", "required", f"channel is required: one of {', '.join(CHANNELS)}"))
        return None
    if isinstance(value, str) and value in CHANNELS:
        return value
    hint = ""
    if isinstance(value, str) and value.strip().upper() in CHANNELS:
        hint = f"; did you mean {value.strip().upper()!r}?"
    shown = repr(value[:40]) if isinstance(value, str) else _json_type(value)
    problems.append(FieldProblem("/channel", "unknown_channel", f"{shown} is not one of {', '.join(CHANNELS)}{hint}"))
    return None


def _reason(body: Mapping[str, Any], problems: list[FieldProblem]) -> str:
    value = body.get("reason")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem("/reason", "type", f"expected a string, got {_json_type(value)}"))
        return ""
    try:
        _check_text(value)
    except InvalidAddress as error:
        problems.append(FieldProblem("/reason", "invalid_characters", f"reason {error}"))
        return ""
    value = value.strip()
    if len(value) > MAX_REASON_LENGTH:
        problems.append(FieldProblem("/reason", "too_long", f"at most {MAX_REASON_LENGTH} characters"))
        return ""
    return value


def channel_update_parse(
    *, tenant: Tenant, body: Mapping[str, Any]
) -> tuple[ChannelUpdateSpec | None, tuple[FieldProblem, ...]]:
    """Read `channel`, `address`, `consent`, `reachability`, `reason` from one channel-update
    body; return the normalized spec, or None with every problem (pointers `/channel`,
    `/address`, `/consent`, `/reachability`, `/reason`)."""
    problems: list[FieldProblem] = []
    channel = _channel(body, problems)
    address = ""
    if "address" not in body or body["address"] is None:
        problems.append(FieldProblem("/address", "required", "address is required"))
    elif channel is not None:
        raw = body["address"]
        try:
            if isinstance(raw, str) and raw.strip().lower() in blocked_values(tenant):
                raise InvalidAddress("is a blocked placeholder value")
            address = address_normalize(channel=channel, address=raw, region=tenant.default_region)
        except InvalidAddress as error:
            problems.append(FieldProblem("/address", "invalid_address", f"{channel} address {error}"))
    consent = _choice(body, "consent", CONSENT_STATES, "unknown_consent_state", problems)
    reachability = _choice(body, "reachability", REACHABILITY_STATES, "unknown_reachability_state", problems)
    reason = _reason(body, problems)
    if problems or channel is None:
        return None, tuple(problems)
    return (
        ChannelUpdateSpec(channel=channel, address=address, consent=consent, reachability=reachability, reason=reason),
        (),
    )
