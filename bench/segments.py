"""Segments benchmark (issue 8). Run with `make bench-segments` (a durable throwaway PostgreSQL).

Generates server-side (INSERT ... SELECT generate_series) 1M profiles with three
attributes each, 3M events, the derived values and EMAIL endpoints in a mix of readiness
states, then VACUUM ANALYZE. Times, best of a few runs, in the same process:

- a 3-condition attribute segment (count of members);
- an event-condition segment (orders over 100 in the last 30 days, at least 2; count);
- a channel-ready export (every EMAIL-ready gold member with address and two attributes,
  all rows read);
each compiled by `segments` against a hand-written SQL query for the same question, with
the ratio. Not a test: it prints figures, it asserts nothing (except equal answers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from contracts.plans import contracts_plan_import  # noqa: E402
from ingest.services import source_create  # noqa: E402
from segments import exports  # noqa: E402
from segments.compiler import members_queryset  # noqa: E402
from segments.language import ContractView, definition_check  # noqa: E402
from segments.models import Segment  # noqa: E402
from segments.types import ExportColumn, ExportSpec  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
            ],
        },
        {
            "name": "page_viewed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [{"name": "path", "type": "string", "required": True, "filterable": True}],
        },
    ],
    "attributeDefinitions": [
        {"name": "tier", "type": "enum", "values": ["bronze", "silver", "gold"], "filterable": True},
        {"name": "country", "type": "string", "filterable": True},
        {"name": "age", "type": "integer", "filterable": True},
    ],
    "derivedAttributes": [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"}
    ],
}

ATTRIBUTE_SEGMENT = {
    "all": [
        {"attribute": "tier", "op": "eq", "value": "gold"},
        {"attribute": "country", "op": "in", "value": ["DE", "AT"]},
        {"attribute": "age", "op": "gte", "value": 40},
    ]
}
EVENT_SEGMENT = {
    "event": "order_completed",
    "within": "P30D",
    "where": [{"property": "total", "op": "gt", "value": 100}],
    "count": {"op": "gte", "value": 2},
}
EXPORT_SEGMENT = {"attribute": "tier", "op": "eq", "value": "gold"}

HAND_ATTRIBUTE = """
SELECT count(*) FROM profiles_profile p
WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NULL
  AND EXISTS (SELECT 1 FROM profiles_attributevalue a WHERE a.tenant_id = %(t)s AND a.profile_id = p.id
              AND a.name = 'tier' AND a.value = '"gold"'::jsonb)
  AND EXISTS (SELECT 1 FROM profiles_attributevalue a WHERE a.tenant_id = %(t)s AND a.profile_id = p.id
              AND a.name = 'country' AND a.value IN ('"DE"'::jsonb, '"AT"'::jsonb))
  AND EXISTS (SELECT 1 FROM profiles_attributevalue a WHERE a.tenant_id = %(t)s AND a.profile_id = p.id
              AND a.name = 'age' AND jsonb_typeof(a.value) = 'number' AND (a.value)::numeric >= 40)
"""
HAND_EVENT = """
SELECT count(*) FROM profiles_profile p
WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NULL
  AND p.id IN (SELECT e.profile_id FROM ingest_event e
               WHERE e.tenant_id = %(t)s AND e.event_type = 'order_completed'
                 AND e.occurred_at >= %(since)s AND (e.properties ->> 'total')::numeric > 100
               GROUP BY e.profile_id HAVING count(*) >= 2)
"""
HAND_EXPORT = """
SELECT p.id, en.address,
       (SELECT a.value FROM profiles_attributevalue a
        WHERE a.tenant_id = %(t)s AND a.profile_id = p.id AND a.name = 'tier'),
       (SELECT a.value FROM profiles_attributevalue a
        WHERE a.tenant_id = %(t)s AND a.profile_id = p.id AND a.name = 'country')
FROM profiles_profile p
JOIN channels_endpoint en ON en.tenant_id = %(t)s AND en.profile_id = p.id AND en.channel = 'EMAIL' AND en.active
     AND en.consent = 'granted' AND en.reachability NOT IN ('bounced', 'unreachable')
WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NULL
  AND EXISTS (SELECT 1 FROM profiles_attributevalue a WHERE a.tenant_id = %(t)s AND a.profile_id = p.id
              AND a.name = 'tier' AND a.value = '"gold"'::jsonb)
