"""Identifier normalization (DESIGN.md §3): one canonical form per identifier, so the
same customer typed two ways is one identifier, and junk values never join customers."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from cdp_project.core.errors import FieldProblem, Problem, escape_pointer_token
from cdp_project.core.jsonvalues import json_type_name
from cdp_project.core.text import has_lone_surrogate
from tenants.models import Tenant

from .types import IDENTIFIER_TYPES, IgnoredIdentifier, NormalizedIdentity

MAX_EMAIL_LENGTH = 254
MAX_KEY_LENGTH = 255
MAX_PHONE_INPUT_LENGTH = 64


class InvalidIdentifier(ValueError):
    """A value that cannot be an identifier of its type; the message says precisely why."""


def _check_characters(text: str) -> None:
    if text.isascii() and text.isprintable():  # the common case, without a lookup per character
        return
    if has_lone_surrogate(text):
        raise InvalidIdentifier("contains a lone surrogate")
    for char in text:
        if unicodedata.category(char) == "Cc":
            raise InvalidIdentifier(f"contains a control character (U+{ord(char):04X})")


def _normalize_email(text: str) -> str:
    value = text.strip().lower()
    if not value:
        raise InvalidIdentifier("is empty")
    if len(value) > MAX_EMAIL_LENGTH:
        raise InvalidIdentifier(f"is longer than {MAX_EMAIL_LENGTH} characters")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidIdentifier("is not a valid email address") from None
    return value


def _normalize_phone(text: str, region: str, *, keep_extension: bool) -> str:
    raw = text.strip()
    if not raw:
        raise InvalidIdentifier("is empty")
    if len(raw) > MAX_PHONE_INPUT_LENGTH:
        raise InvalidIdentifier(f"is longer than {MAX_PHONE_INPUT_LENGTH} characters")
    international = raw.startswith("+")
    where = "" if international else f" for region {region}"
    try:
        number = phonenumbers.parse(raw, None if international else region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier(f"is not a valid phone number{where}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier(f"is not a valid phone number{where}")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # An extension reaches one desk behind a shared line: the number with an extension is
    # another identifier than the bare number (RFC 3966 form), never merged with it.
    # (Channel addresses drop it: a text message reaches the line, not the desk.)
    return f"{e164};ext={number.extension}" if number.extension and keep_extension else e164


def _normalize_key(text: str) -> str:
    value = text.strip()
    if not value:
        raise InvalidIdentifier("is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidIdentifier(f"is longer than {MAX_KEY_LENGTH} characters")
    for char in value:
        # Invisible format characters (zero-width space U+200B, right-to-left override U+202E,
        # BOM U+FEFF, ...) would make two ids that look identical differ, or one look like another.
        if unicodedata.category(char) == "Cf":
            raise InvalidIdentifier(f"contains an invisible format character (U+{ord(char):04X})")
    return value


def normalize_value(*, type: str, value: object, region: str, phone_extension: bool = False) -> str:
    """The canonical form of one identifier value, or InvalidIdentifier with the reason.
    `phone_extension` keeps a PHONE's extension (`+442079460958;ext=12`), as identifiers do."""
    if not isinstance(value, str):
        raise InvalidIdentifier(f"must be a string, got {json_type_name(value)}")
    _check_characters(value)
    if type == "EMAIL":
        return _normalize_email(value)
    if type == "PHONE":
        return _normalize_phone(value, region, keep_extension=phone_extension)
    return _normalize_key(value)


def blocked_values(tenant: Tenant) -> frozenset[str]:
    values: Iterable[object] = tenant.blocked_identifier_values or ()
    try:
        return _blocked(tuple(values))
    except TypeError:  # an unhashable entry (the setting is JSON): only strings count anyway
        return _blocked(tuple(v for v in values if isinstance(v, str)))


