"""The process types of the Procfile, with production settings unless told otherwise.

    python -m cdp_project.serve web --port $PORT   # the HTTP server (Granian, ASGI, N workers)
    python -m cdp_project.serve worker             # the background worker (jobs)
    python -m cdp_project.serve release            # migrations and the cache table, before a new version serves

`web` serves Django's ASGI application with Granian: Granian's Rust I/O parses requests and
Django's ASGI handler reads a whole body before any view runs, so clients that trickle their
bytes cost a coroutine each, never a view thread (README "How it scales out"). Its main process
holds the listening socket and replaces killed workers at once (WebServer below), so `kill -9`
of a worker costs only the requests that worker was serving. It prepares the Prometheus
multi-process directory that its worker processes share (README "Metrics")."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import socket
import sys
from pathlib import Path

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.net import SocketSpec
from granian.server.mp import MPServer, WorkerProcess

from cdp_project.core.process import garbage_collector_tune

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "cdp_project.settings.production"
PIN_MODES = ("auto", "1", "0")


def prometheus_dir_prepare() -> str:
    """An empty PROMETHEUS_MULTIPROC_DIR (default var/prometheus) for this server's workers:
    stale files of a previous run would add their counts to the new one."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ROOT / "var" / "prometheus")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return str(path)


def worker_cores(workers: int) -> list[int]:
    """The cores the web workers are pinned to, one core each in turn, or [] to let the kernel
    place them (`CDP_WEB_PIN_WORKERS`: `auto`, `1` or `0`).

    `auto` pins only when there are at least as many workers as cores this process may run on:
    a web process meant to fill its machine (or its container's cpuset). A container limited by
    a CPU quota alone sees every core of its host, so it runs fewer workers than it sees cores
    and is not pinned: two such containers would otherwise crowd onto the same first cores."""
    mode = os.environ.get("CDP_WEB_PIN_WORKERS", "auto").strip().lower()
    if mode not in PIN_MODES:
        raise SystemExit(f"CDP_WEB_PIN_WORKERS must be one of {', '.join(PIN_MODES)}, got {mode!r}.")
    if mode == "0" or not hasattr(os, "sched_setaffinity"):
        return []
    cores = sorted(os.sched_getaffinity(0))
    if mode == "auto" and workers < len(cores):
        return []
    return cores


def _worker_load(core: int | None, load):
    """In a new worker process: keep it, and every thread it will start, on one core (unless
    `core` is None), load the application, then tune the garbage collector for serving
    (`garbage_collector_tune`: what start-up allocated frozen, fewer young collections).

    A worker's Python runs on one core at a time anyway (the GIL); spread over two, each handoff
    of the GIL between its event loop and view threads crosses cores, with their caches."""
    if core is not None:
        try:
            os.sched_setaffinity(0, {core})
        except OSError as error:  # the core is gone from this container's cpuset: serve unpinned
            logging.getLogger("cdp.serve").warning("web worker not pinned to core %s: %s", core, error)
    application = load()  # Django is set up by now
    garbage_collector_tune()
    return application


class _Worker(WorkerProcess):
    """A Granian worker whose death by SIGKILL (`kill -9`, the kernel's OOM killer) never
    counts toward Granian's crash-loop rule."""

    def _watcher(self) -> None:
        self.inner.join()
        if not self.interrupt_by_parent and self.inner.exitcode == -signal.SIGKILL:
            # Granian stops the whole server when a worker dies within 5.5 s of its respawn (a
            # worker that cannot boot would otherwise respawn forever). A killed worker booted
            # fine: forget its respawn time so it is simply replaced.
            self.parent.respawned_wrks.pop(self.idx, None)
        super()._watcher()  # the process has exited: its join returns at once


class WebServer(MPServer):
    """Granian's multi-process server with three changes, two for a process that must keep
    serving while workers die (README "How it scales out"), one for speed:

    - one listening socket, opened by the main process and shared by every worker (Granian's
      own choice on other systems), instead of a SO_REUSEPORT socket per worker: the kernel's
      queue of waiting connections belongs to the main process, so a killed worker takes only
      the requests it was serving with it; the others, and new connections, wait in the queue
      until a live or respawned worker accepts them, never `connection refused`;
    - a worker killed by SIGKILL is always respawned (see _Worker); any other early death of a
      respawned worker still stops the server, as Granian does;
    - each worker (a respawned one too) is pinned to one core when the workers fill the
      machine (`worker_cores`): about a quarter more runtime context reads a second at
      concurrency 4 on two cores, and no change for batches (README "Benchmarks")."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.worker_cores = worker_cores(self.workers)

    def _init_shared_socket(self) -> None:
        if self.bind_uds:
            super()._init_shared_socket()
            return
        self._ssp = SocketSpec(self.bind_addr, self.bind_port, self.backlog)
        self._shd = self._ssp.build()
        self._sfd = self._shd.get_fd()
        self._ssp = None
        self._sso = socket.socket(fileno=self._sfd)
        self._sso.set_inheritable(True)

    def _spawn_worker(self, idx, target, callback_loader) -> WorkerProcess:
        cores = self.worker_cores
        core = cores[idx % len(cores)] if cores else None
        callback_loader = functools.partial(_worker_load, core, callback_loader)
        worker = super()._spawn_worker(idx, target, callback_loader)
        worker.__class__ = _Worker  # not started yet: only its watcher differs
        return worker


def web_server(*, host: str, port: int, workers: int) -> WebServer:
    return WebServer(
        "cdp_project.asgi:application",
        address=host,
        port=port,
        interface=Interfaces.ASGINL,  # Django speaks no ASGI lifespan: Granian need not try
        workers=workers,
        websockets=False,
        respawn_failed_workers=True,
        log_level=LogLevels.warning,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdp_project.serve", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="process", required=True)
    web = sub.add_parser("web", help="the HTTP server")
    web.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104 (a server binds all interfaces)
    web.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2))
    sub.add_parser("worker", help="the background worker")
    sub.add_parser("release", help="migrate and create the cache table")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", PRODUCTION)
    os.chdir(ROOT)
    if args.process == "web":
        prometheus_dir_prepare()
        web_server(host=args.host, port=args.port, workers=args.workers).serve()
        return
    manage = [sys.executable, str(ROOT / "manage.py")]
    if args.process == "worker":
        os.execv(sys.executable, [*manage, "jobs_worker"])  # noqa: S606
    import subprocess

    subprocess.run([*manage, "migrate", "--no-input"], check=True)  # noqa: S603
    subprocess.run([*manage, "createcachetable"], check=True)  # noqa: S603


if __name__ == "__main__":
    main()
