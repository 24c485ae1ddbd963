"""Campaign variables in the contracts' type vocabulary: parse definitions (API bodies,
the admin) and check values against them. The type rules are the contracts' own
(`contracts.specs` parses a typed field, `contracts.validator` compiles its value
check), so a campaign variable and an event property can never disagree about what
`integer` means."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdp_project.core.errors import FieldProblem, ProblemError, pointer
from cdp_project.core.jsonvalues import json_size
from contracts import specs
from contracts.types import FieldSpec
from contracts.validator import ValueCheck, compile_value_check

MAX_VARIABLES = 100
# A stored value (and a default) at most this large once serialized: runtime state stays small.
MAX_VALUE_BYTES = 65_536
DEFINITION_KEYS = ("name", "type", "values", "maxLength", "minimum", "maximum", "default")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class VariableSpec:
    """A checked variable definition: its typed field and its default (None: no default)."""

    field: FieldSpec
    default: Any = None

    @property
    def name(self) -> str:
        return self.field.name

    def as_json(self) -> dict[str, Any]:
        out = specs.field_as_json(self.field, kind="attribute")
        out.pop("filterable", None)
        out["default"] = self.default
        return out


def value_problem(check: ValueCheck, value: Any) -> tuple[str, str] | None:
    """The contracts check of one value, plus the runtime's own size bound."""
    outcome = check(value)
    if outcome is not None:
        return outcome
    size = json_size(value)
    if size > MAX_VALUE_BYTES:
        return "too_large", f"the value takes {size} bytes serialized; at most {MAX_VALUE_BYTES} are kept"
    return None


def variable_parse(data: Any, *, at: Path = ()) -> tuple[VariableSpec | None, list[FieldProblem]]:
    """One variable definition `{"name", "type", "values"?, "maxLength"?, "minimum"?,
    "maximum"?, "default"?}`; every problem at once, with pointers under `at`."""
    if not isinstance(data, Mapping):
        return None, [FieldProblem(pointer(*at), "invalid", "Must be a JSON object.")]
    problems = [
        FieldProblem(
            pointer(*at, key), "unknown_field", f"Unknown field {key!r}; expected one of {', '.join(DEFINITION_KEYS)}."
        )
        for key in data
        if key not in DEFINITION_KEYS
    ]
    typed = {key: value for key, value in data.items() if key in DEFINITION_KEYS and key != "default"}
    try:
        field = specs.parse_attribute_definition(typed, at=at)
    except ProblemError as error:
        return None, [*problems, *error.errors]
    default = data.get("default")
    if default is not None:
        outcome = value_problem(compile_value_check(field), default)
        if outcome is not None:
            problems.append(
                FieldProblem(pointer(*at, "default"), outcome[0], f"The default does not fit: {outcome[1]}.")
            )
    if problems:
        return None, problems
    return VariableSpec(field=field, default=default), []


def variables_parse(data: Any, *, at: Path = ("variables",)) -> tuple[tuple[VariableSpec, ...], list[FieldProblem]]:
    """A campaign's list of variable definitions: names unique, at most MAX_VARIABLES."""
    if not isinstance(data, list):
        return (), [FieldProblem(pointer(*at), "invalid", "Must be a list of variable definitions.")]
    if len(data) > MAX_VARIABLES:
        return (), [FieldProblem(pointer(*at), "invalid", f"At most {MAX_VARIABLES} variables per campaign.")]
    parsed: list[VariableSpec] = []
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        spec, found = variable_parse(item, at=(*at, index))
        problems.extend(found)
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(
                FieldProblem(pointer(*at, index, "name"), "duplicate", f"The variable {spec.name!r} is declared twice.")
            )
            continue
        seen.add(spec.name)
        parsed.append(spec)
    return tuple(parsed), problems


def variable_spec_from_row(row: Any) -> VariableSpec:
    """A VariableDefinition row as a spec."""
    field = FieldSpec(
        name=row.name,
        type=row.type,
        values=tuple(row.values or ()),
        max_length=row.max_length,
        minimum=specs.normalize_number(row.minimum),
        maximum=specs.normalize_number(row.maximum),
    )
    return VariableSpec(field=field, default=row.default)


class VariableChecker:
    """A campaign's compiled definitions: checks a change set, fills in defaults."""

    def __init__(self, definitions: Sequence[Any]) -> None:
        self._rows = {row.name: row for row in definitions}
        self._checks = {row.name: compile_value_check(variable_spec_from_row(row).field) for row in definitions}
        self._order = [row.name for row in definitions]
        self._names = {row.pk: row.name for row in definitions}

    def definition(self, name: str) -> Any:
        return self._rows[name]

    def by_name(self, stored: Mapping[int, Any]) -> dict[str, Any]:
        """Stored values keyed by definition id, keyed by name instead (unknown ids left out)."""
        return {self._names[pk]: value for pk, value in stored.items() if pk in self._names}

    def problems(self, changes: Any, *, at: Path = ("variables",)) -> list[FieldProblem]:
        """Unknown names and values of the wrong type, each with its pointer. null resets
        a variable to its default."""
        if not isinstance(changes, Mapping):
            return [FieldProblem(pointer(*at), "type", "expected an object mapping variable names to values")]
        found: list[FieldProblem] = []
        for name, value in changes.items():
            check = self._checks.get(name)
            if check is None:
                known = ", ".join(self._order) or "none"
                found.append(
                    FieldProblem(
                        pointer(*at, name),
                        "unknown_variable",
                        f"'{name}' is not a variable of this campaign (variables: {known})",
                    )
                )
                continue
            if value is None:
                continue
            outcome = value_problem(check, value)
            if outcome is not None:
                found.append(FieldProblem(pointer(*at, name), outcome[0], outcome[1]))
        found.sort(key=lambda problem: (problem.pointer, problem.code))
        return found

    def current(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Every variable of the campaign, in definition order: the stored value, or the
        default when there is none or when the stored value no longer fits a changed
        definition."""
        result: dict[str, Any] = {}
        for name in self._order:
            if name in stored and self._checks[name](stored[name]) is None:
                result[name] = stored[name]
            else:
                result[name] = self._rows[name].default
        return result
