"""The strict validator: every type and flag at its boundary, all problems at once, and
a snapshot that costs a constant number of queries and never goes stale."""

from __future__ import annotations

import math

import pytest

from contracts import services, specs
from contracts.models import EventType
from contracts.types import EventTypeSpec, FieldSpec
from contracts.validator import attributes_check, contract_snapshot, event_check

pytestmark = pytest.mark.django_db


def _register(tenant, *properties: FieldSpec, name: str = "thing_happened", **kwargs):
    return services.event_type_create(
        tenant_id=tenant.pk, spec=EventTypeSpec(name=name, properties=tuple(properties), **kwargs)
    )


def _codes(check) -> list[tuple[str, str]]:
    return [(p.pointer, p.code) for p in check.problems]


# (field spec, accepted values, refused values with the expected code)
BOUNDARIES = [
    (
        FieldSpec("v", "string", max_length=3),
        ["", "abc", "äöü"],
        [(1, "type"), (True, "type"), (["a"], "type"), ("abcd", "too_long")],
    ),
    (
        FieldSpec("v", "integer"),
        [0, -1, 2**63 - 1, -(2**63)],
        [(1.5, "type"), (2.0, "type"), (True, "type"), (False, "type"), ("1", "type"), (2**63, "out_of_range")],
    ),
    (
        FieldSpec("v", "integer", minimum=1, maximum=10),
        [1, 10],
        [(0, "out_of_range"), (11, "out_of_range")],
    ),
    (
        FieldSpec("v", "number"),
        [0, 1, -1.5, 1e300],
        [(True, "type"), ("1.5", "type"), (math.nan, "type"), (math.inf, "type"), (-math.inf, "type")],
    ),
    (
        FieldSpec("v", "number", minimum=0, maximum=99.5),
        [0, 0.0, 99.5],
        [(-0.01, "out_of_range"), (99.51, "out_of_range")],
    ),
    (
        FieldSpec("v", "boolean"),
        [True, False],
        [(0, "type"), (1, "type"), ("true", "type")],
    ),
    (
        FieldSpec("v", "datetime"),
        ["2026-11-20T10:15:00+01:00", "2026-11-20T09:15:00Z", "2026-11-20t09:15:00.123456789z"],
        [
            ("2026-11-20T10:15:00", "invalid_datetime"),
            ("2026-11-20", "invalid_datetime"),
            ("2026-02-30T10:15:00Z", "invalid_datetime"),
            ("2026-11-20 10:15:00+01:00", "invalid_datetime"),
            ("yesterday", "invalid_datetime"),
            (1732094100, "type"),
        ],
    ),
    (
        FieldSpec("v", "enum", values=("EUR", "USD")),
        ["EUR", "USD"],
        [("eur", "enum"), ("GBP", "enum"), (1, "enum"), (True, "enum")],
    ),
    (
        FieldSpec("v", "array"),
        [[], [1, "a"]],
        [({}, "type"), ("[]", "type")],
    ),
    (
        FieldSpec("v", "object"),
        [{}, {"a": 1}],
        [([], "type"), ("{}", "type")],
    ),
]


@pytest.mark.parametrize("spec, accepted, refused", BOUNDARIES, ids=lambda x: getattr(x, "type", None))
def test_every_type_accepts_and_refuses_at_its_boundary(tenant, spec, accepted, refused):
    _register(tenant, spec)
    snapshot = contract_snapshot(tenant_id=tenant.pk)
    for value in accepted:
        check = snapshot.check_event(event_type="thing_happened", properties={"v": value})
        assert check.ok, (value, check.problems)
    for value, code in refused:
        check = snapshot.check_event(event_type="thing_happened", properties={"v": value})
        assert _codes(check) == [("/properties/v", code)], (value, check.problems)
        assert check.problems[0].detail


def test_true_is_not_an_integer(tenant):
    _register(tenant, FieldSpec("count", "integer", required=True))
    check = event_check(tenant_id=tenant.pk, event_type="thing_happened", properties={"count": True})
    assert not check.ok
    assert check.problems[0].as_dict() == {
        "pointer": "/properties/count",
        "code": "type",
        "detail": "expected integer, got boolean",
    }


