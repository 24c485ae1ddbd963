"""Real worker processes for tests: `manage.py jobs_worker` against the test database, as the
Procfile's `worker:` line runs it, and a way to wait for what it does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def database_url() -> str:
    """The URL of the test database (PostgreSQL), for a process of its own."""
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def worker_start(log: Path, env: Mapping[str, str] = (), *, interval: float = 0.2) -> subprocess.Popen:
    """Start a worker on the test database; its output goes to `log`; `env` adds settings."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "jobs_worker", "--interval", str(interval)],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
            **dict(env),
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def workers_stop(*processes: subprocess.Popen | None) -> None:
    """Stop the workers still running, as a process manager would (SIGTERM, then SIGKILL)."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, poll: float = 0.05) -> T:
    """The first truthy value of `predicate`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")
