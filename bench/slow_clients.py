"""Slow clients against the documented web process (the Procfile's `web:` line) and, as the
baseline in the same run, `gunicorn cdp_project.wsgi --workers 2` (sync workers).

For each server, in --rounds alternating rounds on a fresh server each (the median is reported):
the HTTP batch-ingest rate (2 client threads), the single-event rate and latency (concurrency 4);
then, once per server, an attack: N connections (half trickling their request headers,
half a POST body) one byte a second for S seconds, while a probe calls GET /healthz and
POST /api/v1/events every half second. Reported: the probes' worst latency and how many
failed (no answer within 5 s, or an error). The target: every probe answers within 2 s.

    make bench-slow-clients            # 100 connections, 20 s
    .venv/bin/python bench/slow_clients.py --smoke   # a few seconds (needs DATABASE_URL)

Loopback only, bounded in connections and time; stops what it starts. Not a test: it prints
figures (last line `BENCH {json}`), it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
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
from ingest.services import source_create  # noqa: E402
from tenants.services import api_key_create, tenant_create  # noqa: E402

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
        }
    ]
}
PROBE_TIMEOUT = 5.0
TARGET = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_web() -> str | None:
    """The Procfile's `web:` command, with `$PORT` left for each start to fill in."""
    procfile = ROOT / "Procfile"
    if not procfile.exists():
        return None
    for line in procfile.read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip().replace("${PORT}", "$PORT")
    return None


def start_server(command: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv/bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_DEBUG": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        "CDP_API_KEY_RATE_PER_MINUTE": "0",
        "HOST": "127.0.0.1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if "cdp_project.serve" in command:  # it creates (and empties) the directory its workers share
        env["PROMETHEUS_MULTIPROC_DIR"] = str(ROOT / "var" / f"bench-prometheus-{port}")
    # Bind the loopback only, whatever the Procfile's default host.
    if "--host" not in command and "cdp_project.serve web" in command:
        command += " --host 127.0.0.1"
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"{command!r} did not answer /healthz within 120 s")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


class Events:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def next(self) -> dict:
        with self.lock:
            self.n += 1
            n = self.n
        return {
            "source": "shop",
            "externalEventId": f"e-{uuid.uuid4().hex}",
            "eventType": "order_completed",
            "occurredAt": timezone.now().isoformat(),
            "identity": {"EXTERNAL": f"cust-{n % 5000}"},
            "properties": {"orderId": str(n), "total": n % 100 + 0.5},
        }


def request(port: int, method: str, path: str, key: str, body: dict | None = None, timeout: float = 60) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        conn.request(method, path, None if body is None else json.dumps(body), headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def batch_rate(port: int, key: str, events: Events, batches: int, size: int, clients: int = 2) -> float:
    bodies = [{"events": [events.next() for _ in range(size)]} for _ in range(batches)]
    lock = threading.Lock()

    def client() -> int:
        sent = 0
        while True:
            with lock:
                if not bodies:
                    return sent
                body = bodies.pop()
            assert request(port, "POST", "/api/v1/events/batch", key, body) == 200
            sent += size

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(lambda _: client(), range(clients)))
    return total / (time.perf_counter() - started)


def single_rate(port: int, key: str, events: Events, count: int, concurrency: int = 4) -> tuple[float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [count]

    def client() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            assert request(port, "POST", "/api/v1/events", key, events.next()) in (200, 201)
            with lock:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: client(), range(concurrency)))
    return count / (time.perf_counter() - started), statistics.median(latencies) * 1000


