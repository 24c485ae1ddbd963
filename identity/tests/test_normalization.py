"""DESIGN.md §3 normalization: one canonical form per identifier, precise refusals."""

from __future__ import annotations

import pytest

from cdp_project.core.errors import ProblemError
from identity.normalization import identifier_normalize, identity_normalize

pytestmark = pytest.mark.django_db


def normalize(tenant, identity):
    return identity_normalize(tenant=tenant, identity=identity)


def problems(result):
    return [(p.pointer, p.code, p.detail) for p in result.problems]


def test_email_is_trimmed_and_lowercased(tenant):
    assert normalize(tenant, {"EMAIL": " Ann@Example.com "}).values == {"EMAIL": "ann@example.com"}


def test_email_typed_two_ways_is_one_identifier(tenant):
    assert (
        normalize(tenant, {"EMAIL": "Ann@Example.com "}).values
        == normalize(tenant, {"EMAIL": "ann@example.com"}).values
    )


def test_invalid_email_is_refused_with_a_precise_reason(tenant):
    result = normalize(tenant, {"EMAIL": "ann-at-example.com"})
    assert result.values == {}
    assert problems(result) == [("/identity/EMAIL", "invalid_identity", "EMAIL is not a valid email address")]


def test_email_longer_than_254_characters_is_refused(tenant):
    result = normalize(tenant, {"EMAIL": "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.com"})
    assert problems(result)[0][2] == "EMAIL is longer than 254 characters"


def test_national_phone_number_uses_the_tenants_default_region(tenant):
    national = normalize(tenant, {"PHONE": "020 7946 0958"}).values
    international = normalize(tenant, {"PHONE": "+44 20 7946 0958"}).values
    assert national == international == {"PHONE": "+442079460958"}


def test_phone_region_comes_from_the_tenant(tenant, other_tenant):
    # other_tenant's default region is DE: the same digits are a different (German) number.
    assert normalize(other_tenant, {"PHONE": "030 901820"}).values == {"PHONE": "+4930901820"}
    assert normalize(tenant, {"PHONE": "030 901820"}).problems


def test_invalid_phone_is_refused_naming_the_region(tenant):
    result = normalize(tenant, {"PHONE": "12345"})
    assert problems(result) == [
        ("/identity/PHONE", "invalid_identity", "PHONE is not a valid phone number for region GB")
    ]
    garbage = normalize(tenant, {"PHONE": "call me maybe"})
    assert garbage.problems[0].detail == "PHONE is not a valid phone number for region GB"


def test_external_and_device_key_are_trimmed_and_case_sensitive(tenant):
    result = normalize(tenant, {"EXTERNAL": "  Cust-42 ", "DEVICE_KEY": "ios-6F9619FF"})
    assert result.values == {"EXTERNAL": "Cust-42", "DEVICE_KEY": "ios-6F9619FF"}
    assert normalize(tenant, {"EXTERNAL": "cust-42"}).values != result.values


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("x" * 256, "EXTERNAL is longer than 255 characters"),
        ("   ", "EXTERNAL is empty"),
        ("cust\n42", "EXTERNAL contains a control character (U+000A)"),
        (42, "EXTERNAL must be a string, got integer"),
        (None, "EXTERNAL must be a string, got null"),
        (["a"], "EXTERNAL must be a string, got array"),
    ],
)
def test_bad_key_values_are_refused_precisely(tenant, value, detail):
    result = normalize(tenant, {"EXTERNAL": value})
    assert problems(result) == [("/identity/EXTERNAL", "invalid_identity", detail)]


def test_external_of_255_characters_is_accepted(tenant):
    assert normalize(tenant, {"EXTERNAL": "x" * 255}).values == {"EXTERNAL": "x" * 255}


def test_blocked_values_are_ignored_and_reported_case_insensitively_after_trimming(tenant):
    result = normalize(tenant, {"EXTERNAL": " NULL ", "EMAIL": "Test@Test.com", "DEVICE_KEY": "dev-1"})
    assert result.values == {"DEVICE_KEY": "dev-1"}
    assert [(i.type, i.value, i.reason) for i in result.ignored] == [
        ("EXTERNAL", "NULL", "blocked"),
        ("EMAIL", "Test@Test.com", "blocked"),
    ]
    assert result.problems == ()


