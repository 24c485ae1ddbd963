from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cdp_project.core.errors import ProblemError
from conftest import connection_dropped, make_client
from tenants.models import DEFAULT_BLOCKED_IDENTIFIER_VALUES
from tenants.services import api_key_create, tenant_create

pytestmark = pytest.mark.django_db


def test_the_database_row_of_a_key_holds_no_plaintext(tenant):
    created = api_key_create(tenant=tenant, scopes=["ingest"], name="shop")
    secret = created.plaintext.split("_", 2)[2]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apikey WHERE id = %s", [created.api_key.pk])
        row = cursor.fetchone()
    flat = " ".join(str(value) for value in row)
    assert created.plaintext not in flat
    assert secret not in flat
    assert created.api_key.hashed_key in flat  # the hash is what is kept


def test_keys_are_unique_and_recognisable(tenant):
    first = api_key_create(tenant=tenant, scopes=["ingest"])
    second = api_key_create(tenant=tenant, scopes=["ingest"])
    assert first.plaintext != second.plaintext
    assert first.plaintext.startswith(f"rfk_{first.api_key.prefix}_")


def test_scopes_are_normalized_and_unknown_scopes_refused(tenant):
    created = api_key_create(tenant=tenant, scopes=["RUNTIME", " ingest", "ingest"])
    assert created.api_key.scopes == ["ingest", "runtime"]
    with pytest.raises(ProblemError) as error:
        api_key_create(tenant=tenant, scopes=["ingest", "superuser"])
    assert error.value.errors[0].code == "unknown_scope"
    with pytest.raises(ProblemError):
        api_key_create(tenant=tenant, scopes=[])


def test_a_new_tenant_blocks_common_junk_identifiers(db):
    tenant = tenant_create(slug="fresh", name="Fresh")
    for junk in ("null", "undefined", "none", "nan", "0", "-1", "anonymous", "unknown", "test@test.com"):
        assert junk in tenant.blocked_identifier_values
    assert "[object object]" in tenant.blocked_identifier_values
    assert "00000000-0000-0000-0000-000000000000" in tenant.blocked_identifier_values
    assert list(DEFAULT_BLOCKED_IDENTIFIER_VALUES) == tenant.blocked_identifier_values


def test_tenant_with_unknown_region_is_refused(db):
    with pytest.raises(ProblemError) as error:
        tenant_create(slug="x", name="X", default_region="ZZ")
    assert error.value.errors[0].pointer == "/defaultRegion"


def test_tenant_slug_is_unique(tenant):
    with pytest.raises(ProblemError) as error:
        tenant_create(slug=tenant.slug, name="again")
    assert error.value.status == 409


@pytest.mark.django_db(transaction=True)
def test_a_key_is_checked_on_a_new_connection_when_the_database_dropped_the_old_one(tenant, key_factory):
    """The key read goes without Django's `SELECT 1` health check; a connection PostgreSQL
    dropped (a restart) fails that read instead, and the request still gets its answer."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    client = make_client(key_factory(tenant, ["admin"]).plaintext)
    assert client.get("/api/v1/sources").status_code == 200
    pid = connection_dropped()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/sources")
    assert response.status_code == 200, response.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
    assert captured.captured_queries  # the key was read, then the sources
