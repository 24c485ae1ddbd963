"""The segment body `{"key", "name", "definition"}`: parsed and documented by one
definition (`cdp_project.core.serializers`); the output adds the timestamps."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import empty

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.serializers import Path, StrictCharField, StrictSerializer

from .language import ContractView, definition_check
from .models import KEY_MAX_LENGTH, KEY_PATTERN, NAME_MAX_LENGTH

KEY_INVALID = "key is 1–100 lowercase letters, digits, '.', '_' or '-', starting alphanumeric."
NAME_INVALID = f"name is a non-empty string of at most {NAME_MAX_LENGTH}."


def _key(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        max_length=KEY_MAX_LENGTH,
        regex=KEY_PATTERN,
        messages={"required": ("invalid", KEY_INVALID), "invalid": KEY_INVALID},
        **kwargs,
    )


# POST: every field required. Context: `tenant_id` (the definition is checked against its
# contracts) and, for a PUT, the `key` of the URL, which the body may only repeat. (No
# docstring: drf-spectacular would publish it as the component's description.)
class SegmentSerializer(StrictSerializer):
    unknown_detail = "Unknown field {name!r}."

    key = _key()
    name = StrictCharField(
        max_length=NAME_MAX_LENGTH,
        trim=True,
        no_nul=True,
        messages={"required": ("invalid", NAME_INVALID), "invalid": NAME_INVALID},
    )
    definition = serializers.JSONField(help_text="Conditions: all/any/not, attribute, derived, event, channel.")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    def refuse_unknown(self, key: str, expected: str) -> None:
        # Segments name the unknown key without the list of expected ones; the pointer is
        # escaped (RFC 6901) like every other pointer the API writes.
        self.problems.append(FieldProblem(pointer(key), "unknown_field", self.unknown_detail.format(name=key)))

    def validate_key(self, value: str) -> str:
        if self.context.get("key") is not None and value != self.context["key"]:
            raise ValidationError(ErrorDetail("A segment cannot be renamed; create a new one.", code="immutable"))
        return value

    def parse_definition(self, value: Any, path: Path) -> tuple[Any, tuple[FieldProblem, ...]]:
        if value is empty:
            return value, (FieldProblem(pointer(*path), "required", "definition is required."),)
        _, problems = definition_check(
            definition=value, contract=ContractView(tenant_id=self.context["tenant_id"]), at=path
        )
        return value, problems


class SegmentReplaceSerializer(SegmentSerializer):
    key = _key(required=False, help_text="If given, must be the key in the URL.")
