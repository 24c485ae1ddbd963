"""Segments benchmark (issues 8 and 20). Run with `make bench-segments` (a durable throwaway PostgreSQL).

The data: 1M profiles with three attributes each (tier, country, age), 3M events
(two thirds `order_completed` with a `total`, one third `page_viewed`) spread over 180
days, the `ordersTotal` derived sum of every profile, and an EMAIL endpoint for 80 % of
the profiles in a mix of consent and reachability states; then VACUUM ANALYZE. The rows
are written server-side (INSERT ... SELECT generate_series), but every statement is built
from the Django models by `bench/_tables.py` (all columns, Django's defaults for those the
benchmark leaves out, a loud error for a NOT NULL column nobody fills), the tenant,
contracts, source and segments are made by the product's services, and a sample of the
generated derived values is recomputed by `ingest.derived.derived_recompute` and must
come out identical. A schema change that the generator does not follow therefore fails
the smoke run in `make test` (tests/bench/test_smoke.py).

Questions, each asked the product's way and with a hand-written SQL query, best of a few
runs in the same process, both with the same `now`:

- attribute segment: tier = gold AND country IN (DE, AT) AND age >= 40 (member count,
  `segment_member_count`);
- event-condition segment: at least 2 orders over 100 in the last 30 days (member count);
- channel-ready export: every EMAIL-ready gold member with its address, tier and country,
  all rows read (the export query), and the whole CSV export as GET .../export streams it
  (`exports.export_chunks`: PostgreSQL formats the records, COPY streams them) against
  `COPY (<hand-written export query>) TO STDOUT (FORMAT csv)` of the same rows.

The hand-written queries are what a careful engineer would write against the same schema
and the same indexes (nothing is added for them): the attribute segment on the profiles'
attribute documents (`Profile.attributes`, profiles migration 0005: equality and `in` as
`@>` containment for the GIN index `profile_attributes_document`, the ordering on the same
row), the export's attribute columns joined from the unique (tenant, profile, name)
attribute rows with the partial `segments_attribute_scalar` index's predicate repeated so
the planner may use it, the event count grouped off `event_type_time`
(tenant, event_type, occurred_at), the export driven by the endpoints.
The member counts (both sides) run with the session settings of the product's member count
(`segments.selectors.MEMBERS_READ_SETTINGS`: no JIT, work_mem 32MB), the export's queries
(both sides, and the COPY) with those of its export read (`segments.exports.export_read`:
one transaction, cursor_tuple_fraction = 1, no JIT, work_mem 32MB), so they compare SQL
with SQL.
Both sides must give the same answer (asserted). Not a test: it prints figures and ends
with a line `BENCH {json}`; `--smoke` runs a tiny size in seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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

from _tables import execute  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from channels.models import Endpoint  # noqa: E402
from contracts.plans import contracts_plan_import  # noqa: E402
from contracts.selectors import event_type_get  # noqa: E402
from ingest.derived import derived_recompute  # noqa: E402
from ingest.models import Event  # noqa: E402
from ingest.services import source_create  # noqa: E402
from profiles.models import AttributeValue, DerivedValue, Profile  # noqa: E402
from segments import exports  # noqa: E402
from segments.selectors import (  # noqa: E402
    MEMBERS_READ_SETTINGS,
    segment_get,
    segment_member_count,
    segment_members,
    settings_read,
)
from segments.services import segment_create, segment_spec_parse  # noqa: E402
from segments.types import ExportColumn, ExportSpec  # noqa: E402
from tenants.models import Tenant  # noqa: E402
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
SEGMENTS = {"gold-dach-40": ATTRIBUTE_SEGMENT, "big-spenders": EVENT_SEGMENT, "gold": EXPORT_SEGMENT}

# The partial index segments_attribute_scalar (segments migration 0002) covers short
# scalar values; its predicate, repeated, lets the planner use it.
SCALAR = "jsonb_typeof({v}) IN ('string', 'number', 'boolean') AND octet_length({v}::text) < 512"
# The attribute segment reads the profiles' attribute documents (Profile.attributes, kept
# exact by triggers, profiles migration 0005): equality and `in` as containment, which the
# GIN index profile_attributes_document answers, the ordering checked on the same row.
HAND_ATTRIBUTE = """
SELECT count(*)
FROM profiles_profile p
WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NULL
  AND p.attributes @> '{"tier": "gold"}'
  AND (p.attributes @> '{"country": "DE"}' OR p.attributes @> '{"country": "AT"}')
  AND jsonb_typeof(p.attributes -> 'age') = 'number' AND p.attributes -> 'age' >= '40'
