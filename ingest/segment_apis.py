"""The Segment-compatible ingress: `POST /v1/batch|track|identify|alias|page|screen|group`.

Server-side only, like all ingest: the views answer no OPTIONS preflight and send no
CORS headers, so a write key is never usable from a web page. Errors are RFC 9457
problems like everywhere else; the per-message outcome is in the 200 body.
"""

from __future__ import annotations

import zlib
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdp_project.core.errors import FieldProblem, Problem, payload_too_large
from cdp_project.core.parsers import batch_fields_of, loads_strict, read_bounded
from cdp_project.core.schema import problem
from tenants.authentication import ApiKeyPrincipal, WriteKeyAuthentication
from tenants.permissions import IsWriteKey

from .segment import MESSAGE_TYPES, MessageResult, segment_messages_ingest


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflate gzip members, never producing more than `limit + 1` bytes: a gzip bomb
    is refused with 413 after at most that much work."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as error:
            raise Problem.MALFORMED_GZIP.error(f"The body is not valid gzip: {error}.") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise payload_too_large(f"The body inflates to more than the limit of {limit} bytes.")
        if not inflater.eof:
            raise Problem.MALFORMED_GZIP.error("The gzip body is truncated.")
        data = inflater.unused_data
    return bytes(out)


class SegmentJSONParser(BaseParser):
    """JSON, optionally `Content-Encoding: gzip`; both the sent and the inflated size are
    bounded by CDP_MAX_BODY_BYTES. Any content type is read as JSON, as Segment does."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        try:
            content_length = int(meta.get("CONTENT_LENGTH") or 0) or None
        except ValueError:
            content_length = None
        limit = settings.CDP_MAX_BODY_BYTES
        raw = read_bounded(stream, content_length, limit)
        encoding = meta.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding == "gzip":
            raw = gunzip_bounded(raw, limit)
        elif encoding not in ("", "identity"):
            raise Problem.UNSUPPORTED_ENCODING.error(
                f"Content-Encoding {encoding[:40]!r} is not supported; send gzip or nothing.",
            )
        if not raw.strip():
            raise Problem.MALFORMED_JSON.error("The body is empty; a JSON object was expected.")
        # In /v1/batch a message that breaks a bound of the JSON itself is refused alone.
        return loads_strict(raw, batch_fields=batch_fields_of(parser_context or {}))


# --- schema-only serializers -------------------------------------------------------------


class SegmentMessageInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=MESSAGE_TYPES, required=False, help_text="batch only; implied otherwise")
    messageId = serializers.CharField(help_text="the idempotency key (externalEventId in the write key's source)")
    userId = serializers.CharField(required=False, help_text="-> EXTERNAL")
    anonymousId = serializers.CharField(required=False, help_text="-> DEVICE_KEY")
    previousId = serializers.CharField(required=False, help_text="alias: joins userId's profile as a DEVICE_KEY")
    event = serializers.CharField(required=False, help_text="track: the event type, in snake case")
    name = serializers.CharField(required=False, help_text="page/screen: stored as the property name")
    groupId = serializers.CharField(required=False, help_text="group: stored as the property groupId")
    properties = serializers.DictField(required=False)
    traits = serializers.DictField(required=False, help_text="email/phone are identifiers; others attributes")
    context = serializers.DictField(required=False, help_text="context.traits.email / .phone are identifiers")
    timestamp = serializers.DateTimeField(required=False, help_text="-> occurredAt")
    originalTimestamp = serializers.DateTimeField(required=False)
    sentAt = serializers.DateTimeField(required=False)
    writeKey = serializers.CharField(required=False, help_text="instead of HTTP Basic")


class SegmentBatchInput(serializers.Serializer):
    batch = SegmentMessageInput(many=True)
    sentAt = serializers.DateTimeField(required=False)
    writeKey = serializers.CharField(required=False)


class SegmentErrorOutput(serializers.Serializer):
    pointer = serializers.CharField(help_text="a JSON Pointer into the message")
    code = serializers.CharField()
    detail = serializers.CharField()


class SegmentResultOutput(serializers.Serializer):
    messageId = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="accepted | duplicate | rejected | conflict, as in /events/batch")
    code = serializers.CharField(required=False)
    errors = SegmentErrorOutput(many=True, required=False)
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class SegmentOutput(serializers.Serializer):
    success = serializers.BooleanField()
    results = SegmentResultOutput(many=True)


PROBLEM = problem()
_RESPONSES = {
    200: SegmentOutput,
    400: PROBLEM,
    401: PROBLEM,
    403: PROBLEM,
    413: PROBLEM,
    415: PROBLEM,
    429: PROBLEM,
    503: PROBLEM,
}
_EXAMPLE_TRACK = {
    "messageId": "0b6f8f4e-5d0a-4c3e-9a57-3c1f1b2d9e10",
    "userId": "cust-42",
    "event": "Order Completed",
    "properties": {"orderId": "10001", "total": 99.5, "currency": "EUR"},
    "timestamp": "2026-11-20T10:15:00+01:00",
}


def _result(result: MessageResult) -> dict[str, Any]:
    body: dict[str, Any] = {"messageId": result.message_id, "status": result.status}
    if result.code:
        body["code"] = result.code
    if result.errors:
        body["errors"] = [error.as_dict() for error in result.errors]
    if result.warnings:
        body["warnings"] = list(result.warnings)
    return body


class _SegmentApi(APIView):
    authentication_classes = [WriteKeyAuthentication]
    permission_classes = [IsWriteKey]
    parser_classes = [SegmentJSONParser]
    message_type: str | None = None

    def body(self, request: Request) -> dict[str, Any]:
        data = request.data
        if not isinstance(data, dict):
            raise Problem.NOT_AN_OBJECT.error("The body must be a JSON object (a Segment message or batch).")
        if not data:
            raise Problem.EMPTY_BODY.error("The body is empty; a Segment message or batch was expected.")
        return data

    def ingest(self, request: Request, messages: list[Any], sent_at: Any) -> Response:
        principal = request.user
        assert isinstance(principal, ApiKeyPrincipal)
        results = segment_messages_ingest(
            tenant=principal.tenant,
            source_key=principal.source_key,
            messages=messages,
            message_type=self.message_type,
            sent_at=sent_at,
            received_at=timezone.now(),
        )
        return Response({"success": True, "results": [_result(result) for result in results]})


class SegmentBatchApi(_SegmentApi):
    batch_fields = ("batch",)

    @extend_schema(
        operation_id="segment_batch",
        request=SegmentBatchInput,
        responses=_RESPONSES,
        tags=["segment-compatible ingress"],
        examples=[OpenApiExample("track", value={"batch": [{"type": "track", **_EXAMPLE_TRACK}]}, request_only=True)],
        description=(
            "Segment's batch call: up to CDP_MAX_BATCH_EVENTS messages of any type, applied in array order; "
            "each is one item of our own pipeline in the write key's source. 200 once the body was parsed, "
            "with one result per message."
        ),
    )
    def post(self, request: Request) -> Response:
        body = self.body(request)
        messages = body.get("batch")
        if not isinstance(messages, list):
            raise Problem.MALFORMED_BATCH.error(
                "The body holds no batch array.",
                [FieldProblem("/batch", "required", "batch must be an array of messages")],
            )
        limit = settings.CDP_MAX_BATCH_EVENTS
        if len(messages) > limit:
            raise Problem.BATCH_TOO_LARGE.error(
                f"The batch holds {len(messages)} messages; at most {limit} are accepted per request.",
            )
        return self.ingest(request, messages, body.get("sentAt"))


def _single(message_type: str) -> type[_SegmentApi]:
    def post(self: _SegmentApi, request: Request) -> Response:
        body = self.body(request)
        return self.ingest(request, [body], body.get("sentAt"))

    decorated = extend_schema(
        operation_id=f"segment_{message_type}",
        request=SegmentMessageInput,
        responses=_RESPONSES,
        tags=["segment-compatible ingress"],
        examples=[OpenApiExample("track", value=_EXAMPLE_TRACK, request_only=True)] if message_type == "track" else [],
        description=f"Segment's {message_type} call: one message, mapped as documented; the type is implied.",
    )(post)
    name = f"Segment{message_type.capitalize()}Api"
    return type(name, (_SegmentApi,), {"message_type": message_type, "post": decorated, "__module__": __name__})


SINGLE_APIS = {message_type: _single(message_type) for message_type in MESSAGE_TYPES}
