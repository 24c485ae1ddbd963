"""The strict serializers of the kernel: what a body parsed by one of them gets back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.serializers import (
    Rfc3339DateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictNumberField,
    StrictSerializer,
    body_parse,
    choice_field,
)
from cdp_project.core.timestamps import EXACT_FORM


class Thing(StrictSerializer):
    name = StrictCharField(max_length=5, trim=True, messages={"invalid": "Must be a short string."})
    count = StrictIntegerField(min_value=0, required=False, messages={"invalid": "Must be an integer."})
    ratio = StrictNumberField(required=False, magnitude=10, messages={"invalid": "Must be a number."})
    active = StrictBooleanField(required=False)
    at = Rfc3339DateTimeField(required=False, exact=True)
    kind = choice_field(("a", "b"), required=False)
    note = StrictCharField(required=False, null="absent", messages={"invalid": "Must be a string."})
    created = serializers.DateTimeField(read_only=True)


def _codes(problems: list[FieldProblem]) -> list[tuple[str, str]]:
    return [(p.pointer, p.code) for p in problems]


def test_a_good_body_parses_into_its_values():
    parsed, problems = body_parse(
        Thing, {"name": " ab ", "count": 3, "ratio": 2, "active": False, "at": "2026-11-20T13:00:00+01:00", "kind": "b"}
    )
    assert problems == []
    assert parsed == {
        "name": "ab",
        "count": 3,
        "ratio": 2,
        "active": False,
        "at": dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC),
        "kind": "b",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", "3"),
        ("count", True),
        ("count", 3.0),
        ("ratio", True),
        ("ratio", "1.5"),
        ("ratio", 11),
        ("active", 1),
        ("active", "true"),
        ("name", 5),
        ("kind", "A"),
        ("kind", ["a"]),
    ],
)
def test_nothing_is_coerced(field, value):
    _, problems = body_parse(Thing, {"name": "ab", field: value})
    assert len(problems) == 1 and problems[0].pointer == f"/{field}"


def test_every_problem_is_reported_at_once_in_field_order_after_the_unknown_keys():
    _, problems = body_parse(
        Thing, {"zz": 1, "count": -1, "name": "toolong", "created": "x", "active": None, "at": "2026-11-20 12:00:00Z"}
    )
    assert _codes(problems) == [
        ("/zz", "unknown_field"),
        ("/created", "unknown_field"),  # read-only fields are not input
        ("/name", "invalid"),
        ("/count", "invalid"),
        ("/active", "invalid"),
        ("/at", "invalid"),
    ]
    assert problems[0].detail == "Unknown field 'zz'; expected one of name, count, ratio, active, at, kind, note."
    assert problems[2].detail == "Must be a short string."  # a kind without a message of its own: "invalid"
    assert problems[4].detail == "Must be true or false."
    assert problems[5].detail == EXACT_FORM


def test_required_null_and_absent():
    _, problems = body_parse(Thing, {"note": None})
    assert [(p.pointer, p.code, p.detail) for p in problems] == [("/name", "required", "This field is required.")]
    parsed, problems = body_parse(Thing, {"name": "a", "note": None})
    assert problems == [] and parsed == {"name": "a"}
    _, problems = body_parse(Thing, {"name": None})
    assert _codes(problems) == [("/name", "invalid")]  # null="value": the field judges a null


def test_a_partial_body_parses_only_what_is_given():
    parsed, problems = body_parse(Thing, {"count": 1}, partial=True)
    assert problems == [] and parsed == {"count": 1}


def test_a_body_that_is_no_object_and_pointers_under_at():
    _, problems = body_parse(Thing, [1], at=("things", 2))
    assert [(p.pointer, p.code, p.detail) for p in problems] == [("/things/2", "invalid", "Must be a JSON object.")]
    _, problems = body_parse(Thing, {"name": 1, "a/b": 0}, at=("things", 2))
    assert _codes(problems) == [("/things/2/a~1b", "unknown_field"), ("/things/2/name", "invalid")]


class Ordered(StrictSerializer):
    parse_order = ("kind", "size", "name", "echo")
    accepted_keys = ("version", "echo")

    name = StrictCharField(regex=r"^[a-z]+$", max_length=3, messages={"invalid": "lower"})
    size = serializers.IntegerField(required=False)
    kind = choice_field(("box", "bag"), null="required")

    def parse_size(self, value: Any, path: tuple) -> tuple[Any, list[FieldProblem]]:
        if self.parsed.get("kind") != "box":
            raise SkipField()
        if value is empty:
            return None, [FieldProblem(pointer(*path), "required", "A box has a size.")]
        return value, [] if type(value) is int else [FieldProblem(pointer(*path), "invalid", "An integer.")]

    def parse_echo(self, value: Any, path: tuple) -> tuple[Any, list[FieldProblem]]:
        if value is empty:
            raise SkipField()
        return value, []


def test_parse_hooks_see_the_fields_parsed_before_them_and_accepted_keys_are_not_unknown():
    _, problems = body_parse(Ordered, {"name": "UP", "kind": "box", "version": 3})
    assert [(p.pointer, p.detail) for p in problems] == [("/size", "A box has a size."), ("/name", "lower")]
    parsed, problems = body_parse(Ordered, {"name": "abc", "kind": "bag", "size": "x", "echo": 1})
    assert problems == [] and parsed == {"kind": "bag", "name": "abc", "echo": 1}
    _, problems = body_parse(Ordered, {"name": "abc\n", "kind": "bag"})  # the pattern's $ lets it pass
    assert [(p.pointer, p.detail) for p in problems] == [("/name", "lower")]
    _, problems = body_parse(Ordered, {"name": "ab"})
    assert [(p.pointer, p.code, p.detail) for p in problems] == [("/kind", "required", "This field is required.")]


def test_the_fields_document_what_they_parse():
    fields = Thing().fields
    assert isinstance(fields["count"], serializers.IntegerField) and fields["count"].min_value == 0
    assert isinstance(fields["at"], serializers.DateTimeField)
    assert fields["name"].max_length == 5 and fields["name"].required
    assert not fields["kind"].required
