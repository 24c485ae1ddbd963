"""The Procfile's web process keeps serving while its workers are killed (`make chaos` does the
same under load): every connection is accepted, killed workers are replaced, the server lives."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from cdp_project import serve
from tests.core.test_make_run import free_port, group_members_left

ROOT = Path(__file__).resolve().parents[2]


def workers(pid: int) -> list[int]:
    """The worker processes of the web process: its children."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat="], capture_output=True, text=True, check=True).stdout
    rows = (line.split() for line in out.splitlines())
    return sorted(int(p) for p, ppid, stat in rows if ppid == str(pid) and not stat.startswith("Z"))


def healthz(port: int) -> str:
    """'ok', or the kind of failure: 'refused' means nobody holds the port any more."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        return "ok" if conn.getresponse().status == 200 else "status"
    except ConnectionRefusedError:
        return "refused"
    except (OSError, http.client.HTTPException):
        return "reset"  # the request was in flight on the worker that was killed
    finally:
        conn.close()


def procfile_web_start(port: int, log: Path, **env: str) -> subprocess.Popen:
    """The Procfile's `web:` line, as documented, on 127.0.0.1:port, serving the test database."""
    s = connection.settings_dict
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "WEB_CONCURRENCY": "2",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return subprocess.Popen(
        ["bash", "-c", "exec " + line.removeprefix("web:").strip()],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def procfile_web_stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def procfile_web_serving(tmp_path: Path, **env: str):
    """The Procfile's web process with 2 workers, once it answers /healthz and both run."""
    port = free_port()
    log = tmp_path / "web.log"
    process = procfile_web_start(port, log, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"), **env)
    try:
        deadline = time.monotonic() + 120
        while healthz(port) != "ok":
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        while len(workers(process.pid)) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield process, port, log
    finally:
        procfile_web_stop(process)
    assert group_members_left(process.pid) == []


@pytest.fixture
def web(tmp_path):
    with procfile_web_serving(tmp_path) as serving:
        yield serving


def thread_cores(pid: int) -> set[frozenset[int]]:
    """The sets of cores that the threads of one process may run on."""
    return {frozenset(os.sched_getaffinity(int(thread))) for thread in os.listdir(f"/proc/{pid}/task")}


@pytest.mark.skipif(connection.vendor == "sqlite", reason="runs once, in the PostgreSQL pass")
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pinning needs Linux")
@pytest.mark.django_db
def test_each_web_worker_and_every_thread_it_starts_stays_on_one_core_even_once_respawned(tmp_path):
    cores = sorted(os.sched_getaffinity(0))
    with procfile_web_serving(tmp_path, CDP_WEB_PIN_WORKERS="1") as (process, port, log):
        for _ in range(20):  # view threads start on first use
            assert healthz(port) == "ok"
        pinned = [thread_cores(pid) for pid in workers(process.pid)]
        assert all(len(each) == 1 and len(next(iter(each))) == 1 for each in pinned), pinned
        expected = {frozenset({cores[0]}), frozenset({cores[1 % len(cores)]})}
        assert {next(iter(each)) for each in pinned} == expected
        assert thread_cores(process.pid) == {frozenset(cores)}  # the main process is not pinned

        victim = workers(process.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in (alive := workers(process.pid)) or len(alive) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        while healthz(port) != "ok":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert {next(iter(thread_cores(pid))) for pid in workers(process.pid)} == expected


@pytest.mark.parametrize(
    ("mode", "spare", "pinned"),
    [("auto", 0, True), ("auto", 1, False), ("1", 1, True), ("0", 0, False), (" AUTO ", 0, True)],
)
def test_workers_are_pinned_when_they_fill_the_cores_they_may_run_on_or_when_told(monkeypatch, mode, spare, pinned):
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) - spare < 1:
        pytest.skip("needs a second core")
    monkeypatch.setenv("CDP_WEB_PIN_WORKERS", mode)
    assert serve.worker_cores(len(cores) - spare) == (cores if pinned else [])


def test_a_web_worker_freezes_what_start_up_allocated_and_collects_its_young_generation_less_often():
    import gc

    from django.conf import settings

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        assert serve._worker_load(None, lambda: "the application") == "the application"
        assert gc.get_freeze_count() > 1000  # start-up's objects, never walked again
        assert gc.get_threshold() == (settings.CDP_GC_THRESHOLD, *thresholds[1:]) != thresholds
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_an_unknown_pinning_mode_stops_the_web_process_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("CDP_WEB_PIN_WORKERS", "yes")
    with pytest.raises(SystemExit, match="CDP_WEB_PIN_WORKERS must be one of auto, 1, 0, got 'yes'"):
        serve.worker_cores(2)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="runs once, in the PostgreSQL pass")
@pytest.mark.django_db
def test_the_web_process_accepts_every_connection_while_its_workers_are_killed(web):
    process, port, log = web
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            outcomes[healthz(port)] += 1
            time.sleep(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    killed: set[int] = set()
    try:
        # Kill the youngest worker again and again, each time within a second or two of its
        # birth: Granian alone would call that a crash loop and stop serving altogether.
        for _ in range(5):
            deadline = time.monotonic() + 30
            while not (fresh := [pid for pid in workers(process.pid) if pid not in killed]) or len(fresh) < 2:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"no worker respawned: {log.read_text()}"
                time.sleep(0.1)
            victim = max(fresh)
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
            time.sleep(1.0)
        deadline = time.monotonic() + 30
        while len([pid for pid in workers(process.pid) if pid not in killed]) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        stop.set()
        prober.join()
    assert process.poll() is None, log.read_text()
    assert outcomes["refused"] == 0, (outcomes, log.read_text())
    assert outcomes["ok"] > 20, outcomes
    assert [healthz(port) for _ in range(10)] == ["ok"] * 10


@pytest.mark.django_db  # closing the response signals request_finished, which tidies connections
def test_a_synchronous_stream_is_sent_as_it_is_produced_not_collected_first():
    """The segment export is a synchronous iterator: the web process sends its first part while
    the rest is not produced yet (Django's own ASGI handler would first hold all of it)."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import async_to_sync
    from django.http import StreamingHttpResponse

    from cdp_project.asgi import STREAM_BATCH_BYTES, InViewThread, StreamingASGIHandler

    produced: list[int] = []
    threads: set[int] = set()
    closed: list[bool] = []

    def parts():
        try:
            for n in range(6):
                produced.append(n)
                threads.add(threading.get_ident())
                yield bytes([65 + n]) * STREAM_BATCH_BYTES
        finally:
            closed.append(True)

    response = StreamingHttpResponse(parts(), content_type="text/csv")
    body: list[tuple[int, bytes]] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            body.append((len(produced), message["body"]))

    view_thread = ThreadPoolExecutor(max_workers=1)

    async def serve() -> None:
        await StreamingASGIHandler().send_response(response, send, InViewThread(view_thread))

    async_to_sync(serve)()
    response.close()
    view_thread.shutdown()
    assert body[0][0] == 1, "the first part went out before the second was produced"
    assert b"".join(chunk for _, chunk in body) == b"".join(bytes([65 + n]) * STREAM_BATCH_BYTES for n in range(6))
    assert len(threads) == 1, "every part is produced in the same (the view's) thread"
    assert threading.get_ident() not in threads
    assert closed == [True]


async def _view_threads_close(handler) -> None:
    """Close the database connections of the handler's view threads, and the threads: the
    test database cannot be dropped while they hold connections to it."""
    import asyncio

    from django.db import connections

    for _ in range(handler.view_threads.count):
        executor = await handler.view_threads.take()
        await asyncio.get_running_loop().run_in_executor(executor, connections.close_all)
        executor.shutdown()


async def _asgi_get(handler, path: str, *, body_gate=None) -> int:
    """One GET through the ASGI handler in this process; with `body_gate`, its body arrives only
    once the gate opens (a client that trickles its bytes). Answers the status."""
    status, _, _ = await _asgi_answer(handler, "GET", path, {}, body_gate=body_gate)
    return status


@pytest.mark.django_db
def test_requests_run_on_a_few_long_lived_view_threads_taken_only_once_the_body_is_read():
    """Each request runs on one of the web worker's view threads (so it keeps its database
    connection and per-thread caches), never on a new thread per request; and a client that has
    not sent its body yet holds no thread: the others are served meanwhile."""
    import asyncio

    from asgiref.sync import async_to_sync
    from django.core.signals import request_started

    from cdp_project.asgi import StreamingASGIHandler, ViewThreads

    threads: list[int] = []

    def record(**_: object) -> None:
        threads.append(threading.get_ident())

    handler = StreamingASGIHandler()
    handler.view_threads = ViewThreads(1)
    request_started.connect(record)
    try:

        async def scenario() -> tuple[list[int], list[int]]:
            gate = asyncio.Event()
            slow = asyncio.ensure_future(_asgi_get(handler, "/healthz", body_gate=gate))
            await asyncio.sleep(0.05)  # the slow client is connected, its body not sent
            # Were the thread taken before the body is read, these would wait for the slow one.
            first = await asyncio.wait_for(asyncio.gather(*(_asgi_get(handler, "/healthz") for _ in range(12))), 20)
            gate.set()
            slow_status = [await slow]
            await _view_threads_close(handler)
            return first, slow_status

        served, slow_status = async_to_sync(scenario)()
    finally:
        request_started.disconnect(record)
    assert served == [200] * 12 and slow_status == [200]
    assert len(threads) == 13
    assert len(set(threads)) == 1, "13 requests ran on the one view thread"
    assert threading.get_ident() not in threads


@pytest.mark.django_db  # closing the response signals request_finished, which tidies connections
def test_a_stream_stops_being_produced_when_its_client_disconnects():
    """An export whose client went away is not produced to its end: the disconnect cancels the
    sending, and the iterator is closed (its finally blocks run, its cursor is released)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import async_to_sync
    from django.http import StreamingHttpResponse

    from cdp_project.asgi import STREAM_BATCH_BYTES, InViewThread, StreamingASGIHandler

    produced: list[int] = []
    closed: list[bool] = []

    def parts():
        try:
            for n in range(10_000):
                produced.append(n)
                yield b"x" * STREAM_BATCH_BYTES
        finally:
            closed.append(True)

    response = StreamingHttpResponse(parts(), content_type="text/csv")
    first_part = asyncio.Event()

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            first_part.set()
        await asyncio.sleep(0)

    async def receive() -> dict:
        await first_part.wait()
        return {"type": "http.disconnect"}

    view_thread = ThreadPoolExecutor(max_workers=1)

    async def serve() -> None:
        handler = StreamingASGIHandler()
        await asyncio.wait_for(handler.stream(response, receive, send, InViewThread(view_thread)), 20)

    async_to_sync(serve)()
    view_thread.shutdown()
    assert closed == [True]
    assert len(produced) < 100, f"{len(produced)} parts produced for a client that left after the first"


async def _asgi_call(handler, scope: dict, body: bytes = b"", *, body_gate=None):
    """One request through the ASGI handler in this process: (status, headers, body). With
    `body_gate`, the body arrives only once the gate opens; the client never disconnects."""
    import asyncio

    start: dict = {}
    parts: list[bytes] = []
    sent_body = False

    async def receive() -> dict:
        nonlocal sent_body
        if sent_body:
            await asyncio.Event().wait()  # no disconnect: the client stays until the end
        if body_gate is not None:
            await body_gate.wait()
        sent_body = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            parts.append(message.get("body", b""))

    await handler(scope, receive, send)
    return start["status"], start["headers"], b"".join(parts)


async def _asgi_answer(handler, method: str, path: str, headers: dict[str, str], body: bytes = b"", *, body_gate=None):
    """`_asgi_call` of a request to testserver: (status, headers but the request id, body)."""
    raw_headers = [(b"host", b"testserver"), *((k.encode(), v.encode()) for k, v in headers.items())]
    if body:
        raw_headers.append((b"content-length", str(len(body)).encode()))
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "headers": raw_headers,
        "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
    }  # fmt: skip
    status, sent_headers, sent_body = await _asgi_call(handler, scope, body, body_gate=body_gate)
    kept = [(name, value) for name, value in sent_headers if name.lower() != b"x-request-id"]
    return status, kept, sent_body