def test_several_problems_are_reported_together_in_a_stable_order(tenant):
    _register(
        tenant,
        FieldSpec("orderId", "string", required=True),
        FieldSpec("total", "number", required=True),
        FieldSpec("currency", "enum", values=("EUR", "USD"), required=True),
        FieldSpec("note", "string", max_length=5),
        name="order_completed",
    )
    properties = {"total": "99.5", "currency": "JPY", "note": "too long", "coupon": "X", "a/b": 1}
    first = event_check(tenant_id=tenant.pk, event_type="order_completed", properties=properties)
    second = event_check(
        tenant_id=tenant.pk, event_type="order_completed", properties=dict(reversed(properties.items()))
    )
    assert _codes(first) == [
        ("/properties/a~1b", "undeclared"),
        ("/properties/coupon", "undeclared"),
        ("/properties/currency", "enum"),
        ("/properties/note", "too_long"),
        ("/properties/orderId", "required"),
        ("/properties/total", "type"),
    ]
    assert first.problems == second.problems


def test_required_flag_refuses_absence_and_null_but_optional_accepts_both(tenant):
    _register(tenant, FieldSpec("must", "string", required=True), FieldSpec("may", "string"))
    snapshot = contract_snapshot(tenant_id=tenant.pk)
    assert snapshot.check_event(event_type="thing_happened", properties={"must": "x"}).ok
    assert snapshot.check_event(event_type="thing_happened", properties={"must": "x", "may": None}).ok
    assert _codes(snapshot.check_event(event_type="thing_happened", properties={})) == [
        ("/properties/must", "required")
    ]
    assert _codes(snapshot.check_event(event_type="thing_happened", properties={"must": None})) == [
        ("/properties/must", "required")
    ]


def test_undeclared_properties_are_refused_unless_the_type_allows_them(tenant):
    _register(tenant, FieldSpec("a", "string"), name="strict")
    _register(tenant, FieldSpec("a", "string"), name="open", allow_additional_properties=True)
    snapshot = contract_snapshot(tenant_id=tenant.pk)
    assert _codes(snapshot.check_event(event_type="strict", properties={"b": 1})) == [("/properties/b", "undeclared")]
    assert snapshot.check_event(event_type="open", properties={"b": 1}).ok
    # declared properties of an open type are still checked
    assert _codes(snapshot.check_event(event_type="open", properties={"a": 1})) == [("/properties/a", "type")]


def test_unknown_event_type_and_properties_that_are_not_an_object(tenant):
    event_type = _register(tenant, FieldSpec("a", "string"))
    snapshot = contract_snapshot(tenant_id=tenant.pk)
    unknown = snapshot.check_event(event_type="nope", properties={})
    assert (unknown.event_type_id, unknown.version) == (None, None)
    assert _codes(unknown) == [("/eventType", "unknown_event_type")]
    not_object = snapshot.check_event(event_type="thing_happened", properties=["a"])
    assert _codes(not_object) == [("/properties", "type")]
    assert (not_object.event_type_id, not_object.version) == (event_type.pk, 1)


def test_a_deprecated_type_is_accepted_with_a_warning(tenant):
    _register(tenant, FieldSpec("a", "string"), name="old_thing", status="deprecated")
    check = event_check(tenant_id=tenant.pk, event_type="old_thing", properties={"a": "x"})
    assert check.ok
    assert len(check.warnings) == 1 and "deprecated" in check.warnings[0]
    assert event_check(tenant_id=tenant.pk, event_type="old_thing", properties={"a": 1}).warnings == check.warnings


def test_another_tenants_event_types_are_unknown(tenant, other_tenant):
    _register(other_tenant, FieldSpec("a", "string"))
    check = event_check(tenant_id=tenant.pk, event_type="thing_happened", properties={"a": "x"})
    assert _codes(check) == [("/eventType", "unknown_event_type")]


def test_a_snapshot_costs_one_query_however_many_events_it_checks(tenant, django_assert_num_queries):
    for index in range(5):
        _register(tenant, FieldSpec("n", "integer", required=True), name=f"type_{index}")
    contract_snapshot(tenant_id=tenant.pk)  # compiles every version once for this process
    with django_assert_num_queries(1):
        snapshot = contract_snapshot(tenant_id=tenant.pk)
        for index in range(500):
            assert snapshot.check_event(event_type=f"type_{index % 5}", properties={"n": index}).ok


def test_a_cold_snapshot_costs_two_queries(tenant, django_assert_num_queries):
    for index in range(5):
        _register(tenant, FieldSpec("n", "integer"), name=f"type_{index}")
    services.event_type_update(event_type=EventType.objects.get(name="type_0"), properties=(FieldSpec("m", "integer"),))
    with django_assert_num_queries(2):
        snapshot = contract_snapshot(tenant_id=tenant.pk)
    assert snapshot.check_event(event_type="type_0", properties={"m": 1}).version == 2


