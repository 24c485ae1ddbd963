"""`make run` is one command for the development server and the background worker: the demo's
jobs complete on SQLite, and one Ctrl-C (SIGINT to the foreground process group, as a terminal
sends it) stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_members(pgid: int) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.split()[0] == str(pgid) and not line.split()[1].startswith("Z")]


def group_members_left(pgid: int, *, seconds: float = 10) -> list[str]:
    """The processes of group `pgid` still there after up to `seconds`: a child that got its
    signal may still be exiting (`R [python]`) for a moment after its parent has gone."""
    deadline = time.monotonic() + seconds
    while (members := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return members


@pytest.mark.skipif(connection.vendor == "sqlite", reason="runs once, in the PostgreSQL pass (it uses its own SQLite)")
def test_make_run_serves_runs_jobs_on_sqlite_and_one_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}", "PORT": str(port)})
    log = tmp_path / "make-run.log"
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok"}
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(1)
        # The demo's derived attributes were created with a backfill job each; the worker runs them.
        # (Its log line, not any "succeeded": a migration's name holds the word too.)
        while "(derived.backfill) succeeded" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert "derived.backfill" in log.read_text()

        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)
        assert group_members_left(process.pid) == [], "every process of make run stopped"
    finally:
        if process.poll() is None or group_members(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
