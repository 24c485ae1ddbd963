"""JSON values as text: the canonical form (equal values, equal text, whatever the key
order), the compact form (what a value weighs on the wire) and the JSON name of a
value's type (for "expected a string, got number" messages)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import orjson


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, UTF-8 as it is: the text to hash or to compare values by."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compact_json(value: object) -> str:
    """No spaces, keys in their order, UTF-8 as it is: a value as a client would send it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _refused(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


# Dates, times and dataclasses are not JSON to the standard encoder either: orjson hands them
# to `_refused`, so they fail alike (through the fallback below).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def compact_utf8(value: object) -> bytes:
    """The compact UTF-8 text of a value as orjson writes it, about ten times faster than the
    standard encoder. The same text as `compact_json` for every string, integer and
    structure; a float is written in its shortest form (`1e-7` for `1e-07`, `0.0000152` for
    `1.52e-05`), and a NaN or an infinity (which the request parser refuses) as `null`. So
    never the text to hash. What orjson refuses (an integer beyond 64 bits, a non-string key,
    a date) goes to the standard encoder, which writes it or raises TypeError as before."""
    try:
        return orjson.dumps(value, default=_refused, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return compact_json(value).encode("utf-8")


def json_size(value: object) -> int:
    """The bytes of the compact UTF-8 text of a value (`compact_utf8`: floats in their
    shortest form), what `CDP_MAX_EVENT_BYTES` and the variable size limit weigh."""
    return len(compact_utf8(value))


def json_type_name(value: object, *, integers: bool = True) -> str:
    """`null`, `boolean`, `integer` (or `number` with `integers=False`), `number`, `string`,
    `array`, `object`; for anything else, the Python type's name. The contracts say
    `integer` (their rules tell integers from numbers); the segment language and channel
    updates say `number`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if integers else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
