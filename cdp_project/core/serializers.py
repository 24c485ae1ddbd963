"""Strict serializers: one definition parses a request body AND documents it.

DRF's stock fields coerce (`"1"` is an integer, `"yes"` a boolean, `5` a string) and its
serializers ignore unknown keys and stop at the first failing field before any
cross-field check. A `StrictSerializer` instead:

- refuses every key it does not declare (`unknown_field`, in the body's order);
- parses its fields in `parse_order` (default: declaration order) and reports every
  problem at once as `FieldProblem`s with JSON pointers (under `at`, for a body nested
  in a plan), never stopping at the first;
- gives each field's `validate_<name>(value)` the fields parsed so far (`self.parsed`),
  so a rule across fields sits where its problem is reported;
- hands a field that has its own parser (a segment definition, campaign variables), or
  rules across fields, to the serializer's `parse_<name>(value, path)`: it gets the
  value (`empty` when the key is absent) and answers (value, problems) with pointers
  under `path`, or raises SkipField to leave the field out; the field only documents
  the shape.

Its fields accept only the JSON type they document (`type(value) is bool`, an integer
is never a float or a boolean, a string is never a number) and say what is wrong in the
words the API has always used: each takes `messages`, a kind of failure ("required",
"invalid", "blank", "max_length", "pattern", ...) to its detail, or to `(code, detail)`
when the code differs from the kind; a kind not given falls back to "invalid". drf-
spectacular reads the same fields (they are DRF's classes, validators kept for the
schema and applied by the field itself), so the OpenAPI document and the parser cannot
drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField, empty

from .errors import FieldProblem, pointer
from .timestamps import TimestampError, parse_rfc3339

Path = tuple[str | int, ...]
Message = str | tuple[str, str]

REQUIRED = "This field is required."
# What a null means for a field: "absent" (as if not given), "required" (refused as
# missing even where the field may be left out) or "value" (the field judges it).
NULL_MEANINGS = ("absent", "required", "value")


class StrictField:
    """Mixin of the strict fields: the `messages`, the null rule, no coercion, no
    validators run by DRF (they are there for the schema; the field applies its rules)."""

    default_messages: dict[str, Message] = {"required": REQUIRED}

    def __init__(self, *args: Any, messages: Mapping[str, Message] | None = None, null: str = "value", **kwargs: Any):
        assert null in NULL_MEANINGS, null
        self.messages = {**self.default_messages, **(messages or {})}
        self.null = null
        super().__init__(*args, **kwargs)

    def fail(self, key: str, **kwargs: Any) -> None:
        message = self.messages.get(key, self.messages.get("invalid"))
        if message is None:
            super().fail(key, **kwargs)  # type: ignore[misc]
            return
        code, text = message if isinstance(message, tuple) else (key if key in self.messages else "invalid", message)
        raise ValidationError(ErrorDetail(text.format(**kwargs), code=code))

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and self.null == "absent":
            data = empty
        if data is None and self.null == "required":
            self.fail("required")
        if data is empty:
            if getattr(self.root, "partial", False):
                raise SkipField()
            if self.required:  # type: ignore[attr-defined]
                self.fail("required")
            return (True, self.get_default())  # type: ignore[attr-defined]
        return (False, data)

    def run_validation(self, data: Any = empty) -> Any:
        is_empty, data = self.validate_empty_values(data)
        return data if is_empty else self.to_internal_value(data)  # type: ignore[attr-defined]

    def run_validators(self, value: Any) -> None:
        return None


class StrictCharField(StrictField, serializers.CharField):
    """A JSON string. Kinds: "invalid" (not a string, or a NUL when `no_nul`), "blank"
    (empty, or only spaces when `trim`), "max_length", "pattern" (no match of `regex`).
    With `trim`, the value is stripped before the checks (the length is the given one).
    `accept_blank` overrides `allow_blank` for the parser only (what the schema says
    stays as declared). `max_length` is checked even with a `regex` that bounds the
    length: Python's `$` also matches before a final newline, one character more."""

    def __init__(
        self,
        *args: Any,
        regex: str | None = None,
        trim: bool = False,
        no_nul: bool = False,
        accept_blank: bool | None = None,
        **kwargs: Any,
    ):
        self.regex = re.compile(regex) if regex else None
        self.trim = trim
        self.no_nul = no_nul
        self.accept_blank = accept_blank
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str) or (self.no_nul and "\x00" in data):
            self.fail("invalid")
        value = data.strip() if self.trim else data
        if not value and not (self.allow_blank if self.accept_blank is None else self.accept_blank):
            self.fail("blank")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if self.regex is not None and not self.regex.match(data):
            self.fail("pattern")
        return value