ORDER BY p.id
"""


LOADED_TABLES = (
    "profiles_profile",
    "profiles_attributevalue",
    "profiles_derivedvalue",
    "ingest_event",
    "channels_endpoint",
)


def generate(tenant_id: int, source_id: int, profiles: int, events: int) -> None:
    started = time.perf_counter()
    params = {"t": tenant_id, "s": source_id, "profiles": profiles, "events": events}
    steps = [
        (
            "profiles",
            """CREATE UNLOGGED TABLE bench_profile AS
               SELECT n, gen_random_uuid() AS id FROM generate_series(1, %(profiles)s) n""",
        ),
        ("profiles", "CREATE UNIQUE INDEX ON bench_profile (n)"),
        (
            "profiles",
            """INSERT INTO profiles_profile (id, tenant_id, created_at, updated_at)
               SELECT id, %(t)s, now() - (n %% 1000) * interval '1 hour', now() FROM bench_profile""",
        ),
        (
            "attributes",
            """INSERT INTO profiles_attributevalue (tenant_id, profile_id, name, value, occurred_at, source, updated_at)
               SELECT %(t)s, p.id, a.name, a.value, now(), 'bench', now()
               FROM bench_profile p CROSS JOIN LATERAL (VALUES
                 ('tier', to_jsonb((ARRAY['bronze', 'bronze', 'silver', 'silver', 'gold'])[1 + (p.n * 7) %% 5])),
                 ('country', to_jsonb((ARRAY['DE', 'AT', 'FR', 'GB', 'IT', 'ES', 'NL'])[1 + (p.n * 13) %% 7])),
                 ('age', to_jsonb(18 + (p.n * 31) %% 60))) AS a(name, value)""",
        ),
        (
            "events",
            """INSERT INTO ingest_event (id, tenant_id, source_id, external_event_id, event_type, contract_version,
                 occurred_at, received_at, profile_id, identity, properties, resolution, fingerprint)
               SELECT gen_random_uuid(), %(t)s, %(s)s, 'evt-' || e,
                 CASE WHEN e %% 3 = 0 THEN 'page_viewed' ELSE 'order_completed' END, 1,
                 now() - (abs(hashint8(-e::bigint)) %% (180 * 24)) * interval '1 hour', now(), p.id, '{}'::jsonb,
                 CASE WHEN e %% 3 = 0 THEN jsonb_build_object('path', '/p/' || (e %% 100))
                      ELSE jsonb_build_object('orderId', e::text, 'total', ((e * 37) %% 40000) / 100.0) END,
                 '{}'::jsonb, ''
               FROM generate_series(1, %(events)s) e
               JOIN bench_profile p ON p.n = 1 + abs(hashint8(e::bigint)) %% %(profiles)s""",
        ),
        (
            "derived values",
            """INSERT INTO profiles_derivedvalue (tenant_id, profile_id, name, value, number, count, updated_at)
               SELECT %(t)s, profile_id, 'ordersTotal', to_jsonb(sum((properties ->> 'total')::float8)),
                      sum((properties ->> 'total')::float8), count(*), now()
               FROM ingest_event WHERE tenant_id = %(t)s AND event_type = 'order_completed' GROUP BY profile_id""",
        ),
        (
            "endpoints",
            """INSERT INTO channels_endpoint (tenant_id, channel, address, address_key, number_type, profile_id, active,
                 declared_at, declared_source, consent, consent_occurred_at, consent_source, consent_evidence,
                 reachability, reachability_source, reachability_reason, created_at, updated_at)
               SELECT %(t)s, 'EMAIL', 'p' || n || '@example.com',
                 encode(sha256(('p' || n || '@example.com')::bytea), 'hex'),
                 '', id, true, now(), 'bench', c.consent,
                 CASE WHEN c.consent = 'unknown' THEN NULL ELSE now() END, 'bench', '',
                 CASE WHEN n %% 20 = 0 THEN 'bounced' WHEN n %% 33 = 0 THEN 'unreachable' ELSE 'reachable' END, '', '',
                 now(), now()
               FROM bench_profile CROSS JOIN LATERAL (SELECT (ARRAY['granted', 'granted', 'granted', 'granted',
                 'granted', 'granted', 'denied', 'pending', 'unknown'])[1 + (n * 11) %% 9] AS consent) c
               WHERE n %% 5 <> 0""",
        ),
        ("cleanup", "DROP TABLE bench_profile"),
    ]
    with connection.cursor() as cursor:
        # Secondary indexes are built once after the load (much faster than row by row);
        # indexes that back constraints stay.
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [list(LOADED_TABLES)],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for label, sql in steps:
            step = time.perf_counter()
            cursor.execute(sql, params)
            print(f"  {label:<15} {time.perf_counter() - step:7.1f} s", flush=True)
        step = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        print(f"  {'indexes':<15} {time.perf_counter() - step:7.1f} s ({len(indexes)} rebuilt)", flush=True)
        step = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
        print(f"  {'vacuum analyze':<15} {time.perf_counter() - step:7.1f} s")
    print(f"generated in {time.perf_counter() - started:.0f} s")


def best(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def fetch(sql: str, params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def members(tenant_id: int, definition: dict, now):
    checked, problems = definition_check(definition=definition, contract=ContractView(tenant_id=tenant_id))
    assert not problems, problems
    return members_queryset(tenant_id=tenant_id, checked=checked, now=now)


def compiled_sql(queryset, *, count: bool = False) -> tuple[str, tuple]:
    """The SQL Django sends for a queryset (as a count of its rows when `count`)."""
    sql, params = queryset.query.sql_with_params()
    return (f"SELECT count(*) FROM ({sql}) members", params) if count else (sql, params)


def read_all(sql: str, params) -> int:
    """Run a query and read every row in chunks, as an export does; a count query answers its count."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if sql.startswith("SELECT count(*)") or sql.lstrip().startswith("SELECT count(*)"):
            return cursor.fetchone()[0]
        rows = 0
        while chunk := cursor.fetchmany(exports.EXPORT_CHUNK):
            rows += len(chunk)
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true", help="Print the plans of the compiled queries.")
    parser.add_argument(
        "--work-mem", nargs="*", default=["64MB"], help="Also measure with these work_mem settings (session)."
    )
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug="bench", name="Bench", default_region="GB")
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    source = source_create(tenant=tenant, key="shop", name="Shop")
    print(f"generating {args.profiles:,} profiles and {args.events:,} events server-side ...")
    generate(tenant.pk, source.pk, args.profiles, args.events)

    t = tenant.pk
    now = timezone.now()
    export_segment = Segment.objects.create(tenant_id=t, key="gold", name="Gold", definition=EXPORT_SEGMENT)
    export_spec = ExportSpec(
        channel="EMAIL",
        format="csv",
        columns=(ExportColumn("tier", "attribute"), ExportColumn("country", "attribute")),
    )
    attribute_sql = compiled_sql(members(t, ATTRIBUTE_SEGMENT, now).order_by().values("pk"), count=True)
    event_sql = compiled_sql(members(t, EVENT_SEGMENT, now).order_by().values("pk"), count=True)
    export_sql = compiled_sql(exports.export_queryset(segment=export_segment, spec=export_spec, now=now))
    since = now - dt.timedelta(days=30)
    questions = [
        ("attribute segment (3 conditions)", attribute_sql, (HAND_ATTRIBUTE, {"t": t}), 0.5),
        ("event-condition segment", event_sql, (HAND_EVENT, {"t": t, "since": since}), 1.5),
        ("channel-ready export (EMAIL, 2 attributes)", export_sql, (HAND_EXPORT, {"t": t}), None),
    ]
    if args.explain:
        for label, (sql, params), _hand, _target in questions:
            print(f"-- {label}")
            for (line,) in fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, params):
                print(line)

    for setting in ("default", *args.work_mem):
        if setting != "default":
            with connection.cursor() as cursor:
                cursor.execute(f"SET work_mem = '{setting}'")
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            shown = cursor.fetchone()[0]
        print()
        print(f"work_mem = {shown} ({setting})")
        print(f"{'question':<44} {'rows':>9} {'compiled':>10} {'hand SQL':>10} {'ratio':>6} {'target':>8}")
        for label, compiled, hand, target in questions:
            compiled_time, compiled_answer = best(lambda q=compiled: read_all(*q), args.runs)
            hand_time, hand_answer = best(lambda q=hand: read_all(*q), args.runs)
            assert compiled_answer == hand_answer, (label, compiled_answer, hand_answer)
            shown_target = f"<={target * 1000:.0f}ms" if target else "-"
            print(
                f"{label:<44} {compiled_answer:>9,} {compiled_time * 1000:>8.0f}ms {hand_time * 1000:>8.0f}ms "
                f"{compiled_time / hand_time:>5.2f}x {shown_target:>8}"
            )
        full_time, full_rows = best(
            lambda: sum(1 for _ in exports.export_rows(segment=export_segment, spec=export_spec, now=now)), args.runs
        )
        print(f"{'  export_rows() in Python (decoded rows)':<44} {full_rows:>9,} {full_time * 1000:>8.0f}ms")
    print(f"(best of {args.runs} runs each; the same SQL is read the same way on both sides; ratio target <= 1.5x)")


if __name__ == "__main__":
    main()
