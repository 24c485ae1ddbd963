"""RFC 3339 timestamps with an explicit offset, as the API requires on input."""

from __future__ import annotations

import datetime as dt
import re

_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$"
)


class TimestampError(ValueError):
    pass


def parse_rfc3339(value: object) -> dt.datetime:
    """Parse an RFC 3339 timestamp; refuse anything without an explicit offset."""
    if not isinstance(value, str):
        raise TimestampError("expected an RFC 3339 timestamp string")
    match = _RFC3339.match(value.strip())
    if match is None:
        raise TimestampError(f"{value[:40]!r} is not an RFC 3339 timestamp such as 2026-11-20T10:15:00+01:00")
    if match["offset"] is None:
        raise TimestampError("the timestamp has no offset; add Z or an offset such as +01:00")
    frac = (match["frac"] or "")[:7]  # Python keeps microseconds; finer digits are dropped
    offset = "+00:00" if match["offset"] in ("Z", "z") else match["offset"]
    try:
        parsed = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{frac}{offset}")
    except ValueError as error:
        raise TimestampError(f"{value[:40]!r} is not a valid date and time: {error}") from None
    return parsed


def format_utc(value: dt.datetime) -> str:
    """UTC with a Z, as every timestamp leaves the API."""
    text = value.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")
