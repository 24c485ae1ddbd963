"""A JSON parser that bounds everything before the data reaches a service.

DRF's stock parser reads the raw request stream, bypassing Django's upload limit,
and accepts NaN, unbounded integers, duplicate keys, NUL characters and lone
surrogates (which PostgreSQL refuses with a 500). This one refuses each with a
clear problem (DESIGN.md §10).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from .errors import FieldProblem, bad_request, payload_too_large, pointer


class _Refused(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _reject_constant(name: str) -> Any:
    raise _Refused("invalid_number", f"{name} is not a JSON number")


def _bounded_int(max_digits: int):
    def parse_int(text: str) -> int:
        digits = len(text.lstrip("-"))
        if digits > max_digits:
            raise _Refused("number_too_large", f"an integer has {digits} digits; at most {max_digits} are accepted")
        return int(text)

    return parse_int


def _bounded_float(max_magnitude: int):
    def parse_float(text: str) -> float:
        if len(text) > 64:
            raise _Refused("number_too_large", "a number literal is longer than 64 characters")
        value = float(text)
        # Bounded well inside a double, so sums and other aggregates of many values stay finite.
        if not abs(value) <= max_magnitude:
            raise _Refused("number_too_large", f"a number is larger than {max_magnitude:.0e} in magnitude")
        return value

    return parse_float


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused("duplicate_key", f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def _bad_string(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate"
    return None


def check_json_tree(
    data: Any, *, max_depth: int, max_string: int, root: tuple[str | int, ...] = ()
) -> list[FieldProblem]:
    """Walk a decoded JSON value without recursion; return every string/depth problem."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, root, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            reason = _bad_string(value)
            if reason:
                problems.append(FieldProblem(pointer(*path), "invalid_characters", f"the string {reason}"))
            elif len(value) > max_string:
                problems.append(
                    FieldProblem(pointer(*path), "too_long", f"the string is longer than {max_string} characters")
                )
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                problems.append(FieldProblem(pointer(*path), "too_deep", f"nesting deeper than {max_depth} levels"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    reason = _bad_string(key)
                    if reason:
                        problems.append(FieldProblem(pointer(*path), "invalid_characters", f"an object key {reason}"))
                        continue
                stack.append((item, (*path, key), depth + 1))
        if len(problems) >= 50:
            break
    problems.sort(key=lambda p: p.pointer)
    return problems


def loads_strict(raw: bytes) -> Any:
    """Decode a JSON document under the CDP_* limits or raise a 400/413 problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise bad_request("malformed_json", f"The body is not valid UTF-8 (byte {error.start}).") from None
    try:
        data = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_bounded_int(settings.CDP_MAX_INTEGER_DIGITS),
            parse_float=_bounded_float(settings.CDP_MAX_NUMBER_MAGNITUDE),
            object_pairs_hook=_no_duplicate_keys,
        )
    except _Refused as error:
        raise bad_request(error.code, f"The body was refused: {error.detail}.") from None
    except RecursionError:
        raise bad_request("too_deep", f"The body nests deeper than {settings.CDP_MAX_NESTING_DEPTH} levels.") from None
    except json.JSONDecodeError as error:
        raise bad_request(
            "malformed_json", f"The body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}."
        ) from None
    problems = check_json_tree(
        data, max_depth=settings.CDP_MAX_NESTING_DEPTH, max_string=settings.CDP_MAX_STRING_LENGTH
    )
    if problems:
        raise bad_request(problems[0].code, f"{len(problems)} problem(s) in the body.", problems)
    return data


def read_bounded(stream: Any, content_length: int | None, limit: int) -> bytes:
    if content_length is not None and content_length > limit:
        raise payload_too_large(f"The body is {content_length} bytes; the limit is {limit}.")
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise payload_too_large(f"The body is larger than the limit of {limit} bytes.")
    return raw


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        request = (parser_context or {}).get("request")
        content_length = None
        if request is not None:
            try:
                content_length = int(request.META.get("CONTENT_LENGTH") or 0) or None
            except ValueError:
                content_length = None
        raw = read_bounded(stream, content_length, settings.CDP_MAX_BODY_BYTES)
        if not raw.strip():
            raise bad_request("malformed_json", "The body is empty; a JSON object was expected.")
        return loads_strict(raw)
