"""Runtime benchmark (issue 21). Run with `make bench-runtime` (a durable throwaway PostgreSQL).

Seeds 10k participants of one campaign (profiles with an EXTERNAL id, two attributes, a
derived value, an email-ready endpoint, a stored variable), mints their runtime tokens,
starts the documented production web process (the `web:` line of the Procfile, else
gunicorn with 2 workers x 4 threads) on a free port of 127.0.0.1 and measures, in one run:

- baseline: GET /healthz through the same server (HTTP, WSGI and Django, no database);
- GET /api/v1/runtime/context at concurrency 1, 4 and 16 (each request a random participant);
  at 4 in rounds alternating with the same reads sent down DRF's full path (`Accept:
  application/*`, which the lean path leaves to DRF), a ratio measured in the same run;
- PATCH /api/v1/runtime/variables at concurrency 4;
- POST /api/v1/runtime/sessions at concurrency 4 (known participants, by identity);
- statements per request (in-process, through the same Django stack).

Prints a table, then a last line `BENCH {json}`. `--smoke` runs a few seconds on a small
seed (for `make test`). Not a test: it prints figures, it asserts nothing. The figures
depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")
os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
# The server and this process must agree on the runtime signing key: tokens are minted here.
os.environ.setdefault("CDP_RUNTIME_JWT_SIGNING_KEY", "bench-runtime-signing-key-" + "0123456789abcdef" * 2)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from channels.models import Endpoint, address_digest  # noqa: E402
from identity.models import Identifier  # noqa: E402
from profiles.models import AttributeValue, DerivedValue, Profile  # noqa: E402
from runtime.models import Participant, VariableValue  # noqa: E402
from runtime.selectors import campaign_get  # noqa: E402
from runtime.services import campaign_create  # noqa: E402
from runtime.tokens import runtime_token_mint  # noqa: E402
from runtime.variables import variables_parse  # noqa: E402
from tenants.services import api_key_create, tenant_create  # noqa: E402

VARIABLES = [
    {"name": "step", "type": "integer", "default": 0},
    {"name": "answers", "type": "array", "default": []},
    {"name": "level", "type": "enum", "values": ["easy", "hard"], "default": "easy"},
    {"name": "score", "type": "number", "minimum": 0},
    {"name": "finishedAt", "type": "datetime"},
]
CHUNK = 2_000
TARGETS = "context p50 <= 4 ms at c=1, <= 8 ms (p99 <= 20 ms) at c=4; >= 600 reads/s at c=16; <= 4 statements a read"


def seed(tenant, participants: int) -> tuple[list[dict], str]:
    """Rows built from the models (bulk_create), so a migration cannot silently break the seed."""
    specs, problems = variables_parse(VARIABLES)
    assert not problems, problems
    campaign = campaign_create(tenant=tenant, key="bench-quiz", name="Bench quiz", variables=specs)
    step = campaign_get(tenant=tenant, key="bench-quiz").variables.get(name="step")
    now = timezone.now()
    people: list[dict] = []
    for start in range(0, participants, CHUNK):
        batch = range(start, min(start + CHUNK, participants))
        profiles = [Profile(id=uuid.uuid4(), tenant=tenant) for _ in batch]
        Profile.objects.bulk_create(profiles)
        Identifier.objects.bulk_create(
            Identifier(
                tenant=tenant, profile=p, type="EXTERNAL", value=f"cust-{i}", source="bench",
                first_seen_at=now, last_seen_at=now,
            )
            for i, p in zip(batch, profiles, strict=True)
        )  # fmt: skip
        AttributeValue.objects.bulk_create(
            AttributeValue(tenant=tenant, profile=p, name=name, value=value, occurred_at=now, source="bench")
            for i, p in zip(batch, profiles, strict=True)
            for name, value in (("firstName", f"Person {i}"), ("tier", "gold" if i % 3 else "silver"))
        )
        DerivedValue.objects.bulk_create(
            DerivedValue(tenant=tenant, profile=p, name="ordersTotal", value=i % 500, number=i % 500, count=1)
            for i, p in zip(batch, profiles, strict=True)
        )
        Endpoint.objects.bulk_create(
            Endpoint(
                tenant=tenant, profile=p, channel="EMAIL", address=f"c{i}@example.com",
                address_key=address_digest(f"c{i}@example.com"), active=True, declared_at=now,
                declared_source="bench", consent="granted", consent_occurred_at=now, consent_source="bench",
            )
            for i, p in zip(batch, profiles, strict=True)
        )  # fmt: skip
        rows = [Participant(id=uuid.uuid4(), tenant=tenant, campaign=campaign, profile=p) for p in profiles]
        Participant.objects.bulk_create(rows)
        VariableValue.objects.bulk_create(
            VariableValue(tenant=tenant, participant=row, definition=step, value=1) for row in rows
        )
        for i, row in zip(batch, rows, strict=True):
            token, _ = runtime_token_mint(
                tenant_id=tenant.pk, campaign_key=campaign.key, participant_id=row.pk, profile_id=row.profile_id
            )
            people.append({"external": f"cust-{i}", "token": token})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    return people, campaign.key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int) -> list[str]:
    """The `web:` line of the Procfile (the documented production web process), else gunicorn."""
    procfile = ROOT / "Procfile"
    if procfile.exists():
        for line in procfile.read_text().splitlines():
            if line.startswith("web:"):
                command = line[len("web:") :].strip().replace("${PORT}", str(port)).replace("$PORT", str(port))
                command = command.replace("0.0.0.0:", "127.0.0.1:")
                return shlex.split(command)
    return [
        "gunicorn", "cdp_project.wsgi", "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning",
    ]  # fmt: skip


def start_server(port: int) -> tuple[subprocess.Popen, list[str]]:
    command = server_command(port)
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
        "PORT": str(port),
        # The production settings, as the Procfile documents them, over plain HTTP on loopback.
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings.production",
        "DJANGO_SECRET_KEY": "bench-runtime-secret-key-" + "fedcba9876543210" * 2,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_DEBUG": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CDP_API_KEY_RATE_PER_MINUTE": "0",
    }
    process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process, command
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the web process did not start: {command}")


Request = Callable[[http.client.HTTPConnection, random.Random], int]
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


class CpuMeter:
    """CPU seconds used by the web process (all its workers) and by PostgreSQL's backends
    of this database: a per-request cost that other load on the machine disturbs less
    than it disturbs latencies."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def sample(self) -> dict[str, dict[int, float]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            backends = [row[0] for row in cursor.fetchall()]
        return {
            "web": {pid: _cpu_seconds(pid) for pid in _descendants(self.server_pid)},
            "db": {pid: _cpu_seconds(pid) for pid in backends},
        }

    @staticmethod
    def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        return {
            side: sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items()) for side in ("web", "db")
        }


