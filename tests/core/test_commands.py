from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cdp_project.demo.management.commands.demo_load import exported_keys
from conftest import make_client
from contracts.models import EventType
from contracts.services import event_type_update, property_specs_of
from ingest.models import Event
from tenants.models import ApiKey, Tenant

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_then_a_key_that_works_over_http():
    run("create_tenant", "shop", "--name", "Shop Ltd", "--default-region", "de")
    tenant = Tenant.objects.get(slug="shop")
    assert (tenant.name, tenant.default_region) == ("Shop Ltd", "DE")

    printed = json.loads(
        run("create_api_key", "--tenant", "shop", "--scopes", "ingest,admin", "--name", "ci", "--json")
    )
    assert set(printed) == {"key", "prefix", "scopes"}
    assert printed["scopes"] == ["ingest", "admin"]
    assert printed["key"].startswith(printed["prefix"] + "_")
    assert ApiKey.objects.get(tenant=tenant).name == "ci"
    assert make_client(printed["key"]).get("/api/v1/sources").status_code == 200


def test_create_api_key_without_json_prints_the_key_once():
    run("create_tenant", "shop", "--name", "Shop")
    out = run("create_api_key", "--tenant", "shop", "--scopes", "runtime")
    key = out.strip().splitlines()[-1]
    assert key.startswith("rfk_")
    assert make_client(key).get("/api/v1/sources").status_code == 403


def test_create_api_key_for_unknown_tenant_fails_clearly():
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        run("create_api_key", "--tenant", "nope", "--scopes", "ingest")


def test_create_api_key_with_unknown_scope_fails_clearly():
    run("create_tenant", "shop", "--name", "Shop")
    with pytest.raises(CommandError, match="Unknown scope"):
        run("create_api_key", "--tenant", "shop", "--scopes", "ingest,root")
    assert ApiKey.objects.count() == 0


def test_create_tenant_twice_fails_clearly():
    run("create_tenant", "shop", "--name", "Shop")
    with pytest.raises(CommandError, match="exists already"):
        run("create_tenant", "shop", "--name", "Shop")


def test_create_tenant_with_bad_region_fails_clearly():
    with pytest.raises(CommandError, match="region"):
        run("create_tenant", "shop", "--name", "Shop", "--default-region", "XX")
    assert not Tenant.objects.exists()


def test_demo_load_is_idempotent_and_prints_working_keys(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    first = run("demo_load")
    second = run("demo_load")
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert ApiKey.objects.count() == 3
    keys_first, keys_second = exported_keys(first), exported_keys(second)
    assert keys_first == keys_second and sorted(keys_first) == ["admin", "ingest", "runtime"]
    admin_key = keys_first["admin"]
    response = make_client(admin_key).get("/api/v1/sources")
    assert [s["key"] for s in response.json()["results"]] == ["crm", "shop-backend"]


def test_a_second_demo_load_keeps_what_ops_changed(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    run("demo_load")
    tenant = Tenant.objects.get(slug="demo")
    event_type = EventType.objects.get(tenant=tenant, name="order_completed")
    event_type_update(
        event_type=event_type,
        description="Edited by ops",
        status="active",
        allow_additional_properties=True,
        properties=property_specs_of(event_type)[:2],
        changed_by="admin ops",
    )
    events = Event.objects.filter(tenant=tenant).count()
    second = run("demo_load")
    event_type.refresh_from_db()
    assert (event_type.description, event_type.version, event_type.allow_additional_properties) == (
        "Edited by ops",
        2,
        True,
    )
    assert Event.objects.filter(tenant=tenant).count() == events  # the sample traffic is not sent again
    assert "kept as it is" in second
