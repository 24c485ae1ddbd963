"""channel_update_parse: one checked, normalized spec, or every problem at once."""

from __future__ import annotations

import pytest

from channels.normalization import channel_update_parse, phone_number_type
from channels.types import ChannelUpdateSpec

pytestmark = pytest.mark.django_db


def test_a_full_update_is_normalized(tenant):
    spec, problems = channel_update_parse(
        tenant=tenant,
        body={"channel": "SMS", "address": "07400 123456", "consent": "granted", "reason": "  form-7  "},
    )
    assert problems == ()
    assert spec == ChannelUpdateSpec(channel="SMS", address="+447400123456", consent="granted", reason="form-7")


def test_absent_and_null_optional_fields_mean_no_change(tenant):
    spec, _ = channel_update_parse(tenant=tenant, body={"channel": "EMAIL", "address": "a@b.co", "consent": None})
    assert spec == ChannelUpdateSpec(channel="EMAIL", address="a@b.co")


def test_every_problem_is_reported_at_once(tenant):
    spec, problems = channel_update_parse(
        tenant=tenant,
        body={"channel": "sms", "address": "x", "consent": "GRANTED", "reachability": 3, "reason": "r" * 501},
    )
    assert spec is None
    assert [(p.pointer, p.code) for p in problems] == [
        ("/channel", "unknown_channel"),
        ("/consent", "unknown_consent_state"),
        ("/reachability", "unknown_reachability_state"),
        ("/reason", "too_long"),
    ]
    assert "did you mean 'SMS'" in problems[0].detail
    assert "did you mean 'granted'" in problems[1].detail


def test_a_national_number_is_read_in_the_tenants_region(tenant, other_tenant):
    gb, _ = channel_update_parse(tenant=tenant, body={"channel": "WHATSAPP", "address": "07400 123456"})
    assert gb is not None and gb.address == "+447400123456"
    de, _ = channel_update_parse(tenant=other_tenant, body={"channel": "SMS", "address": "07400 123456"})
    assert de is not None and de.address == "+497400123456"
    _, problems = channel_update_parse(tenant=other_tenant, body={"channel": "SMS", "address": "020 7946 0958"})
    assert [(p.pointer, p.code) for p in problems] == [("/address", "invalid_address")]
    assert "for region DE" in problems[0].detail


def test_a_blocked_placeholder_is_no_address(tenant):
    _, problems = channel_update_parse(tenant=tenant, body={"channel": "EMAIL", "address": "test@test.com"})
    assert [(p.pointer, p.code) for p in problems] == [("/address", "invalid_address")]
    assert "blocked" in problems[0].detail


def test_a_push_token_keeps_its_case_and_loses_surrounding_blanks(tenant):
    spec, _ = channel_update_parse(tenant=tenant, body={"channel": "PUSH", "address": "  AbC:123 "})
    assert spec is not None and spec.address == "AbC:123"
    _, problems = channel_update_parse(tenant=tenant, body={"channel": "PUSH", "address": "AbC\n123"})
    assert [(p.pointer, p.code) for p in problems] == [("/address", "invalid_address")]
    assert "control character" in problems[0].detail


@pytest.mark.parametrize(
    ("number", "kind"),
    [("+447400123456", "MOBILE"), ("+442079460958", "FIXED_LINE"), ("+12015550123", "FIXED_LINE_OR_MOBILE")],
)
def test_phone_number_types(number, kind):
    assert phone_number_type(number) == kind
