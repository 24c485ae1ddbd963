"""Request ids on every answer, JSON logs that carry them, and /metrics: the CDP's counters,
an optional bearer token, and sums across the worker processes of the Procfile's web process."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from jobs import registry
from jobs.services import job_enqueue
from jobs.worker import jobs_run_pending
from tests.core.test_make_run import free_port, group_members_left
from tests.core.test_web_process import procfile_web_start, procfile_web_stop

ROOT = Path(__file__).resolve().parents[2]


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and wanted <= set(filter(None, (match.group(1) or "").split(","))):
            total += float(match.group(2))
    return total


def test_every_answer_carries_a_request_id_and_honours_a_sane_incoming_one(client):
    generated = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/healthz", HTTP_X_REQUEST_ID="trace-42.a:b").headers["X-Request-ID"] == "trace-42.a:b"
    assert client.get("/api/v1/nope", HTTP_X_REQUEST_ID="abc")["X-Request-ID"] == "abc"  # a 404 problem too
    bad = client.get("/healthz", HTTP_X_REQUEST_ID="no spaces\tor tabs")["X-Request-ID"]
    assert bad != "no spaces\tor tabs" and re.fullmatch(r"[0-9a-f]{32}", bad)
    assert len(client.get("/healthz", HTTP_X_REQUEST_ID="a" * 129)["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_json_log_lines_carry_the_request_id(admin_api, caplog):
    from pythonjsonlogger.json import JsonFormatter

    with caplog.at_level(logging.INFO, logger="cdp.access"):
        admin_api.get("/api/v1/event-types", HTTP_X_REQUEST_ID="req-7")
    record = next(r for r in caplog.records if r.name == "cdp.access")
    line = json.loads(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s").format(record))
    assert line["request_id"] == "req-7"
    assert line["status"] == 200 and line["route"] == "/api/v1/event-types" and line["method"] == "GET"


@pytest.mark.django_db
def test_metrics_count_ingest_outcomes_by_source_requests_and_jobs(client, tenant, ingest_api, admin_api):
    from contracts.plans import contracts_plan_import
    from ingest.services import source_create
    from ingest.tests.conftest import EVENT, PLAN

    contracts_plan_import(tenant_id=tenant.pk, plan=PLAN)
    source_create(tenant=tenant, key="shop-backend", name="Shop")
    before = client.get("/metrics").content.decode()
    assert ingest_api.post("/api/v1/events", EVENT, format="json").status_code == 201
    assert ingest_api.post("/api/v1/events", EVENT, format="json").status_code == 200
    bad = {**EVENT, "externalEventId": "x-1", "properties": {}}
    assert ingest_api.post("/api/v1/events/batch", {"events": [bad]}, format="json").status_code == 200
    registry.register("tests.metrics.ok", lambda job, params, progress: None)
    job_enqueue(tenant=tenant, kind="tests.metrics.ok", params={})
    job_enqueue(tenant=tenant, kind="tests.metrics.ok", params={})
    jobs_run_pending(limit=1)

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    after = response.content.decode()

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    event = {"kind": "event", "source": "shop-backend"}
    assert delta("cdp_ingest_items_total", outcome="accepted", **event) == 1
    assert delta("cdp_ingest_items_total", outcome="duplicate", **event) == 1
    assert delta("cdp_ingest_items_total", outcome="rejected", **event) == 1
    assert delta("cdp_http_request_duration_seconds_count", route="/api/v1/events", method="POST") == 2
    assert delta("cdp_job_runs_total", kind="tests.metrics.ok", outcome="succeeded") == 1
    assert sample(after, "cdp_jobs", kind="tests.metrics.ok", status="queued") == 1
    assert sample(after, "cdp_jobs", kind="tests.metrics.ok", status="succeeded") == 1
    assert sample(after, "cdp_jobs_queue_depth") >= 1


@pytest.mark.django_db
def test_metrics_need_the_bearer_token_when_one_is_configured(client, settings):
    settings.CDP_METRICS_TOKEN = "s3cret-token"
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, object, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read().decode()


@pytest.mark.skipif(connection.vendor == "sqlite", reason="runs once, in the PostgreSQL pass")
@pytest.mark.django_db
def test_the_procfile_web_process_sums_metrics_over_its_workers_and_logs_json(tmp_path):
    port = free_port()
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    (prometheus_dir / "counter_999999.db").write_bytes(b"stale")  # from an earlier run: wiped at start
    log = tmp_path / "web.log"
    process = procfile_web_start(
        port, log, CDP_LOG_FORMAT="json", PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir), WEB_CONCURRENCY="2"
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get(port, "/healthz")
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        assert not (prometheus_dir / "counter_999999.db").exists()
        sent = 1
        # Fresh connections until both worker processes have served some (each keeps its own
        # file). By time, not by count: the second worker may still be loading the app while
        # the first answers hundreds of probes (seen on a loaded CI machine).
        deadline = time.monotonic() + 60
        while len({p.name.rsplit("_", 1)[1] for p in prometheus_dir.glob("histogram_*.db")}) < 2:
            if time.monotonic() > deadline:
                break
            get(port, "/healthz")
            sent += 1
            time.sleep(0.02)
        assert len(list(prometheus_dir.glob("histogram_*.db"))) >= 2, "both workers served requests"
        for _ in range(20):
            status, headers, _ = get(port, "/healthz", {"X-Request-ID": "probe-1"})
            assert status == 200 and headers["X-Request-ID"] == "probe-1"
            sent += 1
        totals = set()
        for _ in range(6):  # whichever worker answers the scrape, it reports the sum of all
            _, _, text = get(port, "/metrics")
            totals.add(sample(text, "cdp_http_request_duration_seconds_count", route="/healthz"))
        assert totals == {float(sent)}
    finally:
        procfile_web_stop(process)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    probe = [line for line in lines if line.get("request_id") == "probe-1" and line["logger"] == "cdp.access"]
    assert len(probe) == 20 and probe[0]["status"] == 200 and probe[0]["path"] == "/healthz"
    assert group_members_left(process.pid) == []
