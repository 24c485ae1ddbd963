"""RFC 3339 timestamps with an explicit offset, as the API requires on input.

Every timestamp is normalized to UTC where it is parsed: RFC 3339 allows any offset
from -23:59 to +23:59, PostgreSQL stores only -15:59 to +15:59, and an instant near
the ends of the calendar (0001-01-01T00:00:00+01:00) has no UTC form at all. A parsed
value is therefore always an aware datetime in UTC, inside years 1 to 9999 in UTC, or a
`TimestampError` with the reason (docs/operations.md "Timestamps").
"""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$",
    re.ASCII,
)
# RFC 3339 §5.6: time-numoffset = ("+" / "-") time-hour ":" time-minute (hours 00-23, minutes 00-59).
_OFFSET = re.compile(r"^[+-](?:[01]\d|2[0-3]):[0-5]\d$", re.ASCII)


class TimestampError(ValueError):
    pass


def parse_rfc3339(value: object) -> dt.datetime:
    """Parse an RFC 3339 timestamp into an aware datetime in UTC; refuse anything without
    an explicit offset, with an offset RFC 3339 does not allow, or without a UTC form."""
    if not isinstance(value, str):
        raise TimestampError("expected an RFC 3339 timestamp string")
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
