"""An export job survives its worker being killed (kill -9) mid-file: another worker takes the
job over once its lease expires, cuts the file back to the last checkpoint, goes on behind the
last exported profile, and the downloaded file is byte for byte the streaming export."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from jobs.models import Job
from jobs.tests.workers import wait_for, worker_start, workers_stop

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

PROFILES = 1200
CHUNK = 10  # rows per slice (and checkpoint) in the worker: 120 checkpoints to be killed between
EVERYONE = {
    "key": "everyone",
    "name": "Everyone",
    "definition": {"any": [{"attribute": "tier", "op": "exists"}, {"not": {"attribute": "tier", "op": "exists"}}]},
}


def start_worker(log: Path, export_dir: Path) -> subprocess.Popen:
    env = {
        "CDP_JOB_LEASE_SECONDS": "3",
        "CDP_JOB_SWEEP_SECONDS": "1",
        "CDP_EXPORT_DIR": str(export_dir),
        "CDP_EXPORT_JOB_CHUNK_ROWS": str(CHUNK),
    }
    return worker_start(log, env)


def test_an_export_job_killed_mid_file_resumes_and_writes_exactly_the_streamed_bytes(
    api, empty_world, settings, tmp_path
):
    export_dir = tmp_path / "exports"
    settings.CDP_EXPORT_DIR = export_dir
    updates = [
        {
            "source": "crm",
            "externalEventId": f"cu-{n}",
            "occurredAt": "2026-11-20T10:15:00+01:00",
            "identity": {"EXTERNAL": f"cust-{n}"},
            "channel": "EMAIL",
            "address": f"cust{n}@example.com",
            "consent": "granted",
        }
        for n in range(PROFILES)
    ]
    for start in range(0, PROFILES, 1000):
        response = api.post("/api/v1/channel-updates/batch", {"updates": updates[start : start + 1000]}, format="json")
        assert response.status_code == 200, response.content
    assert api.post("/api/v1/segments", EVERYONE, format="json").status_code == 201
    streamed = api.get("/api/v1/segments/everyone/export", {"channel": "EMAIL", "attributes": "tier"})
    expected = b"".join(streamed.streaming_content)
    assert expected.count(b"\r\n") == 1 + PROFILES

    response = api.post(
        "/api/v1/segments/everyone/exports", {"channel": "EMAIL", "attributes": ["tier"]}, format="json"
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]

    log = tmp_path / "worker.log"
    first = start_worker(log, export_dir)
    second = None
    try:
        wait_for(
            lambda: Job.objects.get(pk=job_id).progress_done >= 3 * CHUNK,
            timeout=180,
            what="the first worker to checkpoint some slices",
            poll=0.01,
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        stopped = Job.objects.get(pk=job_id)
        assert stopped.status == Job.Status.RUNNING, "the dead worker left its job running"
        assert 3 * CHUNK <= stopped.checkpoint["rows"] < PROFILES, "killed mid-file"
        (part,) = export_dir.rglob("*.part")
        assert part.stat().st_size >= stopped.checkpoint["bytes"] > 0
        assert api.get(f"/api/v1/exports/{job_id}/download").json()["code"] == "export_not_ready"

        second = start_worker(log, export_dir)
        finished = wait_for(
            lambda: (j := Job.objects.get(pk=job_id)).is_finished and j,
            timeout=240,
            what="the second worker to finish the job",
        )
    finally:
        workers_stop(first, second)

    assert finished.status == Job.Status.SUCCEEDED, (finished.error, log.read_text()[-3000:])
    assert finished.attempts == 2
    assert finished.result["rows"] == PROFILES and finished.result["bytes"] == len(expected)
    assert finished.progress_done == finished.progress_total == PROFILES
    assert not list(export_dir.rglob("*.part"))
    download = api.get(finished.result["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == expected, "the resumed file is the streamed export, byte for byte"
