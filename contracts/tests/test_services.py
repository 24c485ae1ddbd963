"""Versions, history and the invariants the database keeps."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from cdp_project.core.errors import ProblemError
from contracts import selectors, services
from contracts.models import AttributeDefinition, EventType, EventTypeVersion, PropertyDefinition
from contracts.types import DerivedAttributeSpec, EventTypeSpec, FieldSpec

pytestmark = pytest.mark.django_db

TOTAL = FieldSpec("total", "number", required=True, filterable=True, derivable=True)
CURRENCY = FieldSpec("currency", "enum", values=("EUR", "USD"), required=True)


@pytest.fixture
def order_completed(tenant):
    return services.event_type_create(
        tenant_id=tenant.pk,
        spec=EventTypeSpec(name="order_completed", properties=(TOTAL, CURRENCY)),
        changed_by="test",
    )


def _versions(event_type) -> list[int]:
    return list(EventTypeVersion.objects.filter(event_type=event_type).values_list("version", flat=True))


def test_a_new_event_type_starts_at_version_1_with_its_first_version_frozen(order_completed):
    assert order_completed.version == 1
    frozen = EventTypeVersion.objects.get(event_type=order_completed)
    assert frozen.definition["properties"][0]["name"] == "total"
    assert frozen.changed_by == "test"
    assert frozen.digest == order_completed.definition_digest


def test_versions_grow_only_when_the_rules_change(order_completed):
    update = services.event_type_update
    assert update(event_type=order_completed, description="Paid orders").version == 1
    assert update(event_type=order_completed, status="deprecated").version == 1
    assert update(event_type=order_completed, properties=(TOTAL, CURRENCY)).version == 1  # the same again
    assert update(event_type=order_completed, properties=(CURRENCY, TOTAL)).version == 1  # only reordered
    assert update(event_type=order_completed, allow_additional_properties=False).version == 1

    with_note = (TOTAL, CURRENCY, FieldSpec("note", "string"))
    assert update(event_type=order_completed, properties=with_note).version == 2
    assert update(event_type=order_completed, properties=with_note).version == 2
    assert update(event_type=order_completed, allow_additional_properties=True).version == 3
    narrower = (TOTAL, FieldSpec("currency", "enum", values=("EUR",), required=True))
    assert update(event_type=order_completed, properties=narrower).version == 4
    assert _versions(order_completed) == [4, 3, 2, 1]


def test_the_current_properties_follow_the_last_update(order_completed):
    services.event_type_update(event_type=order_completed, properties=(FieldSpec("note", "string"), TOTAL))
    info = selectors.event_type_get(tenant_id=order_completed.tenant_id, name="order_completed")
    assert [p.name for p in info.properties] == ["note", "total"]
    assert info.version == 2
    assert PropertyDefinition.objects.filter(event_type=order_completed).count() == 2


def test_a_taken_name_is_409_and_names_are_unique_per_tenant_only(tenant, other_tenant, order_completed):
    with pytest.raises(ProblemError) as error:
        services.event_type_create(tenant_id=tenant.pk, spec=EventTypeSpec(name="order_completed"))
    assert (error.value.status, error.value.code) == (409, "already_exists")
    services.event_type_create(tenant_id=other_tenant.pk, spec=EventTypeSpec(name="order_completed"))
    assert EventType.objects.filter(name="order_completed").count() == 2


def test_the_database_refuses_what_the_services_never_write(tenant, order_completed):
    def refused(**fields):
        with pytest.raises(IntegrityError), transaction.atomic():
            PropertyDefinition.objects.create(tenant=tenant, event_type=order_completed, **fields)

    refused(name="total", type="number")  # duplicate name
    refused(name="x", type="decimal")
    refused(name="x", type="integer", max_length=3)
    refused(name="x", type="string", minimum=1)
    refused(name="x", type="number", minimum=2, maximum=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        AttributeDefinition.objects.create(tenant=tenant, name="a", type="enumeration")


def test_a_derived_attribute_needs_a_derivable_numeric_property(tenant, order_completed):
    def problems(**kwargs):
        spec = DerivedAttributeSpec(**{"name": "d", "event_type": "order_completed", **kwargs})
        with pytest.raises(ProblemError) as error:
            services.derived_attribute_create(tenant_id=tenant.pk, spec=spec)
        return [(p.pointer, p.code) for p in error.value.errors]

    assert problems(property="currency", aggregation="sum") == [
        ("/property", "not_derivable"),
        ("/property", "not_numeric"),
    ]
    assert problems(property="missing", aggregation="max") == [("/property", "unknown_property")]
    assert problems(event_type="nope", property="total", aggregation="sum") == [("/eventType", "unknown_event_type")]
    services.derived_attribute_create(
        tenant_id=tenant.pk,
        spec=DerivedAttributeSpec(
            name="ordersTotal", event_type="order_completed", property="total", aggregation="sum"
        ),
    )
    services.derived_attribute_create(
        tenant_id=tenant.pk,
        spec=DerivedAttributeSpec(name="ordersCount", event_type="order_completed", property=None, aggregation="count"),
    )
    listed = selectors.derived_attribute_list(tenant_id=tenant.pk, event_type="order_completed")
    assert [(d.name, d.property, d.aggregation) for d in listed] == [
        ("ordersCount", None, "count"),
        ("ordersTotal", "total", "sum"),
    ]
    assert selectors.derived_attribute_list(tenant_id=tenant.pk, event_type="page_viewed") == ()


def test_a_property_that_feeds_a_derived_attribute_cannot_be_removed_or_weakened(tenant, order_completed):
    services.derived_attribute_create(
        tenant_id=tenant.pk,
        spec=DerivedAttributeSpec(
            name="ordersTotal", event_type="order_completed", property="total", aggregation="sum"
        ),
    )

    def problems(properties):
        with pytest.raises(ProblemError) as error:
            services.event_type_update(event_type=order_completed, properties=properties)
        return [(p.pointer, p.code) for p in error.value.errors]

    assert problems((CURRENCY,)) == [("/properties", "in_use")]
    assert problems((CURRENCY, FieldSpec("total", "string", derivable=True))) == [("/properties/1/type", "in_use")]
    assert problems((FieldSpec("total", "number"),)) == [("/properties/0/derivable", "in_use")]
    order_completed.refresh_from_db()
    assert order_completed.version == 1


def test_breaking_changes_are_named():
    old = (TOTAL, CURRENCY, FieldSpec("note", "string"))
    new = (
        FieldSpec("total", "integer", required=True, derivable=True),
        FieldSpec("currency", "enum", values=("EUR",), required=True),
        FieldSpec("coupon", "string", required=True),
    )
    warnings = services.breaking_changes(old_allow=True, old=old, new_allow=False, new=new)
    text = "\n".join(warnings)
    for expected in ["Undeclared", "'total' changes type", "no longer filterable", "no longer accepts USD"]:
        assert expected in text
    assert "'note' is removed" in text
    assert "New required property 'coupon'" in text
    assert (
        services.breaking_changes(old_allow=False, old=old, new_allow=True, new=(*old, FieldSpec("x", "string"))) == ()
    )


def test_attribute_update_replaces_the_typing_and_writes_nothing_when_equal(tenant):
    definition = services.attribute_definition_create(
        tenant_id=tenant.pk, spec=FieldSpec("tier", "enum", values=("silver", "gold"), filterable=True)
    )
    stamp = definition.updated_at
    same = services.attribute_definition_update(
        definition=definition, spec=FieldSpec("tier", "enum", values=("silver", "gold"), filterable=True)
    )
    assert same.updated_at == stamp
    services.attribute_definition_update(definition=definition, spec=FieldSpec("tier", "string", max_length=10))
    definition.refresh_from_db()
    assert (definition.type, definition.values, definition.max_length) == ("string", [], 10)
    infos = selectors.attribute_definition_list(tenant_id=tenant.pk)
    assert [(a.name, a.type, a.filterable) for a in infos] == [("tier", "string", False)]
