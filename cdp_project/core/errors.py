"""Domain errors with a stable code. One exception handler renders them as RFC 9457
problem details; views never build error bodies by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


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


def bad_request(code: str, detail: str, errors: Sequence[FieldProblem] = ()) -> ProblemError:
    return ProblemError(code=code, title="Bad request", status=400, detail=detail, errors=errors)


def unprocessable(code: str, title: str, detail: str, errors: Sequence[FieldProblem] = ()) -> ProblemError:
    return ProblemError(code=code, title=title, status=422, detail=detail, errors=errors)


def not_found(detail: str = "No such object.") -> ProblemError:
    return ProblemError(code="not_found", title="Not found", status=404, detail=detail)


def conflict(code: str, title: str, detail: str) -> ProblemError:
    return ProblemError(code=code, title=title, status=409, detail=detail)


def payload_too_large(detail: str) -> ProblemError:
    return ProblemError(code="payload_too_large", title="Payload too large", status=413, detail=detail)


def escape_pointer_token(token: str | int) -> str:
    """Escape one JSON Pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    return "".join("/" + escape_pointer_token(token) for token in tokens)