def attack(port: int, key: str, events: Events, connections: int, seconds: float) -> dict:
    """Open `connections` sockets that trickle one byte a second (half headers, half a POST
    body) for `seconds`, probing /healthz and POST /events meanwhile."""
    body = json.dumps({"events": []}).encode() * 200
    head = (
        "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Api-Key {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sockets: list[tuple[socket.socket, bytes]] = []
    for i in range(connections):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.sendall(head)  # the headers at once, then the body a byte a second
            sockets.append((s, body))
        else:
            sockets.append((s, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4096))
    stop_at = time.monotonic() + seconds
    closed = [0]

    def trickle() -> None:
        position = 0
        while time.monotonic() < stop_at:
            for s, data in sockets:
                if s.fileno() == -1 or position >= len(data):
                    continue
                try:
                    s.send(data[position : position + 1])
                except OSError:
                    s.close()
                    closed[0] += 1
            position += 1
            time.sleep(1.0)

    results: dict[str, list[float]] = {"healthz": [], "events": []}
    failures = {"healthz": 0, "events": 0}

    def probe() -> None:
        time.sleep(min(2.0, seconds / 4))  # let the slow connections settle in first
        while time.monotonic() < stop_at:
            for name, call in (
                ("healthz", lambda: request(port, "GET", "/healthz", key, timeout=PROBE_TIMEOUT) == 200),
                (
                    "events",
                    lambda: request(port, "POST", "/api/v1/events", key, events.next(), PROBE_TIMEOUT) in (200, 201),
                ),
            ):
                started = time.perf_counter()
                try:
                    ok = call()
                except OSError:
                    ok = False
                elapsed = time.perf_counter() - started
                results[name].append(elapsed if ok else PROBE_TIMEOUT)
                failures[name] += 0 if ok else 1
            time.sleep(0.5)

    threads = [threading.Thread(target=trickle), threading.Thread(target=probe)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for s, _ in sockets:
        s.close()
    return {
        name: {
            "probes": len(values),
            "failed": failures[name],
            "worst_s": round(max(values, default=0.0), 3),
            "p50_s": round(statistics.median(values), 3) if values else None,
        }
        for name, values in results.items()
    } | {"closed_by_server": closed[0]}


def throughput(command: str, key: str, args: argparse.Namespace) -> dict:
    """One round on a fresh server: the batch rate (2 clients), then single events (4)."""
    port = free_port()
    events = Events()
    process = start_server(command.replace("$PORT", str(port)), port)
    try:
        batch_rate(port, key, events, batches=2, size=50)  # warm up every worker
        rate = batch_rate(port, key, events, batches=args.batches, size=args.batch_size)
        singles, p50 = single_rate(port, key, events, count=args.singles)
    finally:
        stop(process)
    return {"batch_events_per_s": round(rate), "single_events_per_s": round(singles), "single_p50_ms": round(p50, 1)}


def under_attack(command: str, key: str, args: argparse.Namespace) -> dict:
    port = free_port()
    events = Events()
    process = start_server(command.replace("$PORT", str(port)), port)
    try:
        slow = attack(port, key, events, args.connections, args.seconds)
        after = request(port, "GET", "/healthz", key, timeout=PROBE_TIMEOUT)
    finally:
        stop(process)
    return {"slow": slow, "healthz_after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per server, alternating servers")
    parser.add_argument("--batches", type=int, default=20, help="measured batches per server and round")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: 10 connections for 3 s, tiny loads")
    args = parser.parse_args()
    if args.smoke:
        args.connections, args.seconds, args.batches, args.batch_size, args.singles = 10, 3, 2, 20, 10
        args.rounds = 1
    args.connections = min(args.connections, 500)
    args.seconds = min(args.seconds, 120)
    args.rounds = max(1, min(args.rounds, 10))
    if connection.vendor != "postgresql":
        sys.exit("bench/slow_clients.py needs PostgreSQL (DATABASE_URL): run it with `make bench-slow-clients`.")

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    tenant = tenant_create(slug=f"slow-{uuid.uuid4().hex[:6]}", name="Slow clients")
    source_create(tenant=tenant, key="shop")
    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    key = api_key_create(tenant=tenant, scopes=["ingest"]).plaintext
    connection.close()

    baseline = "gunicorn cdp_project.wsgi --workers 2 --bind 127.0.0.1:$PORT"
    servers = [("Procfile web", procfile_web() or baseline), ("gunicorn sync, 2 workers", baseline)]
    # Rounds alternate the servers (web first, then gunicorn first, ...) so that drifting load
    # from elsewhere on the machine falls on both alike; each figure is the median of its rounds.
    rounds: dict[str, list[dict]] = {label: [] for label, _ in servers}
    for n in range(args.rounds):
        for label, command in servers if n % 2 == 0 else servers[::-1]:
            rounds[label].append(throughput(command, key, args))
            print(f"round {n + 1} {label}: {rounds[label][-1]}", flush=True)
    runs = []
    for label, command in servers:
        figures = {
            name: statistics.median(r[name] for r in rounds[label])
            for name in ("batch_events_per_s", "single_events_per_s", "single_p50_ms")
        }
        runs.append({"server": label, "command": command, **figures, "rounds": rounds[label]})
    for run, (_, command) in zip(runs, servers, strict=True):
        run.update(under_attack(command, key, args))

    print(
        f"\nSlow clients: {args.connections} connections trickling 1 byte/s for {args.seconds:.0f} s "
        f"(half headers, half a POST body); probes every 0.5 s, {PROBE_TIMEOUT:.0f} s timeout; target: "
        f"every probe within {TARGET:.0f} s. Throughput: median of {args.rounds} alternating round(s). "
        "Shared machine: figures are disturbed by other load.\n"
    )
    header = f"{'server':<26} {'batch ev/s':>10} {'single ev/s':>11} {'p50 ms':>7}  {'healthz worst':>13}"
    print(header + f" {'events worst':>12} {'failed':>7}")
    for run in runs:
        slow = run["slow"]
        failed = slow["healthz"]["failed"] + slow["events"]["failed"]
        print(
            f"{run['server']:<26} {run['batch_events_per_s']:>10,.0f} {run['single_events_per_s']:>11,.0f} "
            f"{run['single_p50_ms']:>7}  {slow['healthz']['worst_s']:>12}s {slow['events']['worst_s']:>11}s "
            f"{failed:>7}"
        )
    web_run, base_run = runs
    ratio = web_run["batch_events_per_s"] / max(1, base_run["batch_events_per_s"])
    single_ratio = web_run["single_events_per_s"] / max(1, base_run["single_events_per_s"])
    per_round = [
        round(w["batch_events_per_s"] / max(1, b["batch_events_per_s"]), 2)
        for w, b in zip(web_run["rounds"], base_run["rounds"], strict=True)
    ]
    survived = all(
        web_run["slow"][name]["failed"] == 0 and web_run["slow"][name]["worst_s"] <= TARGET
        for name in ("healthz", "events")
    )
    print(
        f"\nweb / gunicorn: batch rate {ratio:.2f}x (rounds: {per_round}), single-event rate {single_ratio:.2f}x; "
        f"web process within {TARGET:.0f} s under attack: {survived}"
    )
    print(
        "BENCH "
        + json.dumps(
            {
                "bench": "slow_clients",
                "web_within_target": survived,
                "ratio": ratio,
                "single_ratio": single_ratio,
                "round_ratios": per_round,
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
