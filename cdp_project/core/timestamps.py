"""RFC 3339 timestamps with an explicit offset, as the API requires on input.

Every timestamp is normalized to UTC where it is parsed: RFC 3339 allows any offset
from -23:59 to +23:59, PostgreSQL stores only -15:59 to +15:59, and an instant near
the ends of the calendar (0001-01-01T00:00:00+01:00) has no UTC form at all. A parsed
value is therefore always an aware datetime in UTC, inside years 1 to 9999 in UTC, or a
`TimestampError` with the reason (docs/operations.md "Timestamps").

One parser, two forms: envelopes (`occurredAt`, Segment's `timestamp`, exports read back)
may have surrounding spaces and a space instead of the `T`; a contract `datetime` value
and a segment's datetime operand (`exact=True`) must be written exactly as RFC 3339
§5.6 spells a date-time, since that is what is stored and compared.
"""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$",
    re.ASCII,
)
# RFC 3339 §5.6 date-time and nothing else (the form of stored `datetime` values).
_EXACT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$",
    re.ASCII,
)
EXACT_FORM = "expected an RFC 3339 timestamp with an explicit offset, e.g. 2026-11-20T10:15:00+01:00"
# RFC 3339 §5.6: time-numoffset = ("+" / "-") time-hour ":" time-minute (hours 00-23, minutes 00-59).
_OFFSET = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$", re.ASCII)


class TimestampError(ValueError):
    pass


def parse_rfc3339(value: object, *, exact: bool = False) -> dt.datetime:
    """Parse an RFC 3339 timestamp into an aware datetime in UTC; refuse anything without
    an explicit offset, with an offset RFC 3339 does not allow, or without a UTC form.
    `exact` also refuses what only the envelope form allows (spaces, a space for the `T`),
    with `EXACT_FORM` as the reason."""
    if not isinstance(value, str):
        raise TimestampError("expected an RFC 3339 timestamp string")
    if exact and not _EXACT.match(value):
        raise TimestampError(EXACT_FORM)
    match = _RFC3339.match(value.strip())
    if match is None:
        raise TimestampError(f"{value[:40]!r} is not an RFC 3339 timestamp such as 2026-11-20T10:15:00+01:00")
    if match["offset"] is None:
        raise TimestampError("the timestamp has no offset; add Z or an offset such as +01:00")
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    if not _OFFSET.match(offset):
        raise TimestampError(f"the offset {offset} is not between -23:59 and +23:59")
    frac = (match["frac"] or "")[:7]  # Python keeps microseconds; finer digits are dropped
    try:
        parsed = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{frac}{offset}")
    except ValueError as error:
        raise TimestampError(f"{value[:40]!r} is not a valid date and time: {error}") from None
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise TimestampError(f"{value[:40]!r} is outside years 1 to 9999 once converted to UTC") from None


def format_utc(value: dt.datetime) -> str:
    """UTC with a Z, as every timestamp leaves the API."""
    text = value.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_rfc3339_or_none(value: object, *, exact: bool = False) -> dt.datetime | None:
    """`parse_rfc3339` for a reader that only asks "is this a timestamp?": None instead
    of the reason."""
    try:
        return parse_rfc3339(value, exact=exact)
    except TimestampError:
        return None
