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
the table's indexes, even where the page was filled by inserts.

A batch reads the rows of its own profiles, not every row of its tenant, even where the
planner's statistics have not seen the tenant yet (`cdp_project.core.bulk.TENANT_RECHECKED`)."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contracts.plans import contracts_plan_import
from identity.models import Identifier
from ingest.services import events_ingest, profile_updates_ingest, source_create
from ingest.tests.conftest import PLAN
from ingest.tests.test_query_budget import (  # noqa: F401
    DERIVED,
    derived,
    known,
    order,
    seed_anonymous_pairs,
    seed_known,
    update,
)
from tenants.services import tenant_create

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


INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


def _filtered(plan: dict) -> int:
    """Rows that index scans of a plan found and then threw away, over all their loops: an
    index walked for a condition it does not hold (a sequential scan is the planner's
    choice for a small table, which those of a test are)."""
    own = 0
    if plan["Node Type"] in INDEX_SCANS:
        own = plan.get("Rows Removed by Filter", 0) * plan.get("Actual Loops", 1)
    return own + sum(_filtered(child) for child in plan.get("Plans", []))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans are PostgreSQL's")
def test_a_batch_reads_its_own_rows_while_statistics_have_not_seen_its_tenant(tenant, derived):  # noqa: F811
    """The statistics are taken while another tenant holds every row, as after a new tenant's
    import before autovacuum analyzes again: they say this tenant has none. Each statement of
    a batch (known customers, merges, replays) then still finds its rows by their own keys;
    found through an index on the tenant and filtered, they would cost a read of all the
    tenant's rows, in every batch."""
    other = tenant_create(slug="initech", name="Initech")
    plan = copy.deepcopy(PLAN)
    for prop in plan["eventTypes"][0]["properties"]:
        prop["derivable"] = True
    plan["derivedAttributes"] = DERIVED
    contracts_plan_import(tenant_id=other.pk, plan=plan)
    source_create(tenant=other, key="shop-backend", name="Shop backend")
    seed_known(other, 2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # in this transaction: it counts the rows the test wrote
    history = [order(known(i)) for i in range(2000)]
    events_ingest(tenant=tenant, events=history)
    seed_anonymous_pairs(tenant, 20)

    batch = [order(known(i), 5) for i in range(0, 2000, 100)]
    batch += [order({"EMAIL": f"anon{i}@example.com", "DEVICE_KEY": f"dev-{i}"}, 5) for i in range(20)]
    batch += history[::200]
    with plans_explained() as plans:
        results = events_ingest(tenant=tenant, events=batch)
    assert [r.status for r in results] == ["accepted"] * 40 + ["duplicate"] * 10
    assert len(plans) >= 15, plans  # the reads and updates of a merging batch with replays were explained
    wasteful = [(sql, _filtered(tree)) for sql, tree in plans if _filtered(tree) > 100]
    assert wasteful == [], "\n".join(f"{sql} {_filtered(tree)}" for sql, tree in plans)


@contextlib.contextmanager
def plans_explained() -> Iterator[list[tuple[str, dict]]]:
    """The plans of the block's statements as PostgreSQL ran them (auto_explain, sent to this
    connection as notices): the plan prepared statements reuse, with actual row counts, not
    a plan made again for an EXPLAIN of the same text and values."""
    plans: list[tuple[str, dict]] = []

    def noticed(notice) -> None:
        text = notice.message_primary or ""
        if "plan:" in text:
            explained = json.loads(text.split("plan:", 1)[1])
            plans.append((" ".join(explained["Query Text"].split())[:90], explained["Plan"]))

    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for setting in ("log_min_duration = 0", "log_analyze = on", "log_format = json", "log_level = notice"):
            cursor.execute(f"SET LOCAL auto_explain.{setting}")
    raw.add_notice_handler(noticed)
    try:
        yield plans
    finally:
        raw.remove_notice_handler(noticed)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL auto_explain.log_min_duration = -1")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plan caching is PostgreSQL's")
def test_the_statements_of_single_events_are_planned_once_per_connection(tenant, derived):  # noqa: F811
    """The hot path's statements are prepared once per connection and then reuse one plan
    (`cdp_project.core.compiled.generic_plans_set`). PostgreSQL's own choice plans every
    statement again for its values on its first five executions, and those that bind a
    batch's keys as an array on every execution: a quarter of a single event's database time."""
    seed_known(tenant, 20)
    for i in range(12):
        assert events_ingest(tenant=tenant, events=[order(known(i), 5)])[0].status == "accepted"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements"
            " WHERE generic_plans + custom_plans >= 12"
        )
        counts = cursor.fetchall()
    assert len(counts) >= 8, counts  # the statements of every single event: keys, identifiers, derived values
    replanned = [(custom, " ".join(statement.split())[:90]) for _generic, custom, statement in counts if custom > 1]
    assert replanned == []
