"""A contract change that would break a saved segment is refused, in the API and the
admin, with the names of the segments that depend on it."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth import get_user_model

from contracts.models import AttributeDefinition, DerivedAttributeDefinition, EventType
from contracts.plans import contracts_plan_import

from .conftest import PLAN

pytestmark = pytest.mark.django_db

BUYERS = {
    "key": "big-buyers",
    "name": "Big buyers",
    "definition": {
        "all": [
            {"attribute": "tier", "op": "eq", "value": "gold"},
            {"event": "order_completed", "where": [{"property": "total", "op": "gt", "value": 50}]},
            {"derived": "lastCurrency", "op": "eq", "value": "EUR"},
        ]
    },
}


@pytest.fixture
def buyers(api):
    assert api.post("/api/v1/segments", BUYERS, format="json").status_code == 201


def order_properties():
    return copy.deepcopy(PLAN["eventTypes"][0]["properties"])


def put_properties(api, properties):
    return api.put(
        "/api/v1/event-types/order_completed",
        {"name": "order_completed", "allowAdditionalProperties": False, "properties": properties},
        format="json",
    )


def in_use(response):
    assert response.status_code == 422, response.content
    problems = [e for e in response.json()["errors"] if e["code"] == "in_use"]
    assert problems
    return " ".join(e["detail"] for e in problems)


@pytest.mark.parametrize(
    "change",
    [
        lambda props: [p for p in props if p["name"] != "total"],  # removed
        lambda props: [{**p, "filterable": False} if p["name"] == "total" else p for p in props],  # not filterable
        lambda props: [{**p, "type": "string"} if p["name"] == "total" else p for p in props],  # retyped
        lambda props: [{**p, "type": "integer"} if p["name"] == "total" else p for p in props],  # retyped, numeric
    ],
    ids=["removed", "not_filterable", "retyped", "retyped_to_integer"],
)
def test_an_event_type_change_that_breaks_a_segment_is_refused_naming_it(api, buyers, change):
    version = EventType.objects.get(name="order_completed").version
    detail = in_use(put_properties(api, change(order_properties())))
    assert "big-buyers" in detail
    assert EventType.objects.get(name="order_completed").version == version


def test_a_change_of_a_property_no_segment_uses_is_accepted(api, buyers):
    properties = [{**p, "filterable": False} if p["name"] == "coupon" else p for p in order_properties()]
    properties.append({"name": "note", "type": "string", "required": False, "filterable": True, "derivable": False})
    assert put_properties(api, properties).status_code == 200


def test_a_property_feeding_a_used_derived_attribute_cannot_be_retyped(api, buyers):
    # currency feeds lastCurrency (last), which the segment compares with "EUR"
    properties = [{**p, "values": ["USD", "GBP"]} if p["name"] == "currency" else p for p in order_properties()]
    assert "big-buyers" in in_use(put_properties(api, properties))


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"filterable": False}, "/filterable"),
        ({"type": "string"}, "/type"),
        ({"values": ["silver", "platinum"]}, "/values"),  # the segment's "gold" would be gone
    ],
)
def test_an_attribute_change_that_breaks_a_segment_is_refused_naming_it(api, buyers, body, pointer):
    response = api.patch("/api/v1/attribute-definitions/tier", body, format="json")
    assert "big-buyers" in in_use(response)
    assert {e["pointer"] for e in response.json()["errors"]} == {pointer}
    assert AttributeDefinition.objects.get(name="tier").filterable is True


def test_adding_an_enum_value_or_changing_an_unused_attribute_is_accepted(api, buyers):
    response = api.patch(
        "/api/v1/attribute-definitions/tier", {"values": ["silver", "gold", "platinum", "x"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert api.patch("/api/v1/attribute-definitions/country", {"filterable": False}, format="json").status_code == 200


def test_a_plan_that_would_break_a_segment_is_refused_whole(api, buyers, tenant):
    plan = copy.deepcopy(PLAN)
    plan["attributeDefinitions"][1]["filterable"] = False
    with pytest.raises(Exception) as raised:
        contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    assert "big-buyers" in str(raised.value.errors)
    assert AttributeDefinition.objects.get(name="tier").filterable is True


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_the_contracts_admin_refuses_breaking_an_attribute_used_by_a_segment(staff_client, buyers):
    tier = AttributeDefinition.objects.get(name="tier")
    url = f"/admin/contracts/attributedefinition/{tier.pk}/change/"
    response = staff_client.post(
        url,
        {
            "type": "enum",
            "filterable": "",
            "values": "silver, gold, platinum",
            "description": "",
            "confirm_breaking_changes": "on",
        },
    )
    assert response.status_code == 200
    assert "big-buyers" in response.content.decode()
    assert AttributeDefinition.objects.get(pk=tier.pk).filterable is True
    delete = staff_client.get(f"/admin/contracts/attributedefinition/{tier.pk}/delete/")
    assert "big-buyers" in delete.content.decode()
    staff_client.post(f"/admin/contracts/attributedefinition/{tier.pk}/delete/", {"post": "yes"})
    assert AttributeDefinition.objects.filter(pk=tier.pk).exists()


def test_the_contracts_admin_protects_a_derived_attribute_used_by_a_segment(staff_client, buyers):
    derived = DerivedAttributeDefinition.objects.get(name="lastCurrency")
    page = staff_client.get(f"/admin/contracts/derivedattributedefinition/{derived.pk}/delete/")
    assert "big-buyers" in page.content.decode()
    staff_client.post(f"/admin/contracts/derivedattributedefinition/{derived.pk}/delete/", {"post": "yes"})
    assert DerivedAttributeDefinition.objects.filter(pk=derived.pk).exists()
    unused = DerivedAttributeDefinition.objects.get(name="ordersCount")
    assert (
        "big-buyers"
        not in staff_client.get(f"/admin/contracts/derivedattributedefinition/{unused.pk}/delete/").content.decode()
    )


def test_the_segment_editor_checks_the_definition_and_shows_members(staff_client, world, tenant):
    add = "/admin/segments/segment/add/"
    bad = staff_client.post(
        add,
        {
            "tenant": tenant.pk,
            "key": "vip",
            "name": "VIP",
            "definition": '{"attribute": "firstName", "op": "eq", "value": "A"}',
        },
    )
    assert bad.status_code == 200 and "/definition/attribute" in bad.content.decode()
    not_json = staff_client.post(add, {"tenant": tenant.pk, "key": "vip", "name": "VIP", "definition": "{oops"})
    assert "Not valid JSON" in not_json.content.decode()
    good = staff_client.post(
        add,
        {
            "tenant": tenant.pk,
            "key": "vip",
            "name": "VIP",
            "definition": '{"attribute": "vip", "op": "eq", "value": true}',
        },
    )
    assert good.status_code == 302, good.content.decode()[:3000]
    from segments.models import Segment

    segment = Segment.objects.get(key="vip")
    page = staff_client.get(f"/admin/segments/segment/{segment.pk}/change/").content.decode()
    assert "Members now" in page and ">3<" in page.replace(" ", "")
    for label in ("ann", "dan", "ivy"):
        assert world.profiles[label] in page
    assert world.profiles["bob"] not in page
