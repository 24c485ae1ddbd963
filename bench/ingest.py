"""Ingest benchmark. Run with `make bench-ingest` (a durable throwaway PostgreSQL);
`--smoke` finishes in seconds on any empty PostgreSQL given by DATABASE_URL.

Seeds 100k profiles server-side (and, with `--million`, a second tenant with 1M), each
known customer with a past order (its event, idempotency key and derived total), and
analyzes the tables as autovacuum keeps a live database; then drives batches of 500 events
where, of the fresh events, 80 % hit known profiles, 15 % create new ones and 5 % merge two
anonymous profiles, and 10 % of every batch replays events acknowledged earlier (clients take
batches in order). Prints, in one run:

- baselines: the database alone writing rows shaped like event rows into a scratch
  table with the same indexes, by multi-row INSERT ... ON CONFLICT DO NOTHING and by COPY;
- in-process batch rate (services.events_ingest, no HTTP), and the same at 1M profiles;
- merge-only batches (every event merges two profiles) and profile-update batches;
- HTTP batch rate through the documented production web process (the Procfile's `web:`
  line, else gunicorn with 2 workers), 2 client threads;
- single-event HTTP p50/p99 at concurrency 4 (2,000 requests, after 200 unmeasured ones);
- with `--compare-gunicorn`, both HTTP figures again on gunicorn sync (2 workers) as the baseline,
  alternating servers (web, gunicorn, gunicorn, web; means reported), and the ratios;
- replay rate (whole batches of already-ingested events);
- the most SQL statements any measured batch needed;
each with its ratio to the INSERT baseline, then one line `BENCH {json}`. Not a test: it
prints figures, it asserts nothing. `--profile` adds where in-process time goes (cProfile).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import datetime as dt
import http.client
import io
import json
import os
import pstats
import random
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from cdp_project.core.process import garbage_collector_tune  # noqa: E402
from contracts.plans import contracts_plan_import  # noqa: E402
from ingest.services import events_ingest, profile_updates_ingest, source_create  # noqa: E402
from tenants.services import api_key_create, tenant_create  # noqa: E402

BATCH = 500
# Events of the batches another client may be sending at the same time (2 clients, one batch each).
REPLAY_LAG = 2 * BATCH
PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True, "filterable": False, "derivable": False},
                {"name": "total", "type": "number", "required": True, "filterable": True, "derivable": True},
                {
                    "name": "currency",
                    "type": "enum",
                    "values": ["EUR", "USD"],
                    "required": True,
                    "filterable": True,
                    "derivable": False,
                },
            ],
        }
    ],
    "attributeDefinitions": [
        {"name": "tier", "type": "enum", "values": ["silver", "gold"], "filterable": True},
        {"name": "firstName", "type": "string", "filterable": False},
    ],
    "derivedAttributes": [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
    ],
}


class Workload:
    """known: profiles with EXTERNAL + EMAIL; anon: pairs of one EMAIL-only and one
    DEVICE_KEY-only profile (an event naming both merges them); merge_pairs: more such
    pairs kept for the merge-only phase."""

    def __init__(self, *, known: int, anon: int, merge_pairs: int, seed: int = 7) -> None:
        self.known, self.anon, self.merge_pairs = known, anon, merge_pairs
        self.rng = random.Random(seed)
        self.sent: list[dict] = []
        self.next_anon = 0
        self.next_merge = 0
        self.serial = 0

    def _event(self, identity: dict) -> dict:
        self.serial += 1
        return {
            "source": "shop-backend",
            "externalEventId": f"evt-{self.serial}-{uuid.uuid4().hex[:8]}",
            "eventType": "order_completed",
            "occurredAt": timezone.now().isoformat(),
            "identity": identity,
            "properties": {"orderId": str(self.serial), "total": round(self.rng.uniform(5, 500), 2), "currency": "EUR"},
        }

    def fresh(self, kind: str) -> dict:
        if kind == "known":
            i = self.rng.randrange(self.known)
            return self._event({"EXTERNAL": f"cust-{i}", "EMAIL": f"c{i}@example.com"})
        if kind == "new":
            return self._event({"EXTERNAL": f"new-{uuid.uuid4().hex}"})
        if kind == "merge-only":
            i = self.next_merge % self.merge_pairs
            self.next_merge += 1
            return self._event({"EMAIL": f"mrg{i}@example.com", "DEVICE_KEY": f"mdev-{i}"})
        i = self.next_anon % self.anon
        self.next_anon += 1
        return self._event({"EMAIL": f"anon{i}@example.com", "DEVICE_KEY": f"dev-{i}"})

    def batch(self, size: int = BATCH, replay_share: float = 0.10) -> list[dict]:
        """Replays are of events acknowledged earlier, as a client resends what it was answered
        for: never of the last REPLAY_LAG events, which a second client may still be sending
        (a resend of an event still in flight waits for that transaction to end, rightly)."""
        acknowledged = self.sent[: max(0, len(self.sent) - REPLAY_LAG)]
        replays = int(size * replay_share) if acknowledged else 0
        fresh = size - replays
        kinds = ["known"] * round(fresh * 0.80) + ["new"] * round(fresh * 0.15)
        kinds += ["merge"] * (fresh - len(kinds))
        self.rng.shuffle(kinds)
        items = [self.fresh(kind) for kind in kinds]
        items += self.rng.sample(acknowledged, min(replays, len(acknowledged)))
        self.rng.shuffle(items)
        self.sent.extend(items)
        return items

    def merges(self, size: int = BATCH) -> list[dict]:
        return [self.fresh("merge-only") for _ in range(size)]

    def updates(self, size: int = BATCH) -> list[dict]:
        items = []
        for _ in range(size):
            self.serial += 1
            i = self.rng.randrange(self.known)
            items.append(
                {
                    "source": "shop-backend",
                    "externalEventId": f"upd-{self.serial}-{uuid.uuid4().hex[:8]}",
                    "occurredAt": timezone.now().isoformat(),
                    "identity": {"EXTERNAL": f"cust-{i}", "EMAIL": f"c{i}@example.com"},
                    "attributes": {"tier": self.rng.choice(["silver", "gold"]), "firstName": f"N{self.serial}"},
                }
            )
        return items


# A past order of every known customer: its event, idempotency key and derived total, as a tenant
# of that size holds (the batches then add to tables that have history, not fill empty ones).
SEEDED = ("profiles_profile", "identity_identifier", "ingest_event", "ingest_idempotencykey", "profiles_derivedvalue")
HISTORY = """
WITH h AS (
    SELECT i.profile_id, i.value AS customer, gen_random_uuid() AS event_id,
           round((500 + abs(hashtext(i.value)) %% 49500) / 100.0, 2) AS total
    FROM identity_identifier i WHERE i.tenant_id = %(tenant)s AND i.type = 'EXTERNAL'
), events AS (
    INSERT INTO ingest_event (id, tenant_id, source_id, external_event_id, event_type, contract_version,
                              occurred_at, received_at, profile_id, identity, properties, resolution, fingerprint)
    SELECT event_id, %(tenant)s, %(source)s, 'hist-' || customer, 'order_completed', 1, %(then)s, %(then)s,
           profile_id, jsonb_build_object('EXTERNAL', customer),
           jsonb_build_object('orderId', 'hist-' || customer, 'total', total, 'currency', 'EUR'),
           '{"matchedBy": "EXTERNAL", "createdProfile": false, "mergedProfiles": [], "attached": [],
             "conflicts": [], "ignored": []}', md5(customer) || md5(customer)
    FROM h
), keys AS (
    INSERT INTO ingest_idempotencykey (tenant_id, source_id, external_id, kind, fingerprint, record_id, created_at)
    SELECT %(tenant)s, %(source)s, 'hist-' || customer, 'event', md5(customer) || md5(customer), event_id, %(then)s
    FROM h
)
INSERT INTO profiles_derivedvalue (tenant_id, profile_id, name, value, number, count, occurred_at, exact, updated_at)
SELECT %(tenant)s, profile_id, 'ordersTotal', to_jsonb(total), total, 1, NULL, total::text, %(then)s FROM h
"""


def seed(tenant_id: int, source_id: int, work: Workload) -> int:
    """The profiles and identifiers of `work`, written server-side with COPY, and the HISTORY
    of its known customers."""
    now = timezone.now()
    count = 0
    with connection.cursor() as cursor:
        pg = cursor.cursor
        rows = []
        with pg.copy("COPY profiles_profile (id, tenant_id, created_at, updated_at) FROM STDIN") as profiles:
            for i in range(work.known):
                pid = uuid.uuid4()
                profiles.write_row((pid, tenant_id, now, now))
                rows.append((pid, "EXTERNAL", f"cust-{i}"))
                rows.append((pid, "EMAIL", f"c{i}@example.com"))
            for prefix, n in (("anon", work.anon), ("mrg", work.merge_pairs)):
                device = "dev" if prefix == "anon" else "mdev"
                for i in range(n):
                    a, b = uuid.uuid4(), uuid.uuid4()
                    profiles.write_row((a, tenant_id, now, now))
                    profiles.write_row((b, tenant_id, now, now))
                    rows.append((a, "EMAIL", f"{prefix}{i}@example.com"))
                    rows.append((b, "DEVICE_KEY", f"{device}-{i}"))
            count = work.known + 2 * (work.anon + work.merge_pairs)
        with pg.copy(
            "COPY identity_identifier (tenant_id, profile_id, type, value, source, first_seen_at, last_seen_at, "
            "created_at) FROM STDIN"
        ) as identifiers:
            for pid, kind, value in rows:
                identifiers.write_row((tenant_id, pid, kind, value, "seed", now, now, now))
        cursor.execute(HISTORY, {"tenant": tenant_id, "source": source_id, "then": now - dt.timedelta(days=30)})
    # Settle the seed before measuring, as autovacuum keeps a live database: statistics,
    # visibility map, a clean checkpoint.
    with connection.cursor() as cursor:
        for table in SEEDED:
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("CHECKPOINT")
    return count


BASELINE_COLUMNS = (
    "id, tenant_id, source_id, external_event_id, event_type, contract_version, occurred_at, received_at, "
    "profile_id, identity, properties, resolution, fingerprint"
)


def _baseline_table() -> object:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_event_baseline")
        cursor.execute("CREATE TABLE bench_event_baseline (LIKE ingest_event INCLUDING ALL)")
        cursor.execute("CREATE UNIQUE INDEX ON bench_event_baseline (tenant_id, source_id, external_event_id)")
        cursor.execute("SELECT id FROM profiles_profile LIMIT 1")
        return cursor.fetchone()[0]


def _baseline_row(tenant_id: int, source_id: int, profile_id: object, item: dict) -> tuple:
    return (
        uuid.uuid4(), tenant_id, source_id, item["externalEventId"], item["eventType"], 1,
        item["occurredAt"], timezone.now(), profile_id, json.dumps(item["identity"]),
        json.dumps(item["properties"]), json.dumps({}), "0" * 64,
    )  # fmt: skip


def baseline_insert(tenant_id: int, source_id: int, batches: list[list[dict]]) -> float:
    """The database alone: multi-row INSERT ... ON CONFLICT DO NOTHING, one commit a batch."""
    profile_id = _baseline_table()
    started = time.perf_counter()
    count = 0
    for batch in batches:
        params: list[object] = []
        for item in batch:
            params += _baseline_row(tenant_id, source_id, profile_id, item)
        rows = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO bench_event_baseline ({BASELINE_COLUMNS}) VALUES {rows} ON CONFLICT DO NOTHING",  # noqa: S608
                params,
            )
        count += len(batch)
    return count / (time.perf_counter() - started)


def baseline_copy(tenant_id: int, source_id: int, batches: list[list[dict]]) -> float:
    """The database alone: COPY ... FROM STDIN, one commit a batch."""
    profile_id = _baseline_table()
    started = time.perf_counter()
    count = 0
    for batch in batches:
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY bench_event_baseline ({BASELINE_COLUMNS}) FROM STDIN") as copy,
        ):
            for item in batch:
                copy.write_row(_baseline_row(tenant_id, source_id, profile_id, item))
        count += len(batch)
    return count / (time.perf_counter() - started)


class Meter:
    """The most statements any measured batch needed."""

    def __init__(self) -> None:
        self.max_queries = 0

    def run(self, fn, **kwargs) -> list:
        with CaptureQueriesContext(connection) as captured:
            results = fn(**kwargs)
        self.max_queries = max(self.max_queries, len(captured.captured_queries))
        return results


def in_process(meter: Meter, fn, tenant, batches: list[list[dict]], field: str = "events") -> tuple[float, dict]:
    totals: dict[str, int] = {}
    started = time.perf_counter()
    count = 0
    for batch in batches:
        for result in meter.run(fn, tenant=tenant, **{field: batch}):
            totals[result.status] = totals.get(result.status, 0) + 1
        count += len(batch)
    return count / (time.perf_counter() - started), totals


def queue_drained(items: list, threads: int, handle, opened=lambda: None, closed=lambda state: None) -> float:
    """`handle(state, item)` for every item, from `threads` threads that take items off one
    queue, each with its own `opened()` state (`closed(state)` when its queue runs dry).
    Answers what the handles returned (events each), a second of wall time."""
    lock = threading.Lock()
    queue = collections.deque(items)  # first in, first out: a replay goes after its original

    def drain() -> int:
        state, done = opened(), 0
        try:
            while True:
                with lock:
                    if not queue:
                        return done
                    item = queue.popleft()
                done += handle(state, item)
        finally:
            closed(state)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: drain(), range(threads)))
    return total / (time.perf_counter() - started)


def concurrent_batches(fn, tenant, batches: list[list[dict]], callers: int = 2) -> float:
    """Batches in `callers` threads at once, each with its own database connection: while
    one caller's Python runs, the other's statements run in PostgreSQL (both cores busy)."""

    def handle(_, batch: list[dict]) -> int:
        results = fn(tenant=tenant, events=batch)
        assert all(r.status == "accepted" for r in results), {r.status for r in results}
        return len(batch)

    return queue_drained(batches, callers, handle, closed=lambda _: connection.close())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web_command(port: int) -> list[str]:
    """The Procfile's `web:` line with $PORT substituted, else gunicorn with 2 workers."""
    procfile = ROOT / "Procfile"
    if procfile.exists():
        for line in procfile.read_text().splitlines():
            if line.startswith("web:"):
                command = line[len("web:") :].strip().replace("${PORT}", str(port)).replace("$PORT", str(port))
                argv = shlex.split(command)
                if argv and not os.path.isabs(argv[0]) and (ROOT / ".venv/bin" / argv[0]).exists():
                    argv[0] = str(ROOT / ".venv/bin" / argv[0])
                return argv
    return gunicorn_command(port)


