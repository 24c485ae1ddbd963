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


def compact_utf8(value: object) -> bytes:
    """The compact UTF-8 text of a value as orjson writes it, about ten times faster than the
    standard encoder: the same text but for how some floats are spelled (`1e-7`, not
    `1e-07`), so never the text to hash. What orjson refuses (an integer beyond 64 bits, a
    non-string key) is written by the standard encoder."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return compact_json(value).encode("utf-8")


def json_size(value: object) -> int:
    """The bytes of the compact UTF-8 text of a value."""
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