"""
HAND_EVENT = """
SELECT count(*)
FROM (SELECT e.profile_id FROM ingest_event e
      WHERE e.tenant_id = %(t)s AND e.event_type = 'order_completed' AND e.occurred_at >= %(since)s
        AND jsonb_typeof(e.properties -> 'total') = 'number' AND e.properties -> 'total' > '100'::jsonb
      GROUP BY e.profile_id HAVING count(*) >= 2) orders
JOIN profiles_profile p ON p.id = orders.profile_id AND p.merged_into_id IS NULL
"""
HAND_EXPORT = f"""
SELECT en.profile_id, en.address, tier.value, country.value
FROM channels_endpoint en
JOIN profiles_profile p ON p.id = en.profile_id AND p.merged_into_id IS NULL
JOIN profiles_attributevalue tier
  ON tier.tenant_id = %(t)s AND tier.profile_id = en.profile_id AND tier.name = 'tier'
LEFT JOIN profiles_attributevalue country
  ON country.tenant_id = %(t)s AND country.profile_id = en.profile_id AND country.name = 'country'
WHERE en.tenant_id = %(t)s AND en.channel = 'EMAIL' AND en.active AND en.consent = 'granted'
  AND en.reachability NOT IN ('bounced', 'unreachable')
  AND tier.value = '"gold"'::jsonb AND {SCALAR.format(v="tier.value")}