def test_blocked_value_that_is_not_a_valid_identifier_is_ignored_not_refused(tenant):
    result = normalize(tenant, {"PHONE": "0", "EMAIL": "undefined", "EXTERNAL": "cust-1"})
    assert result.values == {"EXTERNAL": "cust-1"}
    assert {i.type for i in result.ignored} == {"PHONE", "EMAIL"}


def test_tenant_blocked_list_is_compared_after_trimming_and_lowercasing(tenant):
    tenant.blocked_identifier_values = [" Shared-Device "]
    result = normalize(tenant, {"DEVICE_KEY": "SHARED-device", "EMAIL": "a@b.io"})
    assert result.values == {"EMAIL": "a@b.io"}
    assert result.ignored[0].type == "DEVICE_KEY"


def test_a_changed_blocked_list_applies_at_once_and_entries_that_are_no_strings_are_skipped(tenant):
    tenant.blocked_identifier_values = ["shared-device"]
    assert normalize(tenant, {"DEVICE_KEY": "shared-device", "EMAIL": "a@b.io"}).values == {"EMAIL": "a@b.io"}
    tenant.blocked_identifier_values = [{"not": "a string"}, 7, " Kiosk "]  # JSON: anything may be stored
    result = normalize(tenant, {"DEVICE_KEY": "shared-device", "EXTERNAL": "KIOSK", "EMAIL": "a@b.io"})
    assert result.values == {"DEVICE_KEY": "shared-device", "EMAIL": "a@b.io"}
    assert [(i.type, i.value) for i in result.ignored] == [("EXTERNAL", "KIOSK")]


def test_a_control_character_is_refused_after_plain_text_passes(tenant):
    assert normalize(tenant, {"EXTERNAL": "cust 42~"}).values == {"EXTERNAL": "cust 42~"}
    for text in ("cust\t42", "cust\x7f42", "cust\x8542", "Zoë\x00"):
        result = normalize(tenant, {"EXTERNAL": text})
        assert [p[1] for p in problems(result)] == ["invalid_identity"], text


def test_only_blocked_values_leave_no_usable_identifier(tenant):
    result = normalize(tenant, {"EXTERNAL": "anonymous", "EMAIL": "null"})
    assert problems(result) == [
        (
            "/identity",
            "no_usable_identifier",
            "every identifier is a blocked value; at least one usable identifier is needed",
        )
    ]
    assert len(result.ignored) == 2


def test_empty_identity_has_no_usable_identifier(tenant):
    assert problems(normalize(tenant, {}))[0][:2] == ("/identity", "no_usable_identifier")


def test_identity_that_is_not_an_object_is_refused(tenant):
    result = normalize(tenant, ["EMAIL", "a@b.io"])
    assert problems(result) == [
        ("/identity", "invalid_identity", "identity must be an object mapping identifier types to values, got array")
    ]


def test_every_problem_is_reported_at_once_with_pointers(tenant):
    result = identity_normalize(
        tenant=tenant,
        identity={"email": "a@b.io", "EMAIL": "nope", "PHONE": "1", "FAX": "x", "EXTERNAL": "ok"},
        pointer_prefix="/events/3/identity",
    )
    assert [(p.pointer, p.code) for p in result.problems] == [
        ("/events/3/identity/email", "unknown_identifier_type"),
        ("/events/3/identity/EMAIL", "invalid_identity"),
        ("/events/3/identity/PHONE", "invalid_identity"),
        ("/events/3/identity/FAX", "unknown_identifier_type"),
    ]
    assert "did you mean 'EMAIL'" in result.problems[0].detail
    # The usable rest is still normalized, but the problems make the map unusable for the caller.
    assert result.values == {"EXTERNAL": "ok"}


def test_identifier_normalize_returns_the_canonical_value(tenant):
    assert identifier_normalize(tenant=tenant, type="EMAIL", value="ANN@example.com ") == "ann@example.com"
    assert identifier_normalize(tenant=tenant, type="PHONE", value="020 7946 0958") == "+442079460958"


def test_identifier_normalize_refuses_invalid_values_with_422(tenant):
    with pytest.raises(ProblemError) as raised:
        identifier_normalize(tenant=tenant, type="EMAIL", value="not-an-email")
    assert raised.value.status == 422
    assert raised.value.code == "invalid_identity"
    assert raised.value.errors[0].pointer == "/identity/EMAIL"
