"""The contracts admin as marketing ops use it, through the Django test client."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from contracts import services
from contracts.models import AttributeDefinition, DerivedAttributeDefinition, EventType, EventTypeVersion
from contracts.types import EventTypeSpec, FieldSpec

pytestmark = pytest.mark.django_db

ADD = "/admin/contracts/eventtype/add/"


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def _property(index: int, name: str, type_: str, *, pk: int | None = None, event_type: int | None = None, **flags):
    prefix = f"properties-{index}-"
    data = {
        f"{prefix}name": name,
        f"{prefix}type": type_,
        f"{prefix}values": flags.pop("values", ""),
        f"{prefix}max_length": flags.pop("max_length", ""),
        f"{prefix}minimum": "",
        f"{prefix}maximum": "",
        f"{prefix}description": "",
        f"{prefix}id": pk or "",
        f"{prefix}event_type": event_type or "",
    }
    for flag in ("required", "filterable", "derivable", "DELETE"):
        if flags.get(flag):
            data[f"{prefix}{flag}"] = "on"
    return data


def _event_type_form(tenant, properties: list[dict], *, initial: int = 0, **fields) -> dict:
    data = {
        "tenant": tenant.pk,
        "name": "order_completed",
        "description": "Paid orders",
        "status": "active",
        "properties-TOTAL_FORMS": len(properties),
        "properties-INITIAL_FORMS": initial,
        "properties-MIN_NUM_FORMS": 0,
        "properties-MAX_NUM_FORMS": 1000,
        **fields,
    }
    for item in properties:
        data.update(item)
    return data


def _text(response) -> str:
    return response.content.decode()


def _order_properties(event_type=None) -> list[dict]:
    pks = {}
    if event_type is not None:
        pks = {p.name: p.pk for p in event_type.properties.all()}
    et = event_type.pk if event_type else None
    return [
        _property(0, "orderId", "string", pk=pks.get("orderId"), event_type=et, required=True, max_length=64),
        _property(
            1, "total", "number", pk=pks.get("total"), event_type=et, required=True, filterable=True, derivable=True
        ),
        _property(2, "currency", "enum", pk=pks.get("currency"), event_type=et, required=True, values="EUR, USD, GBP"),
    ]


def test_staff_registers_an_event_type_with_typed_properties(staff_client, tenant):
    response = staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    assert response.status_code == 302, _text(response)
    event_type = EventType.objects.get(tenant=tenant, name="order_completed")
    assert event_type.version == 1
    assert [(p.name, p.type, p.required, p.values) for p in event_type.properties.order_by("position")] == [
        ("orderId", "string", True, []),
        ("total", "number", True, []),
        ("currency", "enum", True, ["EUR", "USD", "GBP"]),
    ]
    assert EventTypeVersion.objects.get(event_type=event_type).changed_by == "admin ops"


def test_bad_properties_are_shown_on_the_form_and_nothing_is_saved(staff_client, tenant):
    properties = [
        _property(0, "tier", "enum"),
        _property(1, "n", "integer", max_length=3),
        _property(2, "tier", "string"),
    ]
    response = staff_client.post(ADD, _event_type_form(tenant, properties))
    assert response.status_code == 200
    html = _text(response)
    assert "An enum needs its list of allowed values." in html
    assert "Only a string has a maxLength." in html
    assert not EventType.objects.exists()


def test_an_edit_makes_a_new_version_and_the_history_shows_both(staff_client, tenant):
    staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    event_type = EventType.objects.get()
    change = f"/admin/contracts/eventtype/{event_type.pk}/change/"
    page = staff_client.get(change)
    assert page.status_code == 200
    assert "Version history" in _text(page) and "Try a sample event" in _text(page)

    properties = [*_order_properties(event_type), _property(3, "items", "array", event_type=event_type.pk)]
    response = staff_client.post(change, _event_type_form(tenant, properties, initial=3))
    assert response.status_code == 302, _text(response)
    event_type.refresh_from_db()
    assert event_type.version == 2

    history = staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/versions/")
    html = _text(history)
    assert history.status_code == 200
    assert 'id="version-2"' in html and 'id="version-1"' in html
    assert "Version 2 (current)" in html
    assert "Added &#x27;items&#x27; (array, optional)." in html


def test_a_change_that_could_break_consumers_is_saved_only_once_confirmed(staff_client, tenant):
    staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    event_type = EventType.objects.get()
    change = f"/admin/contracts/eventtype/{event_type.pk}/change/"
    properties = _order_properties(event_type)
    properties[1] = _property(
        1,
        "total",
        "integer",
        pk=properties[1]["properties-1-id"],
        event_type=event_type.pk,
        required=True,
        filterable=True,
        derivable=True,
    )
    properties[0]["properties-0-DELETE"] = "on"

    warned = staff_client.post(change, _event_type_form(tenant, properties, initial=3))
    assert warned.status_code == 200
    html = _text(warned)
    assert "could break senders or consumers" in html
    assert "&#x27;total&#x27; changes type from number to integer." in html
    assert "&#x27;orderId&#x27; is removed" in html
    event_type.refresh_from_db()
    assert event_type.version == 1 and event_type.properties.count() == 3

    confirmed = staff_client.post(
        change, _event_type_form(tenant, properties, initial=3, confirm_breaking_changes="on")
    )
    assert confirmed.status_code == 302, _text(confirmed)
    event_type.refresh_from_db()
    assert event_type.version == 2
    assert sorted(event_type.properties.values_list("name", "type")) == [("currency", "enum"), ("total", "integer")]


def test_a_description_change_saves_without_a_warning_or_a_new_version(staff_client, tenant):
    staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    event_type = EventType.objects.get()
    response = staff_client.post(
        f"/admin/contracts/eventtype/{event_type.pk}/change/",
        _event_type_form(tenant, _order_properties(event_type), initial=3, description="Orders", status="deprecated"),
    )
    assert response.status_code == 302, _text(response)
    event_type.refresh_from_db()
    assert (event_type.description, event_type.status, event_type.version) == ("Orders", "deprecated", 1)


def test_the_list_filters_and_searches(staff_client, tenant, other_tenant):
    for t, name in [(tenant, "order_completed"), (other_tenant, "page_viewed")]:
        services.event_type_create(
            tenant_id=t.pk, spec=EventTypeSpec(name=name, properties=(FieldSpec("referrer", "string"),))
        )
    listing = _text(staff_client.get("/admin/contracts/eventtype/?q=referrer"))
    assert "order_completed" in listing and "page_viewed" in listing
    filtered = _text(
        staff_client.get(f"/admin/contracts/eventtype/?tenant__id__exact={tenant.pk}&status__exact=active")
    )
    assert "order_completed" in filtered and "page_viewed" not in filtered


def test_a_sample_event_is_validated_against_the_contract(staff_client, tenant):
    staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    event_type = EventType.objects.get()
    page = staff_client.get(f"/admin/contracts/eventtype/try/?event_type={event_type.pk}")
    assert page.status_code == 200
    prefilled = json.loads(page.context["form"].initial["sample"])
    assert prefilled["eventType"] == "order_completed"

    valid = staff_client.post("/admin/contracts/eventtype/try/", {"tenant": tenant.pk, "sample": json.dumps(prefilled)})
    assert "<strong>Valid</strong>" in _text(valid)

    sample = {"eventType": "order_completed", "properties": {"total": True, "currency": "JPY", "x": 1}}
    invalid = _text(
        staff_client.post("/admin/contracts/eventtype/try/", {"tenant": tenant.pk, "sample": json.dumps(sample)})
    )
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td><code>([^<]+)</code>", invalid)
    assert rows == [
        ("/properties/currency", "enum"),
        ("/properties/orderId", "required"),
        ("/properties/total", "type"),
        ("/properties/x", "undeclared"),
    ]

    broken = _text(staff_client.post("/admin/contracts/eventtype/try/", {"tenant": tenant.pk, "sample": "{nope"}))
    assert "not valid JSON" in broken


def test_event_types_cannot_be_deleted_in_the_admin(staff_client, tenant):
    event_type = services.event_type_create(tenant_id=tenant.pk, spec=EventTypeSpec(name="x"))
    assert staff_client.get(f"/admin/contracts/eventtype/{event_type.pk}/delete/").status_code == 403


def test_attribute_definitions_are_added_and_retyped_with_confirmation(staff_client, tenant):
    add = staff_client.post(
        "/admin/contracts/attributedefinition/add/",
        {"tenant": tenant.pk, "name": "tier", "type": "enum", "values": "silver, gold", "filterable": "on"},
    )
    assert add.status_code == 302, _text(add)
    definition = AttributeDefinition.objects.get()
    assert (definition.values, definition.filterable) == (["silver", "gold"], True)
    change = f"/admin/contracts/attributedefinition/{definition.pk}/change/"
    assert staff_client.get(change).status_code == 200
    data = {"type": "enum", "values": "gold", "filterable": "on"}
    warned = staff_client.post(change, data)
    assert warned.status_code == 200 and "no longer accepts silver" in _text(warned)
    assert staff_client.post(change, {**data, "confirm_breaking_changes": "on"}).status_code == 302
    definition.refresh_from_db()
    assert definition.values == ["gold"]
    assert staff_client.get("/admin/contracts/attributedefinition/?q=tier").status_code == 200


def test_derived_attributes_are_added_with_their_rules(staff_client, tenant, other_tenant):
    staff_client.post(ADD, _event_type_form(tenant, _order_properties()))
    order = EventType.objects.get(tenant=tenant)
    foreign = services.event_type_create(tenant_id=other_tenant.pk, spec=EventTypeSpec(name="other"))
    url = "/admin/contracts/derivedattributedefinition/add/"
    assert staff_client.get(url).status_code == 200
    form = {"tenant": tenant.pk, "name": "ordersTotal", "event_type": order.pk, "aggregation": "sum"}

    assert "same tenant" in _text(staff_client.post(url, {**form, "event_type": foreign.pk, "property_name": "total"}))
    assert "not derivable" in _text(staff_client.post(url, {**form, "property_name": "currency"}))
    assert staff_client.post(url, {**form, "property_name": "total"}).status_code == 302
    definition = DerivedAttributeDefinition.objects.get()
    assert (definition.event_type, definition.property_name) == (order, "total")
    assert staff_client.get(f"/admin/contracts/derivedattributedefinition/{definition.pk}/change/").status_code == 200
