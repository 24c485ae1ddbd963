"""The tables events and profile updates write for every item carry their tenant without a
foreign-key constraint or an index of its own (`tenants.models.hot_tenant_key`): each row would
otherwise pay a referential check at COMMIT, lock the tenant row, and add a B-tree entry
that the `(tenant, …)` indexes already cover. Every tenant-scoped unique constraint and
index still leads with the tenant (DESIGN.md §9), so a tenant's rows stay one index range.

The tables are found by running batches (events that merge, profile updates) on the
database the suite runs on and reading which tables their statements write. Channel updates,
which still write endpoint by endpoint, keep the constraint on their channel tables.

Identifier pages keep room for updates in place (identity migration 0005): the
`last_seen_at` that nearly every event moves stays on its page, without new entries in
the table's indexes, even where the page was filled by inserts."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.models import Identifier
from ingest.services import events_ingest, profile_updates_ingest
from ingest.tests.test_query_budget import derived, known, order, seed_anonymous_pairs, seed_known, update  # noqa: F401

pytestmark = pytest.mark.django_db

WRITES = re.compile(r'^\s*(?:WITH .*?\)\)\s*)?(?:INSERT INTO|UPDATE|COPY|DELETE FROM)\s+"?(\w+)"?', re.S)
OUR_APPS = {"tenants", "ingest", "identity", "profiles", "channels", "contracts", "segments", "runtime", "privacy"}


def _written_tables(tenant) -> set[str]:
    seed_anonymous_pairs(tenant, 3)
    with CaptureQueriesContext(connection) as captured:
        events_ingest(
            tenant=tenant,
            events=[order({"EMAIL": f"anon{i}@example.com", "DEVICE_KEY": f"dev-{i}"}, 5) for i in range(3)],
        )
        profile_updates_ingest(tenant=tenant, updates=[update({"EMAIL": "new@example.com"}, {"tier": "gold"})])
    tables = set()
    for query in captured.captured_queries:
        for statement in query["sql"].split(";"):
            match = WRITES.match(statement)
            if match:
                tables.add(match.group(1))
    return tables


def test_tables_written_by_ingest_carry_no_tenant_constraint_or_tenant_only_index(tenant, derived):  # noqa: F811
    tables = _written_tables(tenant)
    # What a merging batch must have written, or the parsing above found nothing to check.
    assert {
        "ingest_event",
        "ingest_idempotencykey",
        "ingest_profileupdate",
        "identity_identifier",
        "profiles_profile",
        "profiles_attributevalue",
        "profiles_derivedvalue",
        "profiles_mergeledgerentry",
    } <= tables, tables
    tenant_table = apps.get_model("tenants", "Tenant")._meta.db_table
    found = []
    with connection.cursor() as cursor:
        for table in sorted(tables):
            for name, spec in connection.introspection.get_constraints(cursor, table).items():
                if spec["foreign_key"] and spec["foreign_key"][0] == tenant_table:
                    found.append(f"{table}: foreign key {name}")
                elif spec["index"] and not spec["unique"] and spec["columns"] == ["tenant_id"]:
                    found.append(f"{table}: index {name} on tenant_id alone")
    assert found == []


def test_every_tenant_scoped_unique_constraint_and_index_leads_with_the_tenant():
    astray = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in OUR_APPS or not any(field.name == "tenant" for field in meta.fields):
            continue
        groups = [list(c.fields) for c in meta.constraints if getattr(c, "fields", None)]
        groups += [list(index.fields) for index in meta.indexes]
        groups += [list(fields) for fields in meta.unique_together]
        astray += [f"{meta.label}: {fields}" for fields in groups if fields[0].lstrip("-") != "tenant"]
    assert astray == []


def _pages(tenant) -> dict[int, tuple[int, object]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, (ctid::text::point)[0]::int, last_seen_at FROM identity_identifier WHERE tenant_id = %s",
            [tenant.pk],
        )
        return {pk: (page, seen) for pk, page, seen in cursor.fetchall()}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="page layout and HOT updates are PostgreSQL's")
def test_an_event_moves_last_seen_of_identifiers_on_full_pages_in_place(tenant, derived):  # noqa: F811
    seed_known(tenant, 600)  # 1,200 identifiers: pages filled by one insert, as far as the fillfactor lets them
    before = _pages(tenant)
    assert len({page for page, _ in before.values()}) >= 10
    customers = range(0, 600, 40)  # one or two identifiers updated on each page
    results = events_ingest(tenant=tenant, events=[order(known(i), 5) for i in customers])
    assert {r.status for r in results} == {"accepted"}
    after = _pages(tenant)
    touched = set(
        Identifier.objects.filter(
            tenant=tenant, value__in=[v for i in customers for v in known(i).values()]
        ).values_list("pk", flat=True)
    )
    assert len(touched) == 2 * len(customers)
    assert all(after[pk][1] > before[pk][1] for pk in touched)  # last seen moved
    moved = sorted(pk for pk in touched if after[pk][0] != before[pk][0])
    assert moved == []  # a row version written to another page means an entry in every index
