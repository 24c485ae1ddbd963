"""`make chaos` (issue 11): ingest under crashes, then the promises checked in SQL.

On a throwaway, durable PostgreSQL (scripts/pg.sh, fsync on) with the production web
process (the `web:` line of the Procfile when there is one, else gunicorn with 2
workers), bound to 127.0.0.1 on a free port, two client threads send batches of mixed
events: known customers (both clients share them, so they race on the same profiles),
new customers, anonymous halves (an EMAIL-only and a DEVICE_KEY-only profile) and the
events that merge those halves. Meanwhile a chaos thread `kill -9`s a web worker every
few seconds and restarts PostgreSQL with `-m immediate` (twice; once with --quick).
A client retries every item that did not come back `accepted` or `duplicate` (a failed
request, a 5xx, a refused item) with the same externalEventId and payload, until all are
acknowledged. Then, in SQL:

- every event sent is stored exactly once, and nothing else is stored;
- no idempotency key without its event, no event without its key;
- no identifier owned twice, none on a tombstone;
- no live row on a tombstone (any table with a foreign key to profiles_profile);
- every tombstone has its merge ledger entry;
- derived values (a sum and a count) equal a recount from the event store;
- no item was answered `accepted` twice.

Prints the figures and a last line `CHAOS {json}`; exits 1 on any discrepancy. Bounded in
time (--seconds of load, then at most --drain-seconds of retries) and cleans up (server,
database directory) on any exit. Not part of `make test` (it takes minutes and kills
processes); `--quick` is a ~30 s run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "var" / "chaos-web.log"  # the web process's output (worker kills are noisy)
SOURCE = "chaos-shop"
KNOWN_CUSTOMERS = 400
ANON_PAIRS = 3_000
PLAN = {
    "eventTypes": [
        {
            "name": "order_completed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [
                {"name": "orderId", "type": "string", "required": True},
                {"name": "total", "type": "number", "required": True, "derivable": True},
            ],
        },
        {
            "name": "page_viewed",
            "status": "active",
            "allowAdditionalProperties": False,
            "properties": [{"name": "path", "type": "string", "required": True}],
        },
    ],
    "derivedAttributes": [
        {"name": "ordersTotal", "eventType": "order_completed", "property": "total", "aggregation": "sum"},
        {"name": "orderCount", "eventType": "order_completed", "aggregation": "count"},
    ],
}


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the throwaway PostgreSQL -----------------------------------------------------------


class Postgres:
    """scripts/pg.sh's server (durable: PG_DURABLE=1), plus an immediate restart."""

    def __init__(self) -> None:
        script = 'source scripts/pg.sh && pg_start >&2 && printf "%s\\n" "$PG_URL" "$PG_DIR" "$PG_CTL" "$PG_PORT"'
        env = {**os.environ, "PG_DURABLE": "1"}
        out = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {out.stderr}")
        self.url, self.dir, self.ctl, self.port = out.stdout.split()
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        self.options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        log(out.stderr.strip())

    def _ctl(self, *args: str) -> None:
        command = [*self.run_as, self.ctl, "-D", f"{self.dir}/data", *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def crash_restart(self, downtime: float) -> None:
        """Stop with `-m immediate` (no checkpoint: recovery replays the WAL), stay down a
        moment, start again."""
        self._ctl("-m", "immediate", "stop")
        time.sleep(downtime)
        self._ctl("-l", f"{self.dir}/server.log", "-w", "-t", "120", "-o", self.options, "start")

    def stop(self) -> None:
        try:
            self._ctl("-m", "immediate", "stop")
        except (subprocess.SubprocessError, OSError):
            pass
        subprocess.run(["rm", "-rf", self.dir], check=False)


# --- the web process ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_line(kind: str) -> str | None:
    procfile = ROOT / "Procfile"
    if procfile.exists():
        for line in procfile.read_text().splitlines():
            if line.startswith(f"{kind}:"):
                return line.removeprefix(f"{kind}:").strip()
    return None


def web_command(port: int) -> str:
    """The Procfile's `web:` line (the documented production web process) with $PORT and
    bound to loopback, else gunicorn with 2 workers."""
    command = procfile_line("web")
    if command is not None:
        command = re.sub(r"\$\{PORT(:-[^}]*)?\}|\$PORT\b", str(port), command)
        return command.replace("0.0.0.0", "127.0.0.1").replace("[::]", "127.0.0.1")
    return f"{shlex.quote(str(ROOT / '.venv/bin/gunicorn'))} cdp_project.wsgi --workers 2 --bind 127.0.0.1:{port}"


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _helper(pid: int) -> bool:
    """multiprocessing's tracker processes are no workers."""
    try:
        return b"_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def workers(root: int) -> list[int]:
    """The leaves of the process tree under the web process: its workers."""
    tree, leaves, stack = children(), [], [root]
    while stack:
        pid = stack.pop()
        kids = tree.get(pid, [])
        if not kids and pid != root and not _helper(pid):
            leaves.append(pid)
        stack.extend(kids)
    return leaves


class Web:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.command = web_command(self.port)
        log(f"web: {self.command}")
        LOG.parent.mkdir(exist_ok=True)
        self.log = LOG.open("w")
        self.process = subprocess.Popen(
            ["bash", "-c", self.command], cwd=ROOT, env={**env, "PORT": str(self.port)},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the web process exited with {self.process.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the web process did not answer /healthz")

    def kill_worker(self, rng: random.Random) -> int | None:
        candidates = workers(self.process.pid)
        if not candidates:
            return None
        pid = rng.choice(candidates)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# --- the load -----------------------------------------------------------------------------


class Shared:
    """What both clients draw from: the known customers and the anonymous pairs whose
    halves were sent (so either client may send the merging event)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_pair = 0
        self.halves_sent: list[int] = []
        self.merged: set[int] = set()
        self.accepted: Counter[str] = Counter()  # externalEventId -> times answered `accepted`


class Client(threading.Thread):
    def __init__(self, name: str, port: int, key: str, shared: Shared, *, batch: int, stop_at: float, seed: int):
        super().__init__(name=name, daemon=True)
        self.port, self.key, self.shared, self.batch_size, self.stop_at = port, key, shared, batch, stop_at
        self.rng = random.Random(seed)
        self.serial = 0
        self.sent: dict[str, dict] = {}  # every item ever sent, by id: the payload retried
        self.acked: set[str] = set()
        self.retry: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.figures: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.conn: http.client.HTTPConnection | None = None
        self.drain_until = stop_at

    # items
    def _event(self, identity: dict) -> dict:
        self.serial += 1
        event_id = f"{self.name}-{self.serial}"
        if self.rng.random() < 0.75:
            event_type = "order_completed"
            properties = {"orderId": event_id, "total": round(self.rng.uniform(1, 500), 2)}
        else:
            event_type = "page_viewed"
            properties = {"path": f"/p/{self.rng.randrange(50)}"}
        return {
            "source": SOURCE,
            "externalEventId": event_id,
            "eventType": event_type,
            "occurredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - self.rng.randrange(86400))),
            "identity": identity,
            "properties": properties,
        }

    def fresh(self) -> dict:
        roll = self.rng.random()
        shared = self.shared
        if roll < 0.45:
            i = self.rng.randrange(KNOWN_CUSTOMERS)
            self.figures["kind_known"] += 1
            return self._event({"EXTERNAL": f"cust-{i}", "EMAIL": f"cust{i}@example.com"})
        if roll < 0.65:
            self.figures["kind_new"] += 1
            return self._event({"EXTERNAL": f"new-{uuid.uuid4().hex[:12]}", "EMAIL": f"{uuid.uuid4().hex[:10]}@x.org"})
        with shared.lock:
            candidates = [p for p in shared.halves_sent[-200:] if p not in shared.merged]
            if roll < 0.85 or not candidates:
                pair = shared.next_pair % ANON_PAIRS
                shared.next_pair += 1
                shared.halves_sent.append(pair)
                merge = None
            else:
                merge = self.rng.choice(candidates)
                shared.merged.add(merge)
        if merge is None:
            self.figures["kind_anonymous_halves"] += 2
            return [self._event({"EMAIL": f"anon{pair}@example.com"}), self._event({"DEVICE_KEY": f"dev-{pair}"})]
        self.figures["kind_merge"] += 1
        return self._event({"EMAIL": f"anon{merge}@example.com", "DEVICE_KEY": f"dev-{merge}"})

    def next_batch(self, loading: bool) -> list[str]:
        ids = self.retry[: self.batch_size]
        del self.retry[: len(ids)]
        while loading and len(ids) < self.batch_size:
            made = self.fresh()
            for item in made if isinstance(made, list) else [made]:
                self.sent[item["externalEventId"]] = item
                ids.append(item["externalEventId"])
        return ids

    # transport
    def post(self, ids: list[str]) -> tuple[int, dict | None, float]:
        body = json.dumps({"events": [self.sent[i] for i in ids]})
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {self.key}"}
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            self.conn.request("POST", "/api/v1/events/batch", body, headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            self.conn = None
            self.figures[f"failed_request_{type(error).__name__}"] += 1
            return 0, None, 0.3
        retry_after = float(response.getheader("Retry-After") or 0.2)
        if response.status != 200:
            self.figures[f"failed_request_http_{response.status}"] += 1
            return response.status, None, min(retry_after, 1.0)
        return 200, json.loads(data), 0

    def handle(self, ids: list[str], body: dict) -> None:
        for result in body["results"]:
            event_id = ids[result["index"]]
            status = result["status"]
            if status in ("accepted", "duplicate"):
                self.figures[f"item_{status}"] += 1
                if status == "accepted":
                    with self.shared.lock:
                        self.shared.accepted[event_id] += 1
                elif self.attempts[event_id] > 1:
                    self.figures["item_duplicate_on_retry"] += 1  # its first attempt had applied
                self.acked.add(event_id)
            else:
                codes = ",".join(sorted({e.get("code", "?") for e in result.get("errors") or []})) or "-"
                self.refusals[f"{status}:{codes}"] += 1
                self.figures[f"item_{status}"] += 1
                self.retry.append(event_id)

    def run(self) -> None:
        while True:
            loading = time.monotonic() < self.stop_at
            if not loading and (not self.retry or time.monotonic() > self.drain_until):
                return
            ids = self.next_batch(loading)
            if not ids:
                return
            for event_id in ids:
                self.attempts[event_id] += 1
            if any(self.attempts[i] > 1 for i in ids):
                self.figures["batches_with_retries"] += 1
            self.figures["batches"] += 1
            status, body, pause = self.post(ids)
            if body is None:
                self.retry = ids + self.retry
                self.figures["items_resent"] += len(ids)
                time.sleep(pause)
                continue
            self.handle(ids, body)


# --- the checks ---------------------------------------------------------------------------


def tombstone_tables() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to profiles_profile, from the models."""
    from django.apps import apps

    from profiles.models import Profile

    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is Profile and model is not Profile:
                found.append((model._meta.db_table, field.column))
    return sorted(found)


def check(tenant_id: int, source_id: int, expected: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    from django.db import connection

    discrepancies: dict[str, int] = {}
    figures: dict[str, int] = {}
    with connection.cursor() as cursor:

        def one(sql: str, params=None) -> int:
            cursor.execute(sql, {"t": tenant_id, "s": source_id, **(params or {})})
            return cursor.fetchone()[0]

        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS chaos_expected (external_event_id text PRIMARY KEY)")
        cursor.execute("TRUNCATE chaos_expected")
        with cursor.cursor.copy("COPY chaos_expected FROM STDIN") as copy:
            for event_id in expected:
                copy.write_row((event_id,))
        discrepancies["events_missing"] = one(
            """SELECT count(*) FROM chaos_expected x WHERE NOT EXISTS (SELECT 1 FROM ingest_event e
               WHERE e.tenant_id = %(t)s AND e.source_id = %(s)s AND e.external_event_id = x.external_event_id)"""
        )
        discrepancies["events_stored_twice"] = one(
            """SELECT count(*) FROM (SELECT external_event_id FROM ingest_event WHERE tenant_id = %(t)s
               GROUP BY source_id, external_event_id HAVING count(*) > 1) d"""
        )
        discrepancies["events_not_sent"] = one(
            """SELECT count(*) FROM ingest_event e WHERE e.tenant_id = %(t)s AND NOT EXISTS
               (SELECT 1 FROM chaos_expected x WHERE x.external_event_id = e.external_event_id)"""
        )
        discrepancies["keys_without_event"] = one(
            """SELECT count(*) FROM ingest_idempotencykey k WHERE k.tenant_id = %(t)s AND k.kind = 'event'
               AND NOT EXISTS (SELECT 1 FROM ingest_event e WHERE e.id = k.record_id
                               AND e.source_id = k.source_id AND e.external_event_id = k.external_id)"""
        )
        discrepancies["events_without_key"] = one(
            """SELECT count(*) FROM ingest_event e WHERE e.tenant_id = %(t)s AND NOT EXISTS
               (SELECT 1 FROM ingest_idempotencykey k WHERE k.tenant_id = e.tenant_id AND k.source_id = e.source_id
                AND k.external_id = e.external_event_id AND k.record_id = e.id)"""
        )
        discrepancies["identifiers_owned_twice"] = one(
            """SELECT count(*) FROM (SELECT 1 FROM identity_identifier WHERE tenant_id = %(t)s
               GROUP BY type, value HAVING count(*) > 1) d"""
        )
        discrepancies["profiles_with_two_external_ids"] = one(
            """SELECT count(*) FROM (SELECT 1 FROM identity_identifier WHERE tenant_id = %(t)s AND type = 'EXTERNAL'
               GROUP BY profile_id HAVING count(*) > 1) d"""
        )
        for table, column in tombstone_tables():
            discrepancies[f"rows_on_tombstones:{table}"] = one(
                f"""SELECT count(*) FROM "{table}" r JOIN profiles_profile p ON p.id = r."{column}"
                    WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NOT NULL"""  # noqa: S608
            )
        discrepancies["tombstones_chained"] = one(
            """SELECT count(*) FROM profiles_profile p JOIN profiles_profile s ON s.id = p.merged_into_id
               WHERE p.tenant_id = %(t)s AND s.merged_into_id IS NOT NULL"""
        )
        discrepancies["tombstones_without_ledger_entry"] = one(
            """SELECT count(*) FROM profiles_profile p WHERE p.tenant_id = %(t)s AND p.merged_into_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM profiles_mergeledgerentry m
                               WHERE m.tenant_id = p.tenant_id AND m.merged_id = p.id)"""
        )
        recount = """
            WITH recount AS (
              SELECT profile_id, count(*) AS n, sum((properties ->> 'total')::numeric) AS total
              FROM ingest_event WHERE tenant_id = %(t)s AND event_type = 'order_completed' GROUP BY profile_id)
            SELECT count(*) FROM recount r
            FULL JOIN (SELECT * FROM profiles_derivedvalue WHERE tenant_id = %(t)s AND name = {name}) d
              ON d.profile_id = r.profile_id
            WHERE {differs}
        """
        discrepancies["derived_sums_differing_from_recount"] = one(
            recount.format(
                name="'ordersTotal'",
                differs="r.profile_id IS NULL OR d.profile_id IS NULL OR d.exact::numeric <> r.total "
                "OR d.count <> r.n OR abs(d.number - r.total::float8) > 1e-6 * greatest(1, abs(r.total::float8))",
            )
        )
        discrepancies["derived_counts_differing_from_recount"] = one(
            recount.format(
                name="'orderCount'",
                differs="r.profile_id IS NULL OR d.profile_id IS NULL OR d.count <> r.n OR d.value <> to_jsonb(r.n)",
            )
        )
        figures["events_stored"] = one("SELECT count(*) FROM ingest_event WHERE tenant_id = %(t)s")
        figures["profiles_live"] = one(
            "SELECT count(*) FROM profiles_profile WHERE tenant_id = %(t)s AND merged_into_id IS NULL"
        )
        figures["tombstones"] = one(
            "SELECT count(*) FROM profiles_profile WHERE tenant_id = %(t)s AND merged_into_id IS NOT NULL"
        )
        figures["merge_ledger_entries"] = one("SELECT count(*) FROM profiles_mergeledgerentry WHERE tenant_id = %(t)s")
        figures["identifiers"] = one("SELECT count(*) FROM identity_identifier WHERE tenant_id = %(t)s")
        figures["derived_values"] = one("SELECT count(*) FROM profiles_derivedvalue WHERE tenant_id = %(t)s")
        figures["identity_conflicts"] = one("SELECT count(*) FROM identity_identityconflict WHERE tenant_id = %(t)s")
    return discrepancies, figures


def check_catches_faults(tenant_id: int, source_id: int, expected: list[str]) -> bool:
    """The checks themselves, proven able to fail: in a transaction rolled back afterwards,
    lose one order event (its key stays) and put an identifier on a tombstone."""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """DELETE FROM ingest_event WHERE id = (SELECT id FROM ingest_event
                   WHERE tenant_id = %s AND event_type = 'order_completed' ORDER BY id LIMIT 1)""",
                [tenant_id],
            )
            cursor.execute(
                """UPDATE identity_identifier SET profile_id = (SELECT id FROM profiles_profile
                     WHERE tenant_id = %(t)s AND merged_into_id IS NOT NULL ORDER BY id LIMIT 1)
                   WHERE id = (SELECT min(id) FROM identity_identifier
                               WHERE tenant_id = %(t)s AND type <> 'EXTERNAL')""",
                {"t": tenant_id},
            )
        found, _ = check(tenant_id, source_id, expected)
        transaction.set_rollback(True)
    return (
        found["events_missing"] == 1
        and found["keys_without_event"] == 1
        and found["derived_sums_differing_from_recount"] == 1
        and found["derived_counts_differing_from_recount"] == 1
        and found["rows_on_tombstones:identity_identifier"] == 1
    )


# --- the run ------------------------------------------------------------------------------


def chaos_loop(web: Web, pg: Postgres, stop_at: float, started: float, args, figures: Counter, done: threading.Event):
    rng = random.Random(args.seed)
    span = stop_at - started
    restarts = [started + span * share for share in ((0.5,) if args.quick else (0.35, 0.7))]
    next_kill = started + args.kill_every
    while not done.is_set() and time.monotonic() < stop_at:
        now = time.monotonic()
        if restarts and now >= restarts[0]:
            restarts.pop(0)
            log("PostgreSQL: immediate stop, restart")
            pg.crash_restart(args.downtime)
            figures["postgres_immediate_restarts"] += 1
            log("PostgreSQL back")
        elif now >= next_kill:
            pid = web.kill_worker(rng)
            if pid:
                figures["workers_killed"] += 1
            next_kill = now + args.kill_every * rng.uniform(0.5, 1.5)
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=100, help="length of the load under chaos")
    parser.add_argument("--drain-seconds", type=float, default=90, help="at most this long retrying afterwards")
    parser.add_argument("--batch", type=int, default=100, help="events per batch")
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between worker kills (on average)")
    parser.add_argument("--downtime", type=float, default=2.0, help="seconds PostgreSQL stays down on a restart")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="a short run (~30 s of load, one restart)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.drain_seconds = 25, 60

    pg = Postgres()
    web = None

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_LOG_LEVEL": "ERROR",
            "CDP_API_KEY_RATE_PER_MINUTE": "0",
            "DATABASE_CONN_MAX_AGE": "60",
            "HOST": "127.0.0.1",  # the Procfile's server binds where HOST says
            "PATH": f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
        }
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from contracts.plans import contracts_plan_import
        from ingest.services import source_create
        from tenants.services import api_key_create, tenant_create

        release = procfile_line("release")  # the Procfile's release step (migrations and the like)
        if release is not None:
            subprocess.run(["bash", "-c", release], cwd=ROOT, env=env, check=True, timeout=600)
        else:
            call_command("migrate", verbosity=0)
        tenant = tenant_create(slug="chaos", name="Chaos", default_region="GB")
        contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
        source = source_create(tenant=tenant, key=SOURCE)
        key = api_key_create(tenant=tenant, scopes=["ingest"]).plaintext
        connection.close()

        web = Web(env)
        started = time.monotonic()
        stop_at = started + args.seconds
        shared = Shared()
        clients = [
            Client(f"c{n}", web.port, key, shared, batch=args.batch, stop_at=stop_at, seed=args.seed + n)
            for n in (1, 2)
        ]
        chaos_figures: Counter[str] = Counter()
        done = threading.Event()
        log(f"load {args.seconds:.0f} s: 2 clients, batches of {args.batch}, kill every ~{args.kill_every} s")
        for client in clients:
            client.drain_until = stop_at + args.drain_seconds
            client.start()
        chaos_loop(web, pg, stop_at, started, args, chaos_figures, done)
        done.set()
        log("chaos over; clients retry what is not acknowledged")
        for client in clients:
            client.drain_until = stop_at + args.drain_seconds
            client.join(timeout=args.drain_seconds + 120)
        elapsed = time.monotonic() - started
        web.stop()

        totals: Counter[str] = Counter()
        refusals: Counter[str] = Counter()
        expected: list[str] = []
        unacknowledged = 0
        for client in clients:
            totals.update(client.figures)
            refusals.update(client.refusals)
            expected.extend(client.sent)
            unacknowledged += len(set(client.sent) - client.acked)
        retried_items = sum(1 for c in clients for n in c.attempts.values() if n > 1)
        discrepancies, stored = check(tenant.pk, source.pk, expected)
        discrepancies["items_never_acknowledged"] = unacknowledged
        discrepancies["items_accepted_twice"] = sum(1 for n in shared.accepted.values() if n > 1)
        stored["checks_catch_injected_faults"] = int(
            stored["tombstones"] > 0 and check_catches_faults(tenant.pk, source.pk, expected)
        )

        figures = {
            "seconds": round(elapsed, 1),
            "events_sent": len(expected),
            "items_retried": retried_items,
            **dict(sorted(chaos_figures.items())),
            **dict(sorted(totals.items())),
            **stored,
        }
        print()
        print(f"{'figure':<44} {'value':>10}")
        for name, value in figures.items():
            print(f"{name:<44} {value:>10,}" if isinstance(value, int) else f"{name:<44} {value:>10}")
        if refusals:
            print("refused items (retried):", dict(refusals))
        print()
        print(f"{'invariant (discrepancies)':<44} {'count':>10}")
        for name, value in discrepancies.items():
            print(f"{name:<44} {value:>10,}{'' if value == 0 else '   <-- DISCREPANCY'}")
        total = sum(discrepancies.values())
        ok = total == 0 and stored["checks_catch_injected_faults"] == 1
        ok = ok and chaos_figures["workers_killed"] > 0 and chaos_figures["postgres_immediate_restarts"] > 0
        print()
        print("make chaos:", "OK, zero discrepancies" if ok else f"FAILED ({total} discrepancies)")
        print("CHAOS " + json.dumps({"figures": figures, "discrepancies": discrepancies, "ok": ok}, sort_keys=True))
        return 0 if ok else 1
    finally:
        if web is not None:
            web.stop()
        try:
            from django.db import connection

            connection.close()
        except Exception:  # noqa: BLE001, S110 - cleanup must go on
            pass
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
