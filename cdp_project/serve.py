"""The process types of the Procfile, with production settings unless told otherwise.

    python -m cdp_project.serve web --port $PORT   # the HTTP server (Granian, ASGI, N workers)
    python -m cdp_project.serve worker             # the background worker (jobs)
    python -m cdp_project.serve release            # migrations and the cache table, before a new version serves

`web` serves Django's ASGI application with Granian: Granian's Rust I/O parses requests and
Django's ASGI handler reads a whole body before any view runs, so clients that trickle their
bytes cost a coroutine each, never a view thread (README "How it scales out"). It prepares the
Prometheus multi-process directory that its worker processes share (README "Metrics")."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "cdp_project.settings.production"


def prometheus_dir_prepare() -> str:
    """An empty PROMETHEUS_MULTIPROC_DIR (default var/prometheus) for this server's workers:
    stale files of a previous run would add their counts to the new one."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ROOT / "var" / "prometheus")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return str(path)


def web_command(*, host: str, port: int, workers: int) -> list[str]:
    granian = shutil.which("granian", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    return [
        granian or "granian",
        "--interface",
        "asgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--respawn-failed-workers",
        "--no-ws",
        "--log-level",
        "warning",
        "cdp_project.asgi:application",
    ]


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
        os.environ.setdefault("CDP_DATABASE_POOL", "1")
        command = web_command(host=args.host, port=args.port, workers=args.workers)
        os.execvp(command[0], command)  # noqa: S606 (replaces this process: signals reach the server)
    manage = [sys.executable, str(ROOT / "manage.py")]
    if args.process == "worker":
        os.execv(sys.executable, [*manage, "jobs_worker"])  # noqa: S606
    import subprocess

    subprocess.run([*manage, "migrate", "--no-input"], check=True)  # noqa: S603
    subprocess.run([*manage, "createcachetable"], check=True)  # noqa: S603


if __name__ == "__main__":
    main()
