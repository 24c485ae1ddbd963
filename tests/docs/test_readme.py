"""The README's first hour works verbatim: every ```sh block runs with bash, in order,
against a live server holding the `make run` demo (loaded by the same demo_load), with the
keys `make run` prints exported. Only the port differs (localhost:8000 becomes the live
server's). Any HTTP answer of 400 or more fails the block (curl --fail-with-body).
```text and ```console blocks are illustration and are not run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from cdp_project.demo.management.commands.demo_load import exported_keys
from jobs.models import Job
from jobs.tests.workers import wait_for, worker_start, workers_stop

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def sh_blocks(text: str) -> list[str]:
    return SH_BLOCK.findall(text)


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_the_readme_links_nothing_outside_the_repository():
    text = README.read_text()
    assert "../shared" not in text and "DESIGN.md" not in text and "API.md" not in text.replace("docs/api.md", "")
    for target in re.findall(r"\]\(([^)#]+)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README links to a missing file: {target}"


def test_every_sh_block_of_the_readme_runs_verbatim_against_the_demo(live_server, settings, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    settings.VAR_DIR = tmp_path
    settings.CDP_EXPORT_DIR = tmp_path / "exports"  # the worker below writes there too
    out = StringIO()
    call_command("demo_load", stdout=out)
    keys = exported_keys(out.getvalue())
    port = live_server.url.rsplit(":", 1)[1]
    env = {
        **os.environ,
        **{f"{scope.upper()}_KEY": key for scope, key in keys.items()},
        "DATABASE_URL": _database_url(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "CDP_EXPORT_DIR": str(settings.CDP_EXPORT_DIR),
    }
    blocks = sh_blocks(README.read_text())
    assert len(blocks) >= 4
    prelude = 'set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 30 "$@"; }\n'
    # `make run` runs the worker beside the server: the demo's backfills are done by the time a
    # reader pastes the first block, and the README's jobs (exports, replays) complete.
    worker = worker_start(tmp_path / "worker.log", {"CDP_EXPORT_DIR": env["CDP_EXPORT_DIR"]})
    try:
        wait_for(
            lambda: not Job.objects.exclude(status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED]).exists(),
            timeout=120,
            what="the worker to run the demo's backfills",
        )
        for number, block in enumerate(blocks, 1):
            script = block.replace("localhost:8000", f"localhost:{port}")
            done = subprocess.run(
                ["bash", "-c", prelude + script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, (
                f"README ```sh block {number} failed (exit {done.returncode}):\n{block}\n"
                f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
            )
    finally:
        workers_stop(worker)
