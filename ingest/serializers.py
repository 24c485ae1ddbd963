"""The ingest envelopes (an event, a profile update, a channel update) as strict
serializers: they document the bodies (drf-spectacular) and can parse them.

The hot path does not parse with them: `pipeline._envelope` reads envelopes by hand,
because these serializers take several times longer per envelope (measured in the
issue-19 report), and a batch holds up to CDP_MAX_BATCH_EVENTS of them. The two are
pinned together by tests/core/test_envelope_schema.py: the same keys, the same required
fields, and the same problems for the same bad envelopes.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.fields import SkipField, empty

from cdp_project.core.errors import FieldProblem, pointer
from cdp_project.core.serializers import Path, Rfc3339DateTimeField, StrictCharField, StrictSerializer
from identity.normalization import identity_normalize

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class EnvelopeText(StrictCharField):
    """An envelope string: trimmed, non-empty, at most `limit` characters (the limit of
    the parser, which the schema does not always state), no control characters."""

    def __init__(self, *args: Any, limit: int = 255, **kwargs: Any):
        self.limit = limit
        messages = {
            "required": "expected a string",
            "type": "expected a string",
            "blank": ("required", "must not be empty"),
            "too_long": f"at most {limit} characters",
            "characters": ("invalid_characters", "control characters are not allowed"),
        }
        super().__init__(*args, null="required", messages=messages, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("type")
        value = data.strip()
        if not value:
            self.fail("blank")
        if len(value) > self.limit:
            self.fail("too_long")
        if _CONTROL.search(value):
            self.fail("characters")
        return value


def _occurred_at(**kwargs: Any) -> Rfc3339DateTimeField:
    messages = {"required": "occurredAt is required", "invalid": ("invalid_timestamp", "{reason}")}
    return Rfc3339DateTimeField(null="required", messages=messages, **kwargs)


class _Identity(serializers.Serializer):
    EXTERNAL = serializers.CharField(required=False)
    EMAIL = serializers.CharField(required=False)
    PHONE = serializers.CharField(required=False)
    DEVICE_KEY = serializers.CharField(required=False)


def _required(path: Path, detail: str) -> list[FieldProblem]:
    return [FieldProblem(pointer(*path), "required", detail)]


class _Envelope(StrictSerializer):
    # Context: `tenant`, `sources` (by key) and `now`, as in `pipeline.IngestContext`.
    # An event declares its fields itself, in its documented order (DRF lists inherited
    # fields first, and its eventType comes before occurredAt).
    unknown_detail = "unknown field {name!r}"

    def refuse_unknown(self, key: str, expected: str) -> None:
        self.problem(key, "undeclared", self.unknown_detail.format(name=key))

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.parsed, self.problems = {}, [FieldProblem("", "type", "each item must be a JSON object")]
            raise ValidationError(self.problems)
        try:
            return super().to_internal_value(data)
        finally:
            self.problems.sort(key=lambda p: p.pointer if p.code == "undeclared" else "")

    def parse_source(self, value: Any, path: Path) -> tuple[str, list[FieldProblem]]:
        # A source that breaks a rule of its text is still looked up, as the pipeline does.
        problems = []
        try:
            key = self.fields["source"].run_validation(value)
        except ValidationError as error:
            problems = [FieldProblem(pointer(*path), item.code, str(item)) for item in error.detail]
            key = value.strip() if isinstance(value, str) else ""
        if key and key not in self.context["sources"]:
            problems.append(FieldProblem(pointer(*path), "unknown_source", f"{key!r} is not a registered source"))
        return key, problems

    def validate_occurredAt(self, value: dt.datetime) -> dt.datetime:
        now = self.context["now"]
        past, future = settings.CDP_MAX_TIMESTAMP_PAST_DAYS, settings.CDP_MAX_TIMESTAMP_FUTURE_SECONDS
        if value < now - dt.timedelta(days=past):
            raise ValidationError(ErrorDetail(f"more than {past} days in the past", code="invalid_timestamp"))
        if value > now + dt.timedelta(seconds=future):
            raise ValidationError(ErrorDetail(f"more than {future} seconds in the future", code="invalid_timestamp"))
        return value

    def parse_identity(self, value: Any, path: Path) -> tuple[Any, list[FieldProblem]]:
        if value is empty:
            return None, _required(path, "identity is required")
        identity = identity_normalize(tenant=self.context["tenant"], identity=value, pointer_prefix=pointer(*path))
        return identity, list(identity.problems)


class EventInput(_Envelope):
    source = EnvelopeText(limit=63)
    externalEventId = EnvelopeText(max_length=255)
    eventType = EnvelopeText(limit=100)
    occurredAt = _occurred_at(help_text="RFC 3339 with an explicit offset")
    identity = _Identity()
    properties = serializers.DictField()

    parse_order = ("source", "externalEventId", "occurredAt", "identity", "eventType", "properties")

    def parse_properties(self, value: Any, path: Path) -> tuple[Any, list[FieldProblem]]:
        # Checked against the contract by the pipeline; here only its presence.
        if value is empty:
            return None, _required(path, "properties is required (may be {})")
        return value, []


class _EnvelopeFirst(_Envelope):
    # The envelope's fields, then the kind's own (inherited fields come first).
    source = EnvelopeText(limit=63)
    externalEventId = EnvelopeText(max_length=255)
    occurredAt = _occurred_at()
    identity = _Identity()


class ProfileUpdateInput(_EnvelopeFirst):
    attributes = serializers.DictField(help_text="registered attributes; null removes one")

    def parse_attributes(self, value: Any, path: Path) -> tuple[Any, list[FieldProblem]]:
        if value is empty:
            return None, _required(path, "attributes is required")
        return value, []


class ChannelUpdateInput(_EnvelopeFirst):
    channel = serializers.ChoiceField(choices=["EMAIL", "SMS", "PUSH", "WHATSAPP"])
    address = serializers.CharField()
    consent = serializers.ChoiceField(choices=["granted", "denied", "pending"], required=False)
    reachability = serializers.ChoiceField(choices=["reachable", "bounced", "unreachable"], required=False)
    reason = serializers.CharField(required=False, help_text="evidence, e.g. a double-opt-in confirmation reference")

    # The channel fields are read by `channels.normalization.channel_update_parse`.
    def parse_channel(self, value: Any, path: Path) -> Any:
        raise SkipField()

    parse_address = parse_consent = parse_reachability = parse_reason = parse_channel


class BatchInput(serializers.Serializer):
    events = EventInput(many=True)


class ProfileUpdateBatchInput(serializers.Serializer):
    updates = ProfileUpdateInput(many=True)


class ChannelUpdateBatchInput(serializers.Serializer):
    updates = ChannelUpdateInput(many=True)
