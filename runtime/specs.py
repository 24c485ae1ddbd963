"""Campaign definitions as JSON (API bodies): parsed and documented by one definition
(strict serializers, every problem at once, each with a JSON Pointer), and rendered back
as API.md shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.serializers import Path, StrictBooleanField, StrictCharField, StrictSerializer, body_parse
from cdp_project.core.timestamps import format_utc
from contracts.specs import raise_problems

from .models import CAMPAIGN_KEY_PATTERN
from .variables import VariableSpec, variable_spec_from_row, variables_parse

CAMPAIGN_KEYS = ("key", "name", "active", "variables")
MAX_NAME = 200


@dataclass(frozen=True)
class CampaignChanges:
    """A parsed body. For PATCH, None means "not given"."""

    key: str | None = None
    name: str | None = None
    active: bool | None = None
    variables: tuple[VariableSpec, ...] | None = None


KEY_INVALID = "Use 1–100 lowercase letters, digits, '.', '_' or '-', starting with one of the first two."
NAME_INVALID = f"Must be a non-empty string of at most {MAX_NAME} characters."


class VariableDefinitionSerializer(serializers.Serializer):
    # The shape of one variable; `variables_parse` reads it (the contracts' typed fields).
    name = serializers.CharField(max_length=100)
    type = serializers.CharField(help_text="string | integer | number | boolean | datetime | enum | array | object")
    values = serializers.ListField(child=serializers.CharField(), required=False, help_text="enum only")
    maxLength = serializers.IntegerField(min_value=1, required=False, help_text="string only")
    minimum = serializers.FloatField(required=False, help_text="integer and number only")
    maximum = serializers.FloatField(required=False, help_text="integer and number only")
    default = serializers.JSONField(required=False, allow_null=True, help_text="a value of the type, or null")


class _CampaignBody(StrictSerializer):
    not_an_object_detail = "The body must be a JSON object."
    expected_keys = CAMPAIGN_KEYS

    def parse_variables(self, value: Any, path: Path) -> tuple[tuple[VariableSpec, ...], list[FieldProblem]]:
        if value is empty:
            raise SkipField()
        return variables_parse(value, at=path)


class CampaignSerializer(_CampaignBody):
    """Shapes for OpenAPI; bodies are parsed by `specs.campaign_parse`, output by `specs.campaign_as_json`."""

    # (The docstring is the published description.) POST: `key` and `name` required,
    # `active` defaults to true, `variables` to none.
    key = StrictCharField(
        max_length=100,
        regex=CAMPAIGN_KEY_PATTERN,
        null="required",
        messages={"invalid": KEY_INVALID},
    )
    name = StrictCharField(max_length=MAX_NAME, trim=True, null="required", messages={"invalid": NAME_INVALID})
    active = StrictBooleanField(default=True)
    variables = VariableDefinitionSerializer(many=True, required=False)
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return campaign_as_json(instance)


class CampaignUpdateSerializer(_CampaignBody):
    # PATCH: only what is given; the body may repeat the key of the URL (context `key`), not change it.
    accepted_keys = ("key",)
    parse_order = CAMPAIGN_KEYS

    name = StrictCharField(
        max_length=MAX_NAME, required=False, trim=True, null="required", messages={"invalid": NAME_INVALID}
    )
    active = StrictBooleanField(required=False, help_text="false makes the campaign's runtime tokens fail at once")
    variables = VariableDefinitionSerializer(
        many=True, required=False, help_text="Replaces the whole list; values of kept names survive."
    )

    def parse_key(self, value: Any, path: Path) -> tuple[Any, list[FieldProblem]]:
        if value is empty or value == self.context["key"]:
            raise SkipField()
        return value, [
            FieldProblem(pointer(*path), "immutable", "A campaign's key cannot change; create a new campaign.")
        ]


def campaign_parse(data: Any, *, key: str | None = None) -> CampaignChanges:
    """POST (key None): `CampaignSerializer`. PATCH (key from the URL): `CampaignUpdateSerializer`."""
    if key is None:
        parsed, problems = body_parse(CampaignSerializer, data)
    else:
        parsed, problems = body_parse(CampaignUpdateSerializer, data, partial=True, context={"key": key})
    raise_problems(problems)
    assert parsed is not None
    if key is None:
        return CampaignChanges(
            key=parsed["key"], name=parsed["name"], active=parsed["active"], variables=parsed.get("variables", ())
        )
    return CampaignChanges(
        key=key, name=parsed.get("name"), active=parsed.get("active"), variables=parsed.get("variables")
    )


def campaign_as_json(campaign: Any) -> dict[str, Any]:
    """A Campaign row (variables prefetched in order) as API.md shows it."""
    return {
        "key": campaign.key,
        "name": campaign.name,
        "active": campaign.active,
        "variables": [variable_spec_from_row(row).as_json() for row in campaign.variables.all()],
        "createdAt": format_utc(campaign.created_at),
        "updatedAt": format_utc(campaign.updated_at),
    }
