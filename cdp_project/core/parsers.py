"""A JSON parser that bounds everything before the data reaches a service.

DRF's stock parser reads the raw request stream, bypassing Django's upload limit,
and accepts NaN, unbounded integers, duplicate keys, NUL characters and lone
surrogates (which PostgreSQL refuses with a 500). This one refuses each with a
clear problem (DESIGN.md §10).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from .errors import FieldProblem, Problem, ProblemError, payload_too_large, pointer
from .text import unstorable_reason


class Unacceptable:
    """A value the decoder refused (an integer with too many digits, NaN, an object with
    a duplicate key): left in the tree in its place, so the problem can be reported at
    its pointer, and only the batch item holding it refused."""

    __slots__ = ("code", "detail")

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"Unacceptable({self.code!r})"


class RefusedItem:
    """An item of a batch body that breaks a bound of the JSON itself (NUL, lone
    surrogate, over-long string, nesting, number size, duplicate key). The batch view
    passes it on like any item; ingest refuses it alone, with these `problems` (pointers
    relative to the item). `payload` is the item with every offending value replaced by
    null, safe to log or keep. It is no dict, so code that does not know it can only refuse it."""

    __slots__ = ("problems", "payload")

    def __init__(self, problems: list[FieldProblem], payload: Any) -> None:
        self.problems = problems
        self.payload = payload

    def __repr__(self) -> str:
        return f"RefusedItem({[p.code for p in self.problems]!r})"


def _reject_constant(name: str) -> Any:
    return Unacceptable("invalid_number", f"{name} is not a JSON number")


def _bounded_int(max_digits: int):
    def parse_int(text: str) -> int | Unacceptable:
        digits = len(text.lstrip("-"))
        if digits > max_digits:
            detail = f"an integer has {digits} digits; at most {max_digits} are accepted"
            return Unacceptable("number_too_large", detail)
        return int(text)

    return parse_int


def _bounded_float(max_magnitude: int):
    def parse_float(text: str) -> float | Unacceptable:
        if len(text) > 64:
            return Unacceptable("number_too_large", "a number literal is longer than 64 characters")
        value = float(text)
        # Bounded well inside a double, so sums and other aggregates of many values stay finite.
        if not abs(value) <= max_magnitude:
            return Unacceptable("number_too_large", f"a number is larger than {max_magnitude:.0e} in magnitude")
        return value

    return parse_float


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any] | Unacceptable:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return Unacceptable("duplicate_key", f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def check_json_tree(
    data: Any, *, max_depth: int, max_string: int, root: tuple[str | int, ...] = ()
) -> list[FieldProblem]:
    """Walk a decoded JSON value without recursion; return every string/depth/number problem."""
    problems: list[FieldProblem] = []
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, root, 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            reason = unstorable_reason(value)
            if reason:
                problems.append(FieldProblem(pointer(*path), "invalid_characters", f"the string {reason}"))
            elif len(value) > max_string:
                problems.append(
                    FieldProblem(pointer(*path), "too_long", f"the string is longer than {max_string} characters")
                )
        elif isinstance(value, Unacceptable):
            problems.append(FieldProblem(pointer(*path), value.code, value.detail))
        elif isinstance(value, dict | list):
            if depth >= max_depth:
                problems.append(FieldProblem(pointer(*path), "too_deep", f"nesting deeper than {max_depth} levels"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    reason = unstorable_reason(key)
                    if reason:
                        problems.append(FieldProblem(pointer(*path), "invalid_characters", f"an object key {reason}"))
                        continue
                stack.append((item, (*path, key), depth + 1))
        if len(problems) >= 50:
            break
    problems.sort(key=lambda p: p.pointer)
    return problems


def _safe_copy(value: Any, *, max_depth: int, max_string: int, depth: int = 0) -> Any:
    """The value with every part `check_json_tree` would refuse replaced by null (and keys
    it would refuse dropped). Only called on an item already known to hold a problem."""
    if isinstance(value, str):
        return None if unstorable_reason(value) or len(value) > max_string else value
    if isinstance(value, Unacceptable):
        return None
    if isinstance(value, dict | list):
        if depth >= max_depth:
            return None
        if isinstance(value, list):
            return [_safe_copy(v, max_depth=max_depth, max_string=max_string, depth=depth + 1) for v in value]
        return {
            k: _safe_copy(v, max_depth=max_depth, max_string=max_string, depth=depth + 1)
            for k, v in value.items()
            if not unstorable_reason(k)
        }
    return value


def _decode(raw: bytes) -> Any:
    """The JSON document, with refused values left as `Unacceptable` markers; a 400 only
    when the bytes are not JSON at all."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem.MALFORMED_JSON.error(f"The body is not valid UTF-8 (byte {error.start}).") from None
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_bounded_int(settings.CDP_MAX_INTEGER_DIGITS),
            parse_float=_bounded_float(settings.CDP_MAX_NUMBER_MAGNITUDE),
            object_pairs_hook=_no_duplicate_keys,
        )
    except RecursionError:
        raise Problem.TOO_DEEP.error(f"The body nests deeper than {settings.CDP_MAX_NESTING_DEPTH} levels.") from None
    except json.JSONDecodeError as error:
        raise Problem.MALFORMED_JSON.error(
            f"The body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}."
        ) from None


