"""Domain errors with a stable code. One exception handler renders them as RFC 9457
problem details; views never build error bodies by hand.

`Problem` is the catalogue: every problem the product answers with, each with its code,
title and HTTP status. Raise one as `Problem.ALREADY_EXISTS.error("A source 'web' exists
already.")` (or through a factory below); a code is never spelled out twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class FieldProblem:
    """One problem inside a request body, located by a JSON Pointer."""

    pointer: str
    code: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "code": self.code, "detail": self.detail}


@dataclass
class ProblemError(Exception):
    """Base of every error the API answers on purpose."""

    code: str
    title: str
    status: int
    detail: str = ""
    errors: Sequence[FieldProblem] = field(default_factory=tuple)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.detail or self.title}"


class Problem(Enum):
    """The catalogue of problem documents: `(code, title, status)`. One code may have
    several titles (a `validation_error` of a segment says "Invalid segment"); each pair
    is its own member."""

    code: str
    title: str
    status: int

    def __init__(self, code: str, title: str, status: int) -> None:
        self.code = code
        self.title = title
        self.status = status

    # 400: the request is not one the API can read
    BAD_REQUEST = ("bad_request", "Bad request", 400)
    MALFORMED_REQUEST = ("malformed_request", "Malformed request", 400)
    MALFORMED_JSON = ("malformed_json", "Bad request", 400)
    MALFORMED_GZIP = ("malformed_gzip", "Bad request", 400)
    MALFORMED_BATCH = ("malformed_batch", "Bad request", 400)
    NOT_AN_OBJECT = ("not_an_object", "Bad request", 400)
    EMPTY_BODY = ("empty_body", "Bad request", 400)
    TOO_DEEP = ("too_deep", "Bad request", 400)
    TOO_LONG = ("too_long", "Bad request", 400)
    INVALID_NUMBER = ("invalid_number", "Bad request", 400)
    NUMBER_TOO_LARGE = ("number_too_large", "Bad request", 400)
    DUPLICATE_KEY = ("duplicate_key", "Bad request", 400)
    INVALID_CHARACTERS = ("invalid_characters", "Bad request", 400)
    INVALID_CURSOR = ("invalid_cursor", "Bad request", 400)
    # 401, 403: who is asking
    NOT_AUTHENTICATED = ("not_authenticated", "Authentication required", 401)
    AUTHENTICATION_FAILED = ("authentication_failed", "Authentication failed", 401)
    UNAUTHORIZED = ("unauthorized", "Unauthorized", 401)
    INVALID_TOKEN = ("invalid_token", "Invalid token", 401)
    TOKEN_EXPIRED = ("token_expired", "Token expired", 401)
    TOKEN_REVOKED = ("token_revoked", "Token revoked", 401)
    PERMISSION_DENIED = ("permission_denied", "Permission denied", 403)
    # 404-406
    NOT_FOUND = ("not_found", "Not found", 404)
    METHOD_NOT_ALLOWED = ("method_not_allowed", "Method not allowed", 405)
    NOT_ACCEPTABLE = ("not_acceptable", "Not acceptable", 406)
    # 409, 410: the state of things says no
    ALREADY_EXISTS = ("already_exists", "Already exists", 409)
    IDEMPOTENCY_CONFLICT = ("idempotency_conflict", "Idempotency key reused with a different payload", 409)
    MERGE_NOT_REVERTIBLE = ("merge_not_revertible", "Merge cannot be reverted", 409)
    DERIVED_BACKFILLING = ("derived_backfilling", "Derived attribute still backfilling", 409)
    EXPORT_FAILED = ("export_failed", "Export failed", 409)
    EXPORT_NOT_READY = ("export_not_ready", "Export not ready", 409)
    EXPORT_GONE = ("export_gone", "Export file gone", 410)
    # 411-431: the size and shape of the request
    LENGTH_REQUIRED = ("length_required", "Length required", 411)
    PAYLOAD_TOO_LARGE = ("payload_too_large", "Payload too large", 413)
    BATCH_TOO_LARGE = ("batch_too_large", "Batch too large", 413)
    URI_TOO_LONG = ("uri_too_long", "URI too long", 414)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", "Unsupported media type", 415)
    UNSUPPORTED_ENCODING = ("unsupported_encoding", "Unsupported content encoding", 415)
    THROTTLED = ("throttled", "Too many requests", 429)
    HEADERS_TOO_LARGE = ("headers_too_large", "Request header fields too large", 431)
    # 422: a readable body that breaks the contract or the rules
    VALIDATION_ERROR = ("validation_error", "Invalid request", 422)
    INVALID_SEGMENT = ("validation_error", "Invalid segment", 422)
    INVALID_REPLAY_REQUEST = ("validation_error", "Invalid replay request", 422)
    INVALID_REJECTION_FILTER = ("validation_error", "Invalid rejection filter", 422)
    INVALID_REQUEST = ("invalid_request", "Invalid request", 422)
    INVALID_IDENTITY = ("invalid_identity", "Invalid identity", 422)
    INVALID_TIMESTAMP = ("invalid_timestamp", "Invalid timestamp", 422)
    UNKNOWN_SOURCE = ("unknown_source", "Unknown source", 422)
    UNKNOWN_EVENT_TYPE = ("unknown_event_type", "Unknown event type", 422)
    CONTRACT_VIOLATION = ("contract_violation", "Event violates its contract", 422)
    INVALID_CHANNEL_UPDATE = ("invalid_channel_update", "Invalid channel update", 422)
    INVALID_VARIABLES = ("invalid_variables", "Invalid campaign variables", 422)
    INVALID_EXPORT = ("invalid_export", "Invalid export request", 422)
    EXPORT_TOO_LARGE = ("export_too_large", "Export too large to stream", 422)
    SEGMENT_INVALID = ("segment_invalid", "Segment no longer matches the contracts", 422)
    UNKNOWN_DERIVED_ATTRIBUTE = ("unknown_derived_attribute", "Unknown derived attribute", 422)
    # 5xx
    INTERNAL_ERROR = ("internal_error", "Internal server error", 500)
    CORRUPT_CONTRACT = ("corrupt_contract", "Corrupt contract", 500)
    SERVICE_UNAVAILABLE = ("service_unavailable", "Service unavailable", 503)
    DATABASE_UNAVAILABLE = ("database_unavailable", "Service unavailable", 503)
    BUSY = ("busy", "Service busy", 503)

    def error(
        self, detail: str = "", errors: Sequence[FieldProblem] = (), *, headers: dict[str, str] | None = None
    ) -> ProblemError:
        """This problem as an exception to raise, with its detail and field problems."""
        return ProblemError(
            code=self.code, title=self.title, status=self.status, detail=detail, errors=errors, headers=headers or {}
        )

    @classmethod
    def of(cls, code: str, *, status: int) -> Problem:
        """The first member with this code and status (a code computed elsewhere, such as a
        parser's or a batch item's); KeyError when the catalogue has none."""
        for member in cls:
            if member.code == code and member.status == status:
                return member
        raise KeyError((code, status))


def problems_detail(count: int, where: str) -> str:
    """ "1 problem in the request body", "3 problems in variables"."""
    return f"{count} problem{'s' if count != 1 else ''} in {where}"


# --- factories of the common ones (their signatures are kept for every caller) ----------


def not_found(detail: str = "No such object.") -> ProblemError:
    return Problem.NOT_FOUND.error(detail)


def payload_too_large(detail: str) -> ProblemError:
    return Problem.PAYLOAD_TOO_LARGE.error(detail)


def already_exists(detail: str) -> ProblemError:
    """409 `already_exists`: a key, name or slug that is taken."""
    return Problem.ALREADY_EXISTS.error(detail)


def invalid_body(errors: Sequence[FieldProblem], *, where: str = "the request body") -> ProblemError:
    """422 `validation_error` "N problem(s) in the request body" listing them."""
    return Problem.VALIDATION_ERROR.error(problems_detail(len(errors), where), tuple(errors))


# How long a client is asked to wait before retrying a request that lost a race.
BUSY_RETRY_AFTER_SECONDS = 1


def busy(detail: str) -> ProblemError:
    """503 `busy` with Retry-After: the request lost races with concurrent ones too often;
    nothing was applied, so the same request may simply be sent again."""
    return Problem.BUSY.error(detail, headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})


def escape_pointer_token(token: str | int) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    return "".join("/" + escape_pointer_token(token) for token in tokens)
