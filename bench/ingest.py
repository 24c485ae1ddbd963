"""Ingest benchmark (issue 5). Run with `make bench-ingest` (a durable throwaway PostgreSQL).

Seeds 100k profiles server-side, then drives batches of 500 events where, of the fresh
events, 80 % hit known profiles, 15 % create new ones and 5 % merge two anonymous
profiles, and 10 % of every batch replays earlier events. Prints, in one run:

- baseline: multi-row INSERT ... ON CONFLICT DO NOTHING of rows shaped like event rows into
  a scratch table with the same indexes (what the database alone can do);
- in-process batch rate (services.events_ingest, no HTTP);
- HTTP batch rate through gunicorn with 2 workers (2 client threads);
- single-event HTTP p50/p99 at concurrency 4;
- replay rate (whole batches of already-ingested events);
each with its ratio to the baseline. Not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
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
from django.utils import timezone  # noqa: E402

from contracts.plans import contracts_plan_import  # noqa: E402
from ingest.services import events_ingest, source_create  # noqa: E402
from tenants.services import api_key_create, tenant_create  # noqa: E402

BATCH = 500
KNOWN = 90_000  # profiles with EXTERNAL + EMAIL
ANON = 5_000  # anonymous pairs: one EMAIL-only and one DEVICE_KEY-only profile each
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
    ]
}


class Workload:
    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.sent: list[dict] = []
        self.next_anon = 0
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
            i = self.rng.randrange(KNOWN)
            return self._event({"EXTERNAL": f"cust-{i}", "EMAIL": f"c{i}@example.com"})
        if kind == "new":
            return self._event({"EXTERNAL": f"new-{uuid.uuid4().hex}"})
        i = self.next_anon % ANON
        self.next_anon += 1
        return self._event({"EMAIL": f"anon{i}@example.com", "DEVICE_KEY": f"dev-{i}"})

    def batch(self, size: int | None = None, replay_share: float = 0.10) -> list[dict]:
        size = size or BATCH
        replays = int(size * replay_share) if self.sent else 0
        fresh = size - replays
        kinds = ["known"] * round(fresh * 0.80) + ["new"] * round(fresh * 0.15)
        kinds += ["merge"] * (fresh - len(kinds))
        self.rng.shuffle(kinds)
        items = [self.fresh(kind) for kind in kinds]
        items += self.rng.sample(self.sent, min(replays, len(self.sent)))
        self.rng.shuffle(items)
        self.sent.extend(item for item in items)
        return items


def seed(tenant_id: int) -> None:
    """100k profiles and their identifiers, written server-side with COPY."""
    now = timezone.now()
    profiles, identifiers = [], []
    for i in range(KNOWN):
        pid = uuid.uuid4()
        profiles.append(pid)
        identifiers.append((pid, "EXTERNAL", f"cust-{i}"))
        identifiers.append((pid, "EMAIL", f"c{i}@example.com"))
    for i in range(ANON):
        a, b = uuid.uuid4(), uuid.uuid4()
        profiles += [a, b]
        identifiers.append((a, "EMAIL", f"anon{i}@example.com"))
        identifiers.append((b, "DEVICE_KEY", f"dev-{i}"))
    with connection.cursor() as cursor:
        pg = cursor.cursor
        with pg.copy("COPY profiles_profile (id, tenant_id, created_at, updated_at) FROM STDIN") as copy:
            for pid in profiles:
                copy.write_row((pid, tenant_id, now, now))
        with pg.copy(
            "COPY identity_identifier (tenant_id, profile_id, type, value, source, first_seen_at, last_seen_at, "
            "created_at) FROM STDIN"
        ) as copy:
            for pid, kind, value in identifiers:
                copy.write_row((tenant_id, pid, kind, value, "seed", now, now, now))
    # Settle the seed before measuring: statistics, visibility map, a clean checkpoint.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def baseline(tenant_id: int, source_id: int, batches: list[list[dict]]) -> float:
    """The database alone: multi-row INSERT ... ON CONFLICT DO NOTHING, one commit a batch."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_event_baseline")
        cursor.execute("CREATE TABLE bench_event_baseline (LIKE ingest_event INCLUDING ALL)")
        cursor.execute("CREATE UNIQUE INDEX ON bench_event_baseline (tenant_id, source_id, external_event_id)")
        cursor.execute("SELECT id FROM profiles_profile LIMIT 1")
        profile_id = cursor.fetchone()[0]
    columns = (
        "id, tenant_id, source_id, external_event_id, event_type, contract_version, occurred_at, received_at, "
        "profile_id, identity, properties, resolution, fingerprint"
    )
    started = time.perf_counter()
    count = 0
    for batch in batches:
        rows, params = [], []
        for item in batch:
            rows.append("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
            params += [
                uuid.uuid4(), tenant_id, source_id, item["externalEventId"], item["eventType"], 1,
                item["occurredAt"], timezone.now(), profile_id, json.dumps(item["identity"]),
                json.dumps(item["properties"]), json.dumps({}), "0" * 64,
            ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO bench_event_baseline ({columns}) VALUES {', '.join(rows)} ON CONFLICT DO NOTHING",  # noqa: S608
                params,
            )
        count += len(batch)
    return count / (time.perf_counter() - started)


def in_process(tenant, batches: list[list[dict]]) -> tuple[float, dict]:
    totals: dict[str, int] = {}
    started = time.perf_counter()
    count = 0
    for batch in batches:
        for result in events_ingest(tenant=tenant, events=batch):
            totals[result.status] = totals.get(result.status, 0) + 1
        count += len(batch)
    return count / (time.perf_counter() - started), totals


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_LOG_LEVEL": "WARNING", "CDP_API_KEY_RATE_PER_MINUTE": "0"}
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "cdp_project.wsgi",
            "--workers",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def post(conn: http.client.HTTPConnection, path: str, body: dict, key: str) -> int:
    data = json.dumps(body)
    conn.request("POST", path, data, {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"})
    response = conn.getresponse()
    response.read()
    return response.status


def http_batches(port: int, key: str, batches: list[list[dict]], clients: int = 2) -> float:
    lock = threading.Lock()
    queue = list(batches)

    def worker() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        sent = 0
        while True:
            with lock:
                if not queue:
                    return sent
                batch = queue.pop()
            status = post(conn, "/api/v1/events/batch", {"events": batch}, key)
            assert status == 200, status
            sent += len(batch)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: worker(), range(clients)))
    return total / (time.perf_counter() - started)


def http_single(port: int, key: str, events: list[dict], concurrency: int = 4) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(events)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    return
                event = queue.pop()
            started = time.perf_counter()
            status = post(conn, "/api/v1/events", event, key)
            elapsed = time.perf_counter() - started
            assert status in (200, 201), status
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: worker(), range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return p50, p99, len(latencies) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10, help="batches of 500 per measured phase")
    parser.add_argument("--singles", type=int, default=400, help="single-event requests")
    parser.add_argument("--smoke", action="store_true", help="a tiny run in seconds (make test runs it)")
    args = parser.parse_args()
    if args.smoke:
        global KNOWN, ANON, BATCH
        KNOWN, ANON, BATCH, args.batches, args.singles = 900, 100, 50, 2, 20
    if connection.vendor != "postgresql":
        sys.exit("bench/ingest.py needs PostgreSQL: run it with `make bench-ingest`.")

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
    source = source_create(tenant=tenant, key="shop-backend")
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    key = api_key_create(tenant=tenant, scopes=["ingest"]).plaintext
    t0 = time.perf_counter()
    seed(tenant.pk)
    print(f"seeded {KNOWN + 2 * ANON:,} profiles in {time.perf_counter() - t0:.1f}s")

    work = Workload()
    warmup = [work.batch() for _ in range(2)]
    in_process(tenant, warmup)

    base = baseline(tenant.pk, source.pk, [work.batch(replay_share=0) for _ in range(args.batches)])
    work_batches = [work.batch() for _ in range(args.batches)]
    rate, totals = in_process(tenant, work_batches)

    port = free_port()
    server = start_gunicorn(port)
    try:
        http_rate = http_batches(port, key, [work.batch() for _ in range(args.batches)])
        singles = [work.fresh("known") for _ in range(args.singles)]
        p50, p99, single_rate = http_single(port, key, singles)
    finally:
        server.terminate()
        server.wait(timeout=30)

    replay_rate, replay_totals = in_process(tenant, work_batches)
    fresh_only = [work.batch(replay_share=0) for _ in range(max(2, args.batches // 2))]
    new_rate, _ = in_process(tenant, fresh_only)
    connection.close()

    rows = [
        ("baseline: INSERT ... ON CONFLICT DO NOTHING (500/stmt)", f"{base:,.0f} events/s", 1.0),
        ("in-process batch (services.events_ingest)", f"{rate:,.0f} events/s", rate / base),
        ("HTTP batch, gunicorn 2 workers, 2 clients", f"{http_rate:,.0f} events/s", http_rate / base),
        ("HTTP single event, concurrency 4: p50", f"{p50:.1f} ms", None),
        ("HTTP single event, concurrency 4: p99", f"{p99:.1f} ms", None),
        ("HTTP single event, concurrency 4: throughput", f"{single_rate:,.0f} events/s", single_rate / base),
        ("replay batch (all duplicates)", f"{replay_rate:,.0f} events/s", replay_rate / base),
        ("new-event batch (no replays)", f"{new_rate:,.0f} events/s", new_rate / base),
    ]
    print(f"\nIngest benchmark on PostgreSQL (fsync and synchronous_commit on); batches of {BATCH}")
    print(f"in-process outcome counts: {totals}; replay pass: {replay_totals}\n")
    print(f"{'measure':<58} {'figure':>16} {'vs baseline':>12}")
    for name, figure, ratio in rows:
        print(f"{name:<58} {figure:>16} {'' if ratio is None else f'{ratio:.3f}x':>12}")
    print("\ntargets: HTTP batch >= 1,500 events/s; single p50 <= 15 ms; replays >= 2x the new-event rate")
    print(f"replay / new-event rate: {replay_rate / new_rate:.1f}x")
    figures = {"baseline_events_per_s": base, "in_process_events_per_s": rate, "http_batch_events_per_s": http_rate}
    figures |= {"single_p50_ms": p50, "single_p99_ms": p99, "replay_events_per_s": replay_rate}
    print("BENCH " + json.dumps({key: round(value, 1) for key, value in figures.items()}, sort_keys=True))


if __name__ == "__main__":
    main()
