"""The one RFC 3339 parser: the envelope form (occurredAt, Segment's timestamps) and the
exact form (`exact=True`: contract datetime values, segment operands), one contract."""

from __future__ import annotations

import datetime as dt

import pytest

from cdp_project.core.timestamps import EXACT_FORM, TimestampError, parse_rfc3339, parse_rfc3339_or_none

UTC_NOON = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text", ["2026-11-20T12:00:00Z", "2026-11-20t13:00:00+01:00", "2026-11-20T12:00:00.000000001z"]
)
def test_both_forms_read_rfc3339_itself_as_the_same_instant_in_utc(text):
    assert parse_rfc3339(text) == parse_rfc3339(text, exact=True) == UTC_NOON
    assert parse_rfc3339(text).tzinfo is dt.UTC


@pytest.mark.parametrize("text", [" 2026-11-20T12:00:00Z ", "2026-11-20 12:00:00Z", "2026-11-20 12:00:00+00:00"])
def test_only_the_envelope_form_allows_spaces_and_a_space_for_the_t(text):
    assert parse_rfc3339(text) == UTC_NOON
    with pytest.raises(TimestampError) as refused:
        parse_rfc3339(text, exact=True)
    assert str(refused.value) == EXACT_FORM
    assert parse_rfc3339_or_none(text, exact=True) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-20T12:00:00", "the timestamp has no offset; add Z or an offset such as +01:00"),
        ("2026-11-20T12:00:00+24:00", "the offset +24:00 is not between -23:59 and +23:59"),
        ("0001-01-01T00:00:00+01:00", "'0001-01-01T00:00:00+01:00' is outside years 1 to 9999 once converted to UTC"),
        (12, "expected an RFC 3339 timestamp string"),
    ],
)
def test_a_refusal_names_its_reason(text, reason):
    with pytest.raises(TimestampError) as refused:
        parse_rfc3339(text)
    assert str(refused.value) == reason
    assert parse_rfc3339_or_none(text) is None


def test_the_exact_form_gives_the_same_reasons_once_its_shape_is_right():
    with pytest.raises(TimestampError) as refused:
        parse_rfc3339("2026-02-30T12:00:00Z", exact=True)
    assert "is not a valid date and time" in str(refused.value)
    with pytest.raises(TimestampError) as refused:
        parse_rfc3339("2026-11-20T12:00:00", exact=True)
    assert str(refused.value) == EXACT_FORM