def test_the_next_snapshot_sees_a_new_version_at_once(tenant):
    event_type = _register(tenant, FieldSpec("a", "string"))
    before = contract_snapshot(tenant_id=tenant.pk)
    services.event_type_update(event_type=event_type, properties=(FieldSpec("a", "integer"),))
    after = contract_snapshot(tenant_id=tenant.pk)
    assert before.check_event(event_type="thing_happened", properties={"a": "x"}).ok  # a snapshot is a moment
    check = after.check_event(event_type="thing_happened", properties={"a": "x"})
    assert (check.version, _codes(check)) == (2, [("/properties/a", "type")])


def test_status_changes_reach_the_next_snapshot_without_a_new_version(tenant):
    event_type = _register(tenant, FieldSpec("a", "string"))
    contract_snapshot(tenant_id=tenant.pk)
    services.event_type_update(event_type=event_type, status="deprecated")
    check = event_check(tenant_id=tenant.pk, event_type="thing_happened", properties={"a": "x"})
    assert check.version == 1 and check.warnings


# --- attributes -------------------------------------------------------------------------------


def _attribute(tenant, spec: FieldSpec):
    services.attribute_definition_create(tenant_id=tenant.pk, spec=spec)


def test_attributes_are_checked_by_the_same_type_rules(tenant):
    _attribute(tenant, FieldSpec("tier", "enum", values=("silver", "gold")))
    _attribute(tenant, FieldSpec("age", "integer", minimum=0))
    _attribute(tenant, FieldSpec("signupAt", "datetime"))
    _attribute(tenant, FieldSpec("firstName", "string", max_length=3))
    good = {"tier": "gold", "age": 30, "signupAt": "2026-01-01T00:00:00Z", "firstName": "Ann"}
    assert attributes_check(tenant_id=tenant.pk, attributes=good) == ()
    bad = {"tier": "bronze", "age": True, "signupAt": "2026-01-01T00:00:00", "firstName": "Annabel", "nick": "x"}
    problems = attributes_check(tenant_id=tenant.pk, attributes=bad)
    assert [(p.pointer, p.code) for p in problems] == [
        ("/attributes/age", "type"),
        ("/attributes/firstName", "too_long"),
        ("/attributes/nick", "unknown_attribute"),
        ("/attributes/signupAt", "invalid_datetime"),
        ("/attributes/tier", "enum"),
    ]


def test_null_removes_a_known_attribute_but_an_unknown_one_is_still_refused(tenant):
    _attribute(tenant, FieldSpec("tier", "enum", values=("gold",)))
    assert attributes_check(tenant_id=tenant.pk, attributes={"tier": None}) == ()
    problems = attributes_check(tenant_id=tenant.pk, attributes={"nickname": None})
    assert [(p.pointer, p.code) for p in problems] == [("/attributes/nickname", "unknown_attribute")]


def test_attributes_must_be_an_object(tenant):
    problems = attributes_check(tenant_id=tenant.pk, attributes=["tier"])
    assert [(p.pointer, p.code) for p in problems] == [("/attributes", "type")]


def test_attribute_checks_cost_one_query_per_snapshot(tenant, django_assert_num_queries):
    _register(tenant, FieldSpec("a", "string"))
    _attribute(tenant, FieldSpec("tier", "enum", values=("gold",)))
    contract_snapshot(tenant_id=tenant.pk)
    with django_assert_num_queries(2):
        snapshot = contract_snapshot(tenant_id=tenant.pk)
        for _ in range(100):
            assert snapshot.check_attributes(attributes={"tier": "gold"}) == ()


def test_another_tenants_attributes_are_unknown(tenant, other_tenant):
    _attribute(other_tenant, FieldSpec("tier", "string"))
    problems = attributes_check(tenant_id=tenant.pk, attributes={"tier": "gold"})
    assert [p.code for p in problems] == ["unknown_attribute"]


def test_pointers_escape_slash_and_tilde_in_names(tenant):
    problems = attributes_check(tenant_id=tenant.pk, attributes={"a/b~c": 1})
    assert problems[0].pointer == "/attributes/a~1b~0c"


def test_the_digest_ignores_property_order_but_not_rules():
    a, b = FieldSpec("a", "string"), FieldSpec("b", "integer")
    assert specs.definition_digest(allow_additional_properties=False, properties=[a, b]) == specs.definition_digest(
        allow_additional_properties=False, properties=[b, a]
    )
    assert specs.definition_digest(allow_additional_properties=False, properties=[a]) != specs.definition_digest(
        allow_additional_properties=True, properties=[a]
    )