GUNICORN_SYNC = "gunicorn sync, 2 workers"


def gunicorn_command(port: int) -> list[str]:
    return [str(ROOT / ".venv/bin/gunicorn"), "cdp_project.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"]


def start_web(port: int, argv: list[str] | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORT": str(port),
        "DJANGO_DEBUG": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CDP_API_KEY_RATE_PER_MINUTE": "0",
    }
    process = subprocess.Popen(argv or web_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the web process did not start")


def post(conn: http.client.HTTPConnection, path: str, body: dict, key: str) -> int:
    data = json.dumps(body)
    conn.request("POST", path, data, {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"})
    response = conn.getresponse()
    response.read()
    return response.status


def http_batches(port: int, key: str, batches: list[list[dict]], clients: int = 2) -> float:
    def handle(conn: http.client.HTTPConnection, batch: list[dict]) -> int:
        status = post(conn, "/api/v1/events/batch", {"events": batch}, key)
        assert status == 200, status
        return len(batch)

    return queue_drained(batches, clients, handle, lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=120))


def http_single(port: int, key: str, events: list[dict], concurrency: int = 4) -> tuple[float, float, float]:
    latencies: list[float] = []

    def handle(conn: http.client.HTTPConnection, event: dict) -> int:
        started = time.perf_counter()
        status = post(conn, "/api/v1/events", event, key)
        elapsed = time.perf_counter() - started
        assert status in (200, 201), status
        latencies.append(elapsed)  # list.append is atomic under the GIL
        return 1

    rate = queue_drained(events, concurrency, handle, lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    return p50, p99, rate


def setup_tenant(label: str, work: Workload):
    tenant = tenant_create(slug=f"bench-{label}-{uuid.uuid4().hex[:6]}", name=f"Bench {label}")
    source = source_create(tenant=tenant, key="shop-backend")
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    t0 = time.perf_counter()
    seeded = seed(tenant.pk, source.pk, work)
    print(f"seeded {seeded:,} profiles for {label} in {time.perf_counter() - t0:.1f}s", flush=True)
    return tenant, source


def profile_report(tenant, work: Workload, batches: int) -> str:
    meter = Meter()
    profiler = cProfile.Profile()
    data = [work.batch() for _ in range(batches)]
    profiler.enable()
    in_process(meter, events_ingest, tenant, data)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(28)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10, help="batches of 500 per measured phase")
    parser.add_argument(
        "--singles", type=int, default=2000, help="measured single-event requests (after a tenth as many unmeasured)"
    )
    parser.add_argument("--million", action="store_true", help="also measure a tenant with 1M seeded profiles")
    parser.add_argument("--smoke", action="store_true", help="a few seconds on a small seed (for make test)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of in-process batches")
    parser.add_argument(
        "--compare-gunicorn",
        action="store_true",
        help="also measure the HTTP phases on gunicorn sync (2 workers), alternating with the web process",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/ingest.py needs PostgreSQL: run it with `make bench-ingest`.")
    if args.smoke:
        args.batches, args.singles, args.million = 2, 40, False
        sizes = {"known": 2_000, "anon": 500, "merge_pairs": 4 * BATCH}
    else:  # merge pairs for the merge-only phase and as many again for the one with two callers
        sizes = {"known": 90_000, "anon": 5_000, "merge_pairs": 2 * args.batches * BATCH}

    call_command("migrate", verbosity=0)
    garbage_collector_tune()  # the in-process phases run with the web and background workers' collector
    work = Workload(**sizes)
    tenant, source = setup_tenant("100k", work)
    key = api_key_create(tenant=tenant, scopes=["ingest"]).plaintext
    meter = Meter()

    in_process(Meter(), events_ingest, tenant, [work.batch() for _ in range(2)])  # warm up
    baseline_batches = [work.batch(replay_share=0) for _ in range(args.batches)]
    base = baseline_insert(tenant.pk, source.pk, baseline_batches)
    base_copy = baseline_copy(tenant.pk, source.pk, baseline_batches)
    work_batches = [work.batch() for _ in range(args.batches)]
    rate, totals = in_process(meter, events_ingest, tenant, work_batches)
    merge_rate, merge_totals = in_process(meter, events_ingest, tenant, [work.merges() for _ in range(args.batches)])
    update_rate, _ = in_process(
        meter, profile_updates_ingest, tenant, [work.updates() for _ in range(args.batches)], field="updates"
    )

    def http_phase(gunicorn: bool) -> tuple[float, float, float, float]:
        port = free_port()
        server = start_web(port, gunicorn_command(port) if gunicorn else None)
        try:
            rate = http_batches(port, key, [work.batch() for _ in range(args.batches)])
            # Unmeasured first: each view thread's first single events (its connection's first
            # statements of that shape) and the tail of the batches' database work.
            http_single(port, key, [work.fresh("known") for _ in range(args.singles // 10)])
            return rate, *http_single(port, key, [work.fresh("known") for _ in range(args.singles)])
        finally:
            server.terminate()
            server.wait(timeout=30)

    if args.compare_gunicorn:
        # web, gunicorn, gunicorn, web: the load drifting in from elsewhere falls on both alike.
        phases = {False: [], True: []}
        for gunicorn in (False, True, True, False):
            phases[gunicorn].append(http_phase(gunicorn))
        (http_rate, p50, p99, single_rate), (g_rate, g_p50, g_p99, g_single) = (
            tuple(statistics.fmean(values) for values in zip(*phases[side], strict=True)) for side in (False, True)
        )
    else:
        http_rate, p50, p99, single_rate = http_phase(False)

    replay_rate, replay_totals = in_process(meter, events_ingest, tenant, work_batches)
    fresh_only = [work.batch(replay_share=0) for _ in range(max(2, args.batches // 2))]
    new_rate, _ = in_process(meter, events_ingest, tenant, fresh_only)
    # After the HTTP phases: the merges it writes would leave them its autovacuum work.
    merge_pair_rate = concurrent_batches(events_ingest, tenant, [work.merges() for _ in range(args.batches)])

    million_rate = million_merge_rate = None
    if args.million:
        big = Workload(known=900_000, anon=50_000, merge_pairs=args.batches * BATCH, seed=11)
        big_tenant, _ = setup_tenant("1M", big)
        in_process(Meter(), events_ingest, big_tenant, [big.batch() for _ in range(2)])
        million_rate, _ = in_process(meter, events_ingest, big_tenant, [big.batch() for _ in range(args.batches)])
        million_merge_rate, _ = in_process(
            meter, events_ingest, big_tenant, [big.merges() for _ in range(args.batches)]
        )
    report = profile_report(tenant, work, max(2, args.batches // 2)) if args.profile else ""
    connection.close()

    rows = [
        ("baseline: INSERT ... ON CONFLICT DO NOTHING (500/stmt)", f"{base:,.0f} events/s", 1.0),
        ("baseline: COPY (500 rows a commit)", f"{base_copy:,.0f} events/s", base_copy / base),
        ("in-process batch (services.events_ingest)", f"{rate:,.0f} events/s", rate / base),
        ("in-process merge-only batch (every event merges)", f"{merge_rate:,.0f} events/s", merge_rate / base),
        ("  the same, 2 callers at once", f"{merge_pair_rate:,.0f} events/s", merge_pair_rate / base),
        ("in-process profile-update batch", f"{update_rate:,.0f} updates/s", update_rate / base),
        ("HTTP batch, production web process, 2 clients", f"{http_rate:,.0f} events/s", http_rate / base),
        ("HTTP single event, concurrency 4: p50", f"{p50:.1f} ms", None),
        ("HTTP single event, concurrency 4: p99", f"{p99:.1f} ms", None),
        ("HTTP single event, concurrency 4: throughput", f"{single_rate:,.0f} events/s", single_rate / base),
        ("replay batch (all duplicates)", f"{replay_rate:,.0f} events/s", replay_rate / base),
        ("new-event batch (no replays)", f"{new_rate:,.0f} events/s", new_rate / base),
        ("statements per batch, max over measured batches", f"{meter.max_queries}", None),
    ]
    if args.compare_gunicorn:
        rows += [
            (f"HTTP batch, {GUNICORN_SYNC}, 2 clients", f"{g_rate:,.0f} events/s", g_rate / base),
            (f"HTTP single event, {GUNICORN_SYNC}: p50", f"{g_p50:.1f} ms", None),
            (f"HTTP single event, {GUNICORN_SYNC}: p99", f"{g_p99:.1f} ms", None),
            (f"HTTP single event, {GUNICORN_SYNC}: throughput", f"{g_single:,.0f} events/s", g_single / base),
            ("production web process / gunicorn sync: HTTP batch rate", f"{http_rate / g_rate:.2f}x", None),
            ("production web process / gunicorn sync: single-event rate", f"{single_rate / g_single:.2f}x", None),
        ]
    if million_rate is not None:
        rows += [
            ("1M profiles: in-process batch", f"{million_rate:,.0f} events/s", million_rate / base),
            ("1M profiles: merge-only batch", f"{million_merge_rate:,.0f} events/s", million_merge_rate / base),
        ]
    print(f"\nIngest benchmark on PostgreSQL (fsync and synchronous_commit on); batches of {BATCH}")
    print(f"in-process outcome counts: {totals}; merge-only: {merge_totals}; replay pass: {replay_totals}\n")
    print(f"{'measure':<58} {'figure':>16} {'vs baseline':>12}")
    for name, figure, ratio in rows:
        print(f"{name:<58} {figure:>16} {'' if ratio is None else f'{ratio:.3f}x':>12}")
    print(
        "\ntargets: HTTP batch >= 0.30x the INSERT baseline; merge-only >= 1,000 events/s; single p50 <= 8 ms, "
        "p99 <= 20 ms; <= 40 statements a batch; 1M rate within 20 % of the 100k rate"
    )
    if report:
        print("\nwhere in-process batch time goes (cProfile, cumulative):\n" + report)
    figures = {
        "http_batch_ratio": round(http_rate / base, 3),
        "in_process_ratio": round(rate / base, 3),
        "copy_baseline_ratio": round(base_copy / base, 3),
        "baseline_insert_events_per_s": round(base),
        "in_process_events_per_s": round(rate),
        "http_batch_events_per_s": round(http_rate),
        "merge_batch_events_per_s": round(merge_rate),
        "merge_batch_two_callers_events_per_s": round(merge_pair_rate),
        "profile_update_batch_per_s": round(update_rate),
        "single_p50_ms": round(p50, 2),
        "single_p99_ms": round(p99, 2),
        "replay_events_per_s": round(replay_rate),
        "queries_per_batch_max": meter.max_queries,
        "smoke": args.smoke,
    }
    if args.compare_gunicorn:
        figures["gunicorn_http_batch_events_per_s"] = round(g_rate)
        figures["gunicorn_single_p50_ms"] = round(g_p50, 2)
        figures["web_vs_gunicorn_http_batch"] = round(http_rate / g_rate, 3)
        figures["web_vs_gunicorn_single"] = round(single_rate / g_single, 3)
    if million_rate is not None:
        figures["million_in_process_events_per_s"] = round(million_rate)
        figures["million_merge_batch_events_per_s"] = round(million_merge_rate)
        figures["million_vs_100k_ratio"] = round(million_rate / rate, 3)
    print("BENCH " + json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