@functools.lru_cache(maxsize=64)
def _blocked(values: tuple[object, ...]) -> frozenset[str]:
    """Built once per distinct setting, not once per identity map (a batch asks 500 times)."""
    return frozenset(v.strip().lower() for v in values if isinstance(v, str))


def _unknown_type_detail(key: str) -> str:
    hint = next((t for t in IDENTIFIER_TYPES if t == key.strip().upper()), None)
    known = ", ".join(IDENTIFIER_TYPES)
    if hint:
        return f"unknown identifier type {key!r}; did you mean {hint!r}? Types are {known}"
    return f"unknown identifier type {key!r}; types are {known}"


def identity_normalize(*, tenant: Tenant, identity: object, pointer_prefix: str = "/identity") -> NormalizedIdentity:
    """Normalize an identity map. Every problem is reported at once in `problems`;
    blocked values are moved to `ignored` and never reach the resolver."""
    if not isinstance(identity, dict):
        detail = f"identity must be an object mapping identifier types to values, got {json_type_name(identity)}"
        return NormalizedIdentity(values={}, problems=(FieldProblem(pointer_prefix, "invalid_identity", detail),))
    blocked = blocked_values(tenant)
    values: dict[str, str] = {}
    ignored: list[IgnoredIdentifier] = []
    problems: list[FieldProblem] = []
    for key, raw in identity.items():
        at = f"{pointer_prefix}/{escape_pointer_token(key)}"
        if key not in IDENTIFIER_TYPES:
            problems.append(FieldProblem(at, "unknown_identifier_type", _unknown_type_detail(str(key))))
            continue
        if isinstance(raw, str) and raw.strip().lower() in blocked:
            ignored.append(IgnoredIdentifier(type=key, value=raw.strip(), reason="blocked"))
            continue
        try:
            normalized = normalize_value(type=key, value=raw, region=tenant.default_region, phone_extension=True)
        except InvalidIdentifier as error:
            problems.append(FieldProblem(at, "invalid_identity", f"{key} {error}"))
            continue
        if normalized.lower() in blocked:
            ignored.append(IgnoredIdentifier(type=key, value=normalized, reason="blocked"))
            continue
        values[key] = normalized
    if not values and not problems:
        detail = (
            "every identifier is a blocked value; at least one usable identifier is needed"
            if ignored
            else f"identity holds no identifier; give at least one of {', '.join(IDENTIFIER_TYPES)}"
        )
        problems.append(FieldProblem(pointer_prefix, "no_usable_identifier", detail))
    ordered = {t: values[t] for t in IDENTIFIER_TYPES if t in values}
    ignored.sort(key=lambda item: IDENTIFIER_TYPES.index(item.type))
    return NormalizedIdentity(values=ordered, ignored=tuple(ignored), problems=tuple(problems))


def identifier_normalize(*, tenant: Tenant, type: str, value: str, pointer: str | None = None) -> str:
    """The canonical form of one identifier (for lookups and searches), or a 422
    `invalid_identity` problem. Blocked values are normalized like any other."""
    at = pointer or f"/identity/{escape_pointer_token(type)}"
    if type not in IDENTIFIER_TYPES:
        detail = _unknown_type_detail(type)
        raise Problem.INVALID_IDENTITY.error(detail, [FieldProblem(at, "unknown_identifier_type", detail)])
    try:
        return normalize_value(type=type, value=value, region=tenant.default_region, phone_extension=True)
    except InvalidIdentifier as error:
        detail = f"{type} {error}"
        raise Problem.INVALID_IDENTITY.error(detail, [FieldProblem(at, "invalid_identity", detail)])


def identifier_candidates(*, text: str, region: str) -> dict[str, str]:
    """Every identifier a human-typed search text could be (for the admin search)."""
    candidates: dict[str, str] = {}
    for type in IDENTIFIER_TYPES:
        try:
            candidates[type] = normalize_value(type=type, value=text, region=region, phone_extension=True)
        except InvalidIdentifier:
            continue
    return candidates