ORDER BY en.profile_id
"""

LOADED = (Profile, AttributeValue, Event, DerivedValue, Endpoint)
TIERS = "ARRAY['bronze', 'bronze', 'silver', 'silver', 'gold']"
COUNTRIES = "ARRAY['DE', 'AT', 'FR', 'GB', 'IT', 'ES', 'NL']"
CONSENTS = "ARRAY['granted', 'granted', 'granted', 'granted', 'granted', 'granted', 'denied', 'pending', 'unknown']"
# Order totals in cents, never a whole number of units (so every sum is a float, as the
# product stores a sum of non-integers), up to 399.99.
CENTS = "(CASE WHEN ((e * 37) %% 40000) %% 100 = 0 THEN (e * 37) %% 40000 + 1 ELSE (e * 37) %% 40000 END)"


def generate(*, tenant_id: int, source_id: int, profiles: int, events: int) -> None:
    started = time.perf_counter()
    names = ("order_completed", "page_viewed")
    versions = {name: event_type_get(tenant_id=tenant_id, name=name).version for name in names}
    params = {"t": tenant_id, "s": source_id, "profiles": profiles, "events": events, **versions}
    steps = [
        (
            "profiles",
            Profile,
            {"id": "p.id", "tenant_id": "%(t)s", "created_at": "now() - (p.n %% 1000) * interval '1 hour'"},
            "FROM bench_profile p",
        ),
        (
            "attributes",
            AttributeValue,
            {"tenant_id": "%(t)s", "profile_id": "p.id", "name": "a.name", "value": "a.value",
             "occurred_at": "now()", "source": "'bench'"},
            f"""FROM bench_profile p CROSS JOIN LATERAL (VALUES
                 ('tier', to_jsonb(({TIERS})[1 + (p.n * 7) %% 5])),
                 ('country', to_jsonb(({COUNTRIES})[1 + (p.n * 13) %% 7])),
                 ('age', to_jsonb(18 + (p.n * 31) %% 60))) AS a(name, value)""",
        ),
        (
            "events",
            Event,
            {
                "id": "gen_random_uuid()", "tenant_id": "%(t)s", "source_id": "%(s)s",
                "external_event_id": "'evt-' || e", "event_type": "x.event_type",
                "contract_version": "CASE WHEN e %% 3 = 0 THEN %(page_viewed)s ELSE %(order_completed)s END",
                # Events arrive roughly in time order (180 days, a few hours of jitter), so
                # the heap is ordered by time as a real event store is.
                "occurred_at": "now() - interval '180 days' * (1 - e::float8 / %(events)s) "
                "- (abs(hashint8(-e::bigint)) %% 360) * interval '1 minute'",
                "received_at": "now()", "profile_id": "p.id", "identity": "jsonb_build_object('EXTERNAL', 'c-' || p.n)",
                "properties": "x.properties", "resolution": """'{"rule": "bench"}'::jsonb""",
                "fingerprint": "encode(sha256(x.properties::text::bytea), 'hex')",
            },
            f"""FROM generate_series(1, %(events)s) e
               JOIN bench_profile p ON p.n = 1 + abs(hashint8(e::bigint)) %% %(profiles)s
               CROSS JOIN LATERAL (SELECT
                 CASE WHEN e %% 3 = 0 THEN 'page_viewed' ELSE 'order_completed' END AS event_type,
                 CASE WHEN e %% 3 = 0 THEN jsonb_build_object('path', '/p/' || (e %% 100))
                      ELSE jsonb_build_object('orderId', e::text, 'total', ({CENTS} / 100.0)::float8) END
                   AS properties) x""",
        ),
        (
            # The exact decimal sum (`exact`), its float copy (`number`, `value`): what
            # ingest.derived folds, checked on a sample below.
            "derived values",
            DerivedValue,
            {"tenant_id": "%(t)s", "profile_id": "profile_id", "name": "'ordersTotal'",
             "value": "to_jsonb(sum(total)::float8)", "number": "sum(total)::float8", "count": "count(*)",
             "occurred_at": "NULL", "exact": "sum(total)::text"},
            """FROM (SELECT profile_id, (properties ->> 'total')::numeric AS total FROM ingest_event
                     WHERE tenant_id = %(t)s AND event_type = 'order_completed') o GROUP BY profile_id""",
        ),
        (
            "endpoints",
            Endpoint,
            {
                "tenant_id": "%(t)s", "channel": "'EMAIL'", "address": "'p' || p.n || '@example.com'",
                "address_key": "encode(sha256(('p' || p.n || '@example.com')::bytea), 'hex')",
                "number_type": "''", "profile_id": "p.id", "active": "true", "declared_at": "now()",
                "declared_source": "'bench'", "consent": "c.consent", "consent_evidence": "'double opt-in'",
                "consent_occurred_at": "CASE WHEN c.consent = 'unknown' THEN NULL ELSE now() END",
                "consent_source": "'bench'", "reachability_source": "'bench'", "reachability_reason": "''",
                "reachability": "CASE WHEN p.n %% 20 = 0 THEN 'bounced' WHEN p.n %% 33 = 0 THEN 'unreachable' "
                "ELSE 'reachable' END",
            },
            f"""FROM bench_profile p CROSS JOIN LATERAL (SELECT ({CONSENTS})[1 + (p.n * 11) %% 9] AS consent) c
               WHERE p.n %% 5 <> 0""",
        ),
    ]  # fmt: skip
    with connection.cursor() as cursor:
        # Secondary indexes are built once after the load (much faster than row by row);
        # indexes that back constraints stay.
        cursor.execute(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            [[model._meta.db_table for model in LOADED]],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            """CREATE TEMPORARY TABLE bench_profile AS
               SELECT n, gen_random_uuid() AS id FROM generate_series(1, %(profiles)s) n""",
            params,
        )
        cursor.execute("CREATE UNIQUE INDEX ON bench_profile (n)")
        cursor.execute("ANALYZE bench_profile")
    for label, model, values, source in steps:
        step = time.perf_counter()
        rows = execute(model, values, source=source, params=params)
        print(f"  {label:<15} {rows:>10,} rows {time.perf_counter() - step:7.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_profile")
        step = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        print(f"  {'indexes':<15} {len(indexes):>10} built {time.perf_counter() - step:6.1f} s", flush=True)
        step = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
        print(f"  {'vacuum analyze':<15} {'':>15} {time.perf_counter() - step:7.1f} s")
    print(f"generated in {time.perf_counter() - started:.0f} s")


DERIVED_FIELDS = ("value", "number", "count", "occurred_at", "exact")


def derived_sample_check(*, tenant_id: int, size: int = 200) -> int:
    """The product recomputes the derived values of a sample of profiles; they must equal
    the generated ones (then rolled back). Returns the sample size."""
    rows = DerivedValue.objects.filter(tenant_id=tenant_id, name="ordersTotal").order_by("profile_id")
    generated = {row["profile_id"]: row for row in rows.values("profile_id", *DERIVED_FIELDS)[:size]}
    with transaction.atomic():
        derived_recompute(tenant_id=tenant_id, profile_ids=list(generated))
        recomputed = {
            row["profile_id"]: row
            for row in DerivedValue.objects.filter(tenant_id=tenant_id, profile_id__in=list(generated)).values(
                "profile_id", *DERIVED_FIELDS
            )
        }
        transaction.set_rollback(True)
    differences = [(pid, row, recomputed.get(pid)) for pid, row in generated.items() if row != recomputed.get(pid)]
    if differences:
        raise AssertionError(f"generated derived values differ from the product's recompute: {differences[:3]}")
    return len(generated)


def best(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def count_of(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def members_read_count(sql: str, params) -> int:
    """count_of with the session settings of the product's member count (on both sides)."""
    with settings_read(MEMBERS_READ_SETTINGS):
        return count_of(sql, params)