def _run(port: int, request: Request, *, concurrency: int, count: int, seconds: float, meter: CpuMeter | None) -> dict:
    """`count` requests (at most `seconds`), `concurrency` at a time, each thread on its own
    keep-alive connection. Any status but the expected one counts as an error."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    remaining = [count]
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            ok = request(conn, rng)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(1)
        conn.close()

    before = meter.sample() if meter else None
    started, client_started = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    wall = time.perf_counter() - started
    client = time.process_time() - client_started  # this process: the benchmark's own HTTP client
    cpu = meter.spent(before, meter.sample()) if meter and before else {"web": 0.0, "db": 0.0}
    return {"latencies": latencies, "errors": len(errors), "wall": wall, "client": client, **cpu}


def _summary(runs: list[dict]) -> dict:
    latencies = sorted(latency for run in runs for latency in run["latencies"])
    n = len(latencies)
    wall = sum(run["wall"] for run in runs)

    def per_request(side: str) -> float:
        return sum(run[side] for run in runs) * 1000 / n if n else float("nan")

    return {
        "web_cpu_ms": per_request("web"),
        "db_cpu_ms": per_request("db"),
        "client_cpu_ms": per_request("client"),
        "n": n,
        "errors": sum(run["errors"] for run in runs),
        "p50": statistics.median(latencies) * 1000 if n else float("nan"),
        "p99": latencies[max(0, int(n * 0.99) - 1)] * 1000 if n else float("nan"),
        "rps": n / wall if wall else 0.0,
    }


def measure(
    port: int, request: Request, *, concurrency: int, count: int, seconds: float, meter: CpuMeter | None = None
) -> dict:
    return _summary([_run(port, request, concurrency=concurrency, count=count, seconds=seconds, meter=meter)])


def measure_pair(
    port: int,
    first: Request,
    second: Request,
    *,
    concurrency: int,
    count: int,
    seconds: float,
    meter: CpuMeter,
    rounds: int = 4,
) -> tuple[dict, dict]:
    """Two kinds of request in alternating rounds (`count` and `seconds` each in all), so that
    whatever else loads the machine weighs on both alike: a ratio measured in the same run."""
    runs: tuple[list[dict], list[dict]] = ([], [])
    for _ in range(rounds):
        for side, request in zip(runs, (first, second), strict=True):
            side.append(
                _run(
                    port, request, concurrency=concurrency, count=count // rounds, seconds=seconds / rounds, meter=meter
                )
            )
    return _summary(runs[0]), _summary(runs[1])  # fmt: skip


def call(conn: http.client.HTTPConnection, method: str, path: str, body: dict | None, headers: dict) -> int:
    data = None if body is None else json.dumps(body)
    if data is not None:
        headers = {**headers, "Content-Type": "application/json"}
    conn.request(method, path, data, headers)
    response = conn.getresponse()
    response.read()
    return response.status


def statements(send: Callable[[Client], int]) -> int:
    client = Client()
    send(client)  # warm: caches, connection
    with CaptureQueriesContext(connection) as captured:
        send(client)
    # BEGIN and COMMIT of a write's transaction are not counted, as in the tests.
    return sum(1 for query in captured.captured_queries if query["sql"] not in ("BEGIN", "COMMIT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=3_000, help="requests per measured phase (at most)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per measured phase")
    parser.add_argument("--smoke", action="store_true", help="a small seed and a few seconds per phase")
    args = parser.parse_args()
    if args.smoke:
        args.participants, args.requests, args.seconds = 200, 150, 3.0
    if connection.vendor != "postgresql":
        sys.exit("bench/runtime.py needs PostgreSQL: run it with `make bench-runtime`.")

    call_command("migrate", verbosity=0)
    tenant = tenant_create(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
    key = api_key_create(tenant=tenant, scopes=["runtime"]).plaintext
    t0 = time.perf_counter()
    people, campaign_key = seed(tenant, args.participants)
    print(f"seeded {len(people):,} participants in {time.perf_counter() - t0:.1f}s")

    def bearer(rng: random.Random) -> dict:
        return {"Authorization": f"Bearer {rng.choice(people)['token']}"}

    def context(conn, rng) -> bool:
        return call(conn, "GET", "/api/v1/runtime/context", None, bearer(rng)) == 200

    def context_drf(conn, rng) -> bool:
        # DRF's JSON renderer answers `application/*` too, but the lean path leaves it to DRF:
        # the same answer through DRF's full path (authentication class, then the view's reads).
        headers = {**bearer(rng), "Accept": "application/*"}
        return call(conn, "GET", "/api/v1/runtime/context", None, headers) == 200

    def healthz(conn, rng) -> bool:
        return call(conn, "GET", "/healthz", None, {}) == 200

    def variables(conn, rng) -> bool:
        body = {"variables": {"step": rng.randrange(1000), "answers": [rng.choice("abcd")], "level": "hard"}}
        return call(conn, "PATCH", "/api/v1/runtime/variables", body, bearer(rng)) == 200

    def session(conn, rng) -> bool:
        body = {"campaign": campaign_key, "identity": {"EXTERNAL": rng.choice(people)["external"]}}
        return call(conn, "POST", "/api/v1/runtime/sessions", body, {"Authorization": f"Api-Key {key}"}) == 201

    sample = people[0]["token"]
    per_context = statements(
        lambda c: c.get("/api/v1/runtime/context", HTTP_AUTHORIZATION=f"Bearer {sample}").status_code
    )
    per_write = statements(
        lambda c: (
            c.patch(
                "/api/v1/runtime/variables",
                json.dumps({"variables": {"step": 7}}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {sample}",
            ).status_code
        )
    )
    per_session = statements(
        lambda c: (
            c.post(
                "/api/v1/runtime/sessions",
                json.dumps({"campaign": campaign_key, "identity": {"EXTERNAL": people[0]["external"]}}),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Api-Key {key}",
            ).status_code
        )
    )
    connection.close()

    port = free_port()
    server, command = start_server(port)
    n, seconds = args.requests, args.seconds
    meter = CpuMeter(server.pid)
    try:
        measure(port, context, concurrency=4, count=max(50, n // 10), seconds=seconds)  # warm every worker
        base = measure(port, healthz, concurrency=1, count=n, seconds=seconds, meter=meter)
        c1 = measure(port, context, concurrency=1, count=n, seconds=seconds, meter=meter)
        c4, c4_drf = measure_pair(port, context, context_drf, concurrency=4, count=n, seconds=2 * seconds, meter=meter)
        c16 = measure(port, context, concurrency=16, count=2 * n, seconds=seconds, meter=meter)
        writes = measure(port, variables, concurrency=4, count=n, seconds=seconds, meter=meter)
        sessions = measure(port, session, concurrency=4, count=max(50, n // 3), seconds=seconds, meter=meter)
    finally:
        connection.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    rows = [
        ("baseline: GET /healthz, c=1", base, None),
        ("GET /runtime/context, c=1", c1, per_context),
        ("GET /runtime/context, c=4", c4, per_context),
        ("  the same, DRF's full path", c4_drf, per_context),
        ("GET /runtime/context, c=16", c16, per_context),
        ("PATCH /runtime/variables, c=4", writes, per_write),
        ("POST /runtime/sessions, c=4", sessions, per_session),
    ]
    print(f"\nRuntime benchmark: {len(people):,} participants, PostgreSQL (fsync and synchronous_commit on)")
    print(f"web process: {' '.join(command)}")
    print("figures are disturbed by whatever else runs on this machine\n")
    widths = (34, 8, 6, 8, 8, 8, 11, 10, 9, 13, 5)
    header = (
        "measure", "requests", "errors", "p50 ms", "p99 ms", "req/s", "p50 vs base", "web cpu ms", "db cpu ms",
        "client cpu ms",
    )  # fmt: skip
    print(
        " ".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, widths, strict=False))),
        "stmts",
    )
    for name, m, stmts in rows:
        ratio = m["p50"] / base["p50"] if base["p50"] else float("nan")
        print(
            f"{name:<34} {m['n']:>8} {m['errors']:>6} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['rps']:>8.0f} "
            f"{ratio:>10.2f}x {m['web_cpu_ms']:>10.2f} {m['db_cpu_ms']:>9.2f} {m['client_cpu_ms']:>13.2f} "
            f"{'' if stmts is None else stmts:>5}"
        )
    print(
        "web/db/client cpu ms: CPU time per request of the web process's workers / of PostgreSQL's backends / "
        "of this benchmark's own HTTP client (it shares the machine's cores with the server)"
    )
    print(f"\ntargets: {TARGETS}")
    result = {
        "context_p50_ms": round(c4["p50"], 2),
        "context_p99_ms": round(c4["p99"], 2),
        "context_rps": round(c16["rps"], 1),
        "variables_p50_ms": round(writes["p50"], 2),
        "queries_per_context": per_context,
        "context_p50_ms_c1": round(c1["p50"], 2),
        "sessions_p50_ms": round(sessions["p50"], 2),
        "baseline_p50_ms": round(base["p50"], 2),
        "context_web_cpu_ms": round(c4["web_cpu_ms"], 3),
        "context_db_cpu_ms": round(c4["db_cpu_ms"], 3),
        "context_client_cpu_ms": round(c4["client_cpu_ms"], 3),
        "context_drf_path_p50_ms": round(c4_drf["p50"], 2),
        "context_drf_path_web_cpu_ms": round(c4_drf["web_cpu_ms"], 3),
        "errors": sum(m["errors"] for _, m, _ in rows),
        "participants": len(people),
    }
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()
