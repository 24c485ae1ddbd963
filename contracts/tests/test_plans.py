"""Contracts as code: export, import, and the round trip between tenants."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cdp_project.core.errors import ProblemError
from contracts import selectors
from contracts.models import EventType, EventTypeVersion
from contracts.plans import contracts_plan_export, contracts_plan_import

pytestmark = pytest.mark.django_db

DEMO_PLAN = Path(__file__).resolve().parents[2] / "cdp_project" / "demo" / "demo_contracts.json"


def _demo_plan() -> dict:
    return json.loads(DEMO_PLAN.read_text())


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_export_then_import_into_an_empty_tenant_then_export_gives_identical_json(tenant, other_tenant, tmp_path):
    contracts_plan_import(tenant_id=tenant.pk, plan=_demo_plan())
    # an edit in the source tenant: its version moves on, which the plan does not carry
    order = EventType.objects.get(tenant=tenant, name="order_completed")
    plan = _demo_plan()
    plan["eventTypes"][2]["properties"].append({"name": "coupon", "type": "string"})
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    order.refresh_from_db()
    assert order.version == 2

    exported = run("contracts_export", "--tenant", tenant.slug)
    path = tmp_path / "plan.json"
    path.write_text(exported)
    out = run("contracts_import", "--tenant", other_tenant.slug, str(path))
    assert "created event type order_completed (version 1)" in out
    assert run("contracts_export", "--tenant", other_tenant.slug) == exported


def test_the_export_holds_every_definition_exactly(tenant):
    plan = _demo_plan()
    contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    assert contracts_plan_export(tenant_id=tenant.pk) == plan


def test_import_is_idempotent_and_reports_what_it_changed(tenant, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(DEMO_PLAN.read_text())
    first = run("contracts_import", "--tenant", tenant.slug, str(path))
    assert "created event type order_completed (version 1)" in first
    assert "created attribute definition tier" in first
    assert "created derived attribute ordersTotal" in first
    assert "11 definition(s) created or updated, 0 unchanged." in first

    second = run("contracts_import", "--tenant", tenant.slug, str(path))
    assert second.strip() == "0 definition(s) created or updated, 11 unchanged."
    assert EventTypeVersion.objects.filter(tenant=tenant).count() == 4

    plan = _demo_plan()
    plan["eventTypes"][1]["description"] = "Signed up for a list."
    plan["eventTypes"][3]["properties"][1]["required"] = True
    plan["attributeDefinitions"][4]["values"].append("diamond")
    path.write_text(json.dumps(plan))
    third = run("contracts_import", "--tenant", tenant.slug, str(path))
    assert third.splitlines() == [
        "updated attribute definition tier",
        "updated event type newsletter_signup (version 1 kept)",
        "updated event type page_viewed (version 1 -> 2)",
        "3 definition(s) created or updated, 8 unchanged.",
    ]


def test_a_dry_run_changes_nothing(tenant, tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(DEMO_PLAN.read_text())
    out = run("contracts_import", "--tenant", tenant.slug, "--dry-run", str(path))
    assert "(dry run) created event type order_completed (version 1)" in out
    assert not EventType.objects.exists()


def test_a_bad_plan_changes_nothing_and_says_where_it_is_wrong(tenant, tmp_path):
    plan = _demo_plan()
    plan["eventTypes"][2]["properties"][1]["type"] = "money"
    plan["derivedAttributes"][1]["property"] = "currency"
    plan["extra"] = 1
    with pytest.raises(ProblemError) as error:
        contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    assert [(p.pointer, p.code) for p in error.value.errors] == [
        ("/extra", "unknown_field"),
        ("/eventTypes/2/properties/1/type", "invalid_choice"),
    ]

    plan = _demo_plan()
    plan["derivedAttributes"][1]["property"] = "currency"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(CommandError) as command_error:
        run("contracts_import", "--tenant", tenant.slug, str(path))
    assert "/derivedAttributes/1/property: not_derivable" in str(command_error.value)
    assert not EventType.objects.exists()  # all or nothing


def test_an_import_never_deletes_and_refuses_to_redefine_a_derived_attribute(tenant):
    contracts_plan_import(tenant_id=tenant.pk, plan=_demo_plan())
    result = contracts_plan_import(tenant_id=tenant.pk, plan={"eventTypes": []})
    assert result.changes == () and EventType.objects.filter(tenant=tenant).count() == 4

    plan = _demo_plan()
    plan["derivedAttributes"][1]["aggregation"] = "max"
    with pytest.raises(ProblemError) as error:
        contracts_plan_import(tenant_id=tenant.pk, plan=plan)
    assert [(p.pointer, p.code) for p in error.value.errors] == [("/derivedAttributes/1", "immutable")]


def test_commands_fail_clearly(tenant, tmp_path):
    with pytest.raises(CommandError, match="No tenant"):
        run("contracts_export", "--tenant", "nope")
    with pytest.raises(CommandError, match="Cannot read"):
        run("contracts_import", "--tenant", tenant.slug, str(tmp_path / "missing.json"))
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("contracts_import", "--tenant", tenant.slug, str(path))


def test_the_demo_plan_is_what_the_issue_asks_for(tenant):
    contracts_plan_import(tenant_id=tenant.pk, plan=_demo_plan())
    order = selectors.event_type_get(tenant_id=tenant.pk, name="order_completed")
    assert [(p.name, p.type, p.required) for p in order.properties] == [
        ("orderId", "string", True),
        ("total", "number", True),
        ("currency", "enum", True),
        ("items", "array", False),
    ]
    assert order.property("total").filterable and order.property("total").derivable
    assert order.property("currency").values == ("EUR", "USD", "GBP")
    assert selectors.event_type_get(tenant_id=tenant.pk, name="cart_abandoned").status == "deprecated"
    assert selectors.event_type_get(tenant_id=tenant.pk, name="newsletter_signup").status == "active"
    attributes = {a.name: a for a in selectors.attribute_definition_list(tenant_id=tenant.pk)}
    assert set(attributes) == {"firstName", "lastName", "tier", "country", "signupAt"}
    assert attributes["tier"].filterable and attributes["country"].filterable
    assert attributes["signupAt"].type == "datetime"
    derived = {(d.name, d.property, d.aggregation) for d in selectors.derived_attribute_list(tenant_id=tenant.pk)}
    assert derived == {("ordersTotal", "total", "sum"), ("ordersCount", None, "count")}