def read_all(sql: str, params) -> int:
    """Read every row of a query in chunks, as an export does (the same way on both sides)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = 0
        while chunk := cursor.fetchmany(exports.EXPORT_CHUNK):
            rows += len(chunk)
        return rows


def export_read_all(sql: str, params) -> int:
    """read_all with the session settings of the product's export read (on both sides)."""
    with exports.export_read():
        return read_all(sql, params)


def copy_csv(sql: str, params) -> int:
    """`COPY (sql) TO STDOUT (FORMAT csv, HEADER)`, every byte read, with the session
    settings of the product's export read; returns the data rows."""
    query = connection.ops.compose_sql(sql, params)
    lines = 0
    with exports.export_read(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for data in copy:
                lines += bytes(data).count(b"\n")
    return lines - 1


def product_csv(segment, spec, now) -> int:
    """The product's CSV export (what GET .../export streams), every chunk of text produced;
    returns the data rows."""
    lines = 0
    for chunk in exports.export_chunks(segment=segment, spec=spec, now=now):
        lines += chunk.count("\r\n")
    return lines - 1


def explain(sql: str, params) -> None:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        for (line,) in cursor.fetchall():
            print(line)


def segment_new(tenant_id: int, key: str, definition: dict):
    spec = segment_spec_parse(tenant_id=tenant_id, body={"key": key, "name": key, "definition": definition})
    return segment_create(tenant_id=tenant_id, spec=spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="A tiny size that runs in seconds (make test).")
    parser.add_argument(
        "--reuse", action="store_true", help="Measure the data a previous run left in this database (no generation)."
    )
    parser.add_argument("--explain", action="store_true", help="Print EXPLAIN ANALYZE of both sides of each question.")
    args = parser.parse_args()
    if args.smoke:
        args.profiles, args.events, args.runs = 2_000, 6_000, 1
    if connection.vendor != "postgresql":
        sys.exit("bench/segments.py needs PostgreSQL: run it with `make bench-segments`.")

    call_command("migrate", verbosity=0)
    reused = Tenant.objects.filter(slug__startswith="bench-").order_by("-pk").first() if args.reuse else None
    if reused is None:
        tenant = tenant_create(slug=f"bench-{int(time.time())}", name="Bench", default_region="GB")
        contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
        source = source_create(tenant=tenant, key="shop", name="Shop")
        print(f"generating {args.profiles:,} profiles and {args.events:,} events server-side ...")
        generate(tenant_id=tenant.pk, source_id=source.pk, profiles=args.profiles, events=args.events)
        for key, definition in SEGMENTS.items():
            segment_new(tenant.pk, key, definition)
    else:
        tenant = reused
        args.profiles = Profile.objects.filter(tenant_id=tenant.pk).count()
        args.events = Event.objects.filter(tenant_id=tenant.pk).count()
        print(f"reusing tenant {tenant.slug}: {args.profiles:,} profiles, {args.events:,} events")
    t = tenant.pk
    checked = derived_sample_check(tenant_id=t)
    print(f"derived values of {checked} sample profiles equal the product's recompute")

    now = timezone.now()
    attribute_segment, event_segment, export_segment = (segment_get(tenant_id=t, key=key) for key in SEGMENTS)
    export_spec = ExportSpec(
        channel="EMAIL",
        format="csv",
        columns=(ExportColumn("tier", "attribute"), ExportColumn("country", "attribute")),
    )
    export_sql = exports.export_queryset(segment=export_segment, spec=export_spec, now=now).query.sql_with_params()
    export_csv_sql = exports.export_csv_select(segment=export_segment, spec=export_spec, now=now)
    hand = {"t": t, "since": now - dt.timedelta(days=30)}
    # (label, BENCH key, the product's call, the hand-written call)
    questions = [
        (
            "attribute segment (3 conditions)",
            "attribute_segment",
            lambda: segment_member_count(segment=attribute_segment, now=now),
            lambda: members_read_count(HAND_ATTRIBUTE, hand),
        ),
        (
            "event-condition segment",
            "event_segment",
            lambda: segment_member_count(segment=event_segment, now=now),
            lambda: members_read_count(HAND_EVENT, hand),
        ),
        (
            "export query (EMAIL-ready gold, 2 attributes)",
            "export_query",
            lambda: export_read_all(*export_sql),
            lambda: export_read_all(HAND_EXPORT, hand),
        ),
    ]
    if args.explain:
        attribute_members = segment_members(segment=attribute_segment, now=now)
        event_members = segment_members(segment=event_segment, now=now)
        for label, product_sql, hand_sql in (
            ("attribute segment", attribute_members.order_by().values("pk").query.sql_with_params(), HAND_ATTRIBUTE),
            ("event segment", event_members.order_by().values("pk").query.sql_with_params(), HAND_EVENT),
            ("export query", export_sql, HAND_EXPORT),
            ("CSV export (the SELECT of its COPY)", (export_csv_sql, None), HAND_EXPORT),
        ):
            with (
                exports.export_read()
                if label.startswith("export") or label.startswith("CSV")
                else settings_read(MEMBERS_READ_SETTINGS)
            ):
                print(f"-- {label}: compiled")
                explain(*product_sql)
                print(f"-- {label}: hand-written")
                explain(hand_sql, hand)

    figures: dict[str, object] = {"profiles": args.profiles, "events": args.events, "runs": args.runs}
    # Other load on the machine inflates every time here: the load average says how much.
    figures["load_before"] = round(os.getloadavg()[0], 2)
    ratios = {}
    print()
    print(f"{'question':<46} {'rows':>9} {'product':>9} {'hand SQL':>9} {'ratio':>6}")
    for label, key, product_call, hand_call in questions:
        product_time, product_answer = best(product_call, args.runs)
        hand_time, hand_answer = best(hand_call, args.runs)
        assert product_answer == hand_answer, (label, product_answer, hand_answer)
        ratios[key] = product_time / hand_time
        figures[f"{key}_ms"] = round(product_time * 1000, 1)
        figures[f"{key}_hand_ms"] = round(hand_time * 1000, 1)
        figures[f"{key}_rows"] = product_answer
        print(
            f"{label:<46} {product_answer:>9,} {product_time * 1000:>7.0f}ms {hand_time * 1000:>7.0f}ms "
            f"{ratios[key]:>5.2f}x"
        )
    export_time, export_rows = best(lambda: product_csv(export_segment, export_spec, now), args.runs)
    copy_time, copy_rows = best(lambda: copy_csv(HAND_EXPORT, hand), args.runs)
    assert export_rows == copy_rows == figures["export_query_rows"], (export_rows, copy_rows)
    export_rate, copy_rate = export_rows / export_time, copy_rows / copy_time
    print(f"{'CSV export (export_chunks)':<46} {export_rows:>9,} {export_time * 1000:>7.0f}ms")
    print(f"{'COPY (hand export query) TO STDOUT csv':<46} {copy_rows:>9,} {copy_time * 1000:>7.0f}ms")
    print(
        f"export {export_rate:,.0f} rows/s = {export_rate / copy_rate:.0%} of COPY ({copy_rate:,.0f} rows/s); "
        f"best of {args.runs} runs each"
    )
    print("targets: attribute <= 300 ms, event <= 800 ms, compiled <= 1.2x hand-written, export >= 50 % of COPY")
    figures.update(
        export_rows_per_s=round(export_rate),
        copy_rows_per_s=round(copy_rate),
        export_vs_copy=round(export_rate / copy_rate, 3),
        compiled_vs_hand_ratio_max=round(max(ratios.values()), 3),
        compiled_vs_hand=({key: round(value, 3) for key, value in ratios.items()}),
    )
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(f"load average (1 min) {figures['load_before']} before the measurements, {figures['load_after']} after")
    print("BENCH " + json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
