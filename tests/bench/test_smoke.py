"""Every benchmark still runs (issue 20): each `bench/*.py` is run with `--smoke` against
a scratch database on the test PostgreSQL server and must exit 0 and end with a line
`BENCH {json}`. Its figures are not checked (performance lives in the benchmarks, not in
tests); that it can still build its data on today's schema and answer is.

New scripts in bench/ are picked up without touching this file; modules whose name starts
with `_` are helpers, not benchmarks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted(path for path in (ROOT / "bench").glob("*.py") if not path.name.startswith("_"))
# What the issues promise each benchmark's BENCH line carries (names, not values).
PROMISED_KEYS = {
    "segments": {"attribute_segment_ms", "event_segment_ms", "export_rows_per_s", "compiled_vs_hand_ratio_max"},
}
TIMEOUT_S = 600  # a smoke run takes seconds; this only bounds a hung one on a loaded machine

pytestmark = pytest.mark.postgres_only


def test_the_benchmarks_are_found():
    names = {path.stem for path in BENCHES}
    assert {"segments", "ingest"} <= names, names


@pytest.fixture
def scratch_database_url():
    """A database of its own on the test server (each benchmark migrates and loads it),
    dropped afterwards."""
    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": db.get("PORT") or 5432,
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
    }
    name = f"bench_smoke_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{params['password']}" if params["password"] else ""
    yield f"postgres://{params['user']}{password}@{params['host']}:{params['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize("bench", BENCHES, ids=lambda path: path.name)
def test_benchmark_runs_at_smoke_size_and_prints_its_bench_line(bench, scratch_database_url):
    env = {
        **os.environ,
        "DATABASE_URL": scratch_database_url,
        "DJANGO_SETTINGS_MODULE": "cdp_project.settings",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    run = subprocess.run(
        [sys.executable, str(bench), "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    tail = f"\n--- stdout (tail)\n{run.stdout[-3000:]}\n--- stderr (tail)\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"{bench.name} --smoke exited {run.returncode}{tail}"
    lines = run.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("BENCH "), f"{bench.name} did not end with a BENCH line{tail}"
    figures = json.loads(lines[-1].removeprefix("BENCH "))
    assert isinstance(figures, dict) and figures, lines[-1]
    missing = PROMISED_KEYS.get(bench.stem, set()) - set(figures)
    assert not missing, f"{bench.name}'s BENCH line lacks {sorted(missing)}"