class StrictBooleanField(StrictField, serializers.BooleanField):
    """true or false, nothing else (not 1, not "true")."""

    default_messages = {"required": REQUIRED, "invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(StrictField, serializers.IntegerField):
    """A JSON integer (not a boolean, not 2.0, not "2"). Kinds: "invalid", "min_value",
    "max_value" (the bounds given to DRF, which document them)."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        if self.max_value is not None and data > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        return data


class StrictNumberField(StrictField, serializers.FloatField):
    """A finite JSON number (integer or not, never a boolean) of at most `magnitude`;
    kept as given (an integer stays an int)."""

    def __init__(self, *args: Any, magnitude: float = math.inf, **kwargs: Any):
        self.magnitude = magnitude
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> float | int:
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        if abs(data) > self.magnitude:
            self.fail("invalid")
        return data


class Rfc3339DateTimeField(StrictField, serializers.DateTimeField):
    """An RFC 3339 timestamp with an explicit offset (`core.timestamps`), as an aware
    datetime in UTC. "invalid" gets the parser's reason as `{reason}`; `exact` as there."""

    default_messages = {"required": REQUIRED, "invalid": "{reason}"}

    def __init__(self, *args: Any, exact: bool = False, **kwargs: Any):
        self.exact = exact
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return parse_rfc3339(data, exact=self.exact)
        except TimestampError as error:
            self.fail("invalid", reason=str(error))


def choice_field(choices: Sequence[str], **kwargs: Any) -> StrictCharField:
    """One of `choices` (a string), documented inline as a pattern with the choices in its
    help text: drf-spectacular turns every `enum` into a named component, and ours would
    collide with other apps' fields of the same name (e.g. `status`), which fails
    `check --deploy`. Kind "invalid_choice" (default: "Must be one of a, b.")."""
    listed = tuple(choices)

    @extend_schema_field({"type": "string", "pattern": "^(" + "|".join(listed) + ")$"})
    class InlineChoiceField(StrictCharField):
        def to_internal_value(self, data: Any) -> str:
            if not isinstance(data, str) or data not in listed:
                self.fail("invalid_choice")
            return data

    messages = {"invalid_choice": f"Must be one of {', '.join(listed)}.", **kwargs.pop("messages", {})}
    return InlineChoiceField(help_text=" | ".join(listed), messages=messages, **kwargs)


# See the module docstring. `unknown_detail` is formatted with `name` (the key) and
# `expected` (the accepted keys, comma-separated); `accepted_keys` adds keys that are not
# fields (e.g. a read-only `version` a client sends back), `expected_keys` replaces the
# list the detail names. No docstring here or on a subclass: drf-spectacular publishes a
# serializer's docstring (inherited too) as its component's description.
class StrictSerializer(serializers.Serializer):
    unknown_detail = "Unknown field {name!r}; expected one of {expected}."
    not_an_object_detail = "Must be a JSON object."
    parse_order: Sequence[str] | None = None
    accepted_keys: Sequence[str] = ()
    expected_keys: Sequence[str] | None = None

    def __init__(self, *args: Any, at: Path = (), **kwargs: Any):
        self.at = at
        self.parsed: dict[str, Any] = {}
        self.problems: list[FieldProblem] = []
        super().__init__(*args, **kwargs)

    def problem(self, name: str | None, code: str, detail: str, *tokens: str | int) -> None:
        """Report a problem at a field (or at the body itself, `name` None)."""
        path = (*self.at, name, *tokens) if name is not None else (*self.at, *tokens)
        self.problems.append(FieldProblem(pointer(*path), code, detail))

    def refuse_unknown(self, key: str, expected: str) -> None:
        self.problem(key, "unknown_field", self.unknown_detail.format(name=key, expected=expected))

    def _order(self) -> list[str]:
        """The names parsed, in order: the writable fields, and the accepted keys that
        have a `parse_<name>`."""
        writable = [field.field_name for field in self._writable_fields]
        names = writable + [key for key in self.accepted_keys if hasattr(self, f"parse_{key}")]
        if self.parse_order is None:
            return names
        return [name for name in self.parse_order if name in names]

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        self.parsed, self.problems = {}, []
        if not isinstance(data, Mapping):
            self.problem(None, "invalid", self.not_an_object_detail)
            raise ValidationError(self.problems)
        writable = [field.field_name for field in self._writable_fields]
        known = {*writable, *self.accepted_keys}
        expected = ", ".join(self.expected_keys or writable)
        for key in data:
            if key not in known:
                self.refuse_unknown(key, expected)
        for name in self._order():
            self._parse(name, self.fields.get(name), data)
        if self.problems:
            raise ValidationError(self.problems)
        return self.parsed

    def _parse(self, name: str, field: serializers.Field | None, data: Mapping[str, Any]) -> None:
        delegate = getattr(self, f"parse_{name}", None)
        validate = getattr(self, f"validate_{name}", None)
        try:
            if delegate is not None:
                value, found = delegate(data.get(name, empty), (*self.at, name))
                self.problems.extend(found)
                if found:
                    return
            else:
                assert field is not None
                value = field.run_validation(data.get(name, empty))
            if validate is not None:
                value = validate(value)
        except ValidationError as error:
            for item in error.detail if isinstance(error.detail, list) else [error.detail]:
                self.problem(name, getattr(item, "code", None) or "invalid", str(item))
        except SkipField:
            pass
        else:
            self.parsed[name] = value


def body_parse(
    serializer_class: type[StrictSerializer],
    data: Any,
    *,
    at: Path = (),
    partial: bool = False,
    context: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, list[FieldProblem]]:
    """Parse `data` with a strict serializer: (the parsed fields, []) or (None, every problem)."""
    serializer = serializer_class(data=data, at=at, partial=partial, context=dict(context or {}))
    try:
        return serializer.to_internal_value(data), []
    except ValidationError:
        return None, list(serializer.problems)