@pytest.mark.django_db(transaction=True)  # the view threads read what the test wrote
def test_the_machine_api_answers_the_same_without_the_browser_session_middlewares(tenant, key_factory):
    """Requests of the machine API skip the middlewares of the admin's browser sessions
    (session, CSRF, user, messages) and get the same answers, header for header, as through
    the whole chain; the admin's pages still go through it."""
    import json

    from asgiref.sync import async_to_sync

    from cdp_project.asgi import StreamingASGIHandler
    from runtime.tests.factories import campaign_make, profile_make

    campaign_make(tenant)
    profile_make(tenant, {"EXTERNAL": "cust-42"}, {"tier": "gold"})
    key = {"Authorization": f"Api-Key {key_factory(tenant).plaintext}", "Content-Type": "application/json"}
    handler = StreamingASGIHandler()
    handler.lean_gets.routes = {}  # the runtime GETs through the chains too (tests/core/test_lean_gets.py)
    skipped = [m.__self__.__class__.__name__ for m in handler.machine_chain._view_middleware]
    assert "CsrfViewMiddleware" not in skipped
    session = json.dumps({"campaign": "spring-quiz", "identity": {"EXTERNAL": "cust-42"}}).encode()

    async def scenario():
        status, _, body = await _asgi_answer(handler, "POST", "/api/v1/runtime/sessions", key, session)
        assert status == 201, body
        token = {"Authorization": f"Bearer {json.loads(body)['token']}"}
        requests = [
            ("GET", "/api/v1/runtime/context", token),
            ("GET", "/api/v1/runtime/context", {**token, "Accept": "application/*"}),  # DRF's full path
            ("GET", "/api/v1/runtime/context", {}),
            ("GET", "/api/v1/profiles?limit=nope", key),
            ("POST", "/api/v1/events", key, b'{"source": 7}'),
            ("POST", "/v1/track", {"Content-Type": "application/json"}, b"{}"),
            ("GET", "/api/v1/no-such-thing", key),
        ]
        machine = [await _asgi_answer(handler, *request) for request in requests]
        handler.machine_prefixes = ()  # every request through the whole MIDDLEWARE
        whole = [await _asgi_answer(handler, *request) for request in requests]
        login = await _asgi_answer(handler, "GET", "/admin/login/", {})
        await _view_threads_close(handler)
        return machine, whole, login

    machine, whole, login = async_to_sync(scenario)()
    assert [status for status, _, _ in machine] == [200, 200, 401, 422, 422, 401, 404]
    assert machine == whole
    assert any(name == b"Set-Cookie" and value.startswith(b"csrftoken=") for name, value in login[1])