def _refuse(problems: list[FieldProblem]) -> ProblemError:
    return Problem.of(problems[0].code, status=400).error(
        f"The body was refused: {len(problems)} problem(s).", problems
    )


def loads_strict(raw: bytes, *, batch_fields: Collection[str] = ()) -> Any:
    """Decode a JSON document under the CDP_* limits or raise a 400 problem.

    `batch_fields` names the top-level arrays of a batch body (`{"events": [...]}`): an
    item of one of them that breaks a limit is replaced by a `RefusedItem` instead, so
    the other items go through (API.md: items are independent). Anything else that breaks
    a limit refuses the whole body with 400.
    """
    data = _decode(raw)
    max_depth, max_string = settings.CDP_MAX_NESTING_DEPTH, settings.CDP_MAX_STRING_LENGTH
    rest = data
    if isinstance(data, dict) and batch_fields:
        bounded = [name for name in batch_fields if isinstance(data.get(name), list)]
        for name in bounded:
            items = data[name]
            for index, item in enumerate(items):
                # An item is bounded as the body of a single-item request would be.
                problems = check_json_tree(item, max_depth=max_depth, max_string=max_string)
                if problems:
                    items[index] = RefusedItem(problems, _safe_copy(item, max_depth=max_depth, max_string=max_string))
        # The rest of the body, without walking the items again (the arrays' names are ours).
        rest = {key: value for key, value in data.items() if key not in bounded}
    # Depth as counted from the body's top, where a batch's items sit two levels down.
    depth = max_depth + 2 if batch_fields and isinstance(data, dict) else max_depth
    problems = check_json_tree(rest, max_depth=depth, max_string=max_string)
    if problems:
        raise _refuse(problems)
    return data


def read_bounded(stream: Any, content_length: int | None, limit: int) -> bytes:
    if content_length is not None and content_length > limit:
        raise payload_too_large(f"The body is {content_length} bytes; the limit is {limit}.")
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise payload_too_large(f"The body is larger than the limit of {limit} bytes.")
    return raw


# The arrays of the API's batch bodies: /api/v1/events/batch {"events": [...]},
# /api/v1/profile-updates/batch and /api/v1/channel-updates/batch {"updates": [...]}.
BATCH_FIELDS = ("events", "updates")


def batch_fields_of(parser_context: dict) -> tuple[str, ...]:
    """The batch arrays of this request's body: what its view declares as `batch_fields`,
    else `BATCH_FIELDS` for any `/api/…/batch` path."""
    declared = getattr(parser_context.get("view"), "batch_fields", None)
    if declared is not None:
        return tuple(declared)
    path = getattr(parser_context.get("request"), "path", "") or ""
    return BATCH_FIELDS if path.startswith("/api/") and path.rstrip("/").endswith("/batch") else ()


class StrictJSONParser(BaseParser):
    """Item-level bounds inside a batch body refuse that item only (`RefusedItem`); in any
    other body they refuse the request with 400 (docs/operations.md "Bad input")."""

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
            raise Problem.MALFORMED_JSON.error("The body is empty; a JSON object was expected.")
        return loads_strict(raw, batch_fields=batch_fields_of(parser_context or {}))
