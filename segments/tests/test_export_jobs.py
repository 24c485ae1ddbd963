"""Exports as jobs: POST /api/v1/segments/{key}/exports answers 202 with a job; the worker writes
the file (exactly the bytes of the streaming export, a checkpointed slice at a time); the finished
job's result links GET /api/v1/exports/{id}/download. The streaming export answers up to
CDP_EXPORT_STREAM_MAX_ROWS rows and points larger ones to the job."""

from __future__ import annotations

import pytest

from jobs.models import Job
from jobs.worker import jobs_run_pending

pytestmark = pytest.mark.django_db

EVERYONE = {
    "key": "everyone",
    "name": "Everyone",
    "definition": {"any": [{"attribute": "tier", "op": "exists"}, {"not": {"attribute": "tier", "op": "exists"}}]},
}
NOBODY = {"key": "nobody", "name": "Nobody", "definition": {"attribute": "tier", "op": "eq", "value": "platinum"}}


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.CDP_EXPORT_DIR = tmp_path / "exports"
    settings.CDP_EXPORT_JOB_CHUNK_ROWS = 2  # several slices (and checkpoints) even in a small world
    return settings.CDP_EXPORT_DIR


@pytest.fixture
def segments(api, world, export_dir):
    for i in range(5):  # 7 EMAIL-ready members in all (ann, ivy and these): four slices
        world.endpoint(f"extra-{i}", "EMAIL", f"extra{i}@example.com", consent="granted")
    for segment in (EVERYONE, NOBODY):
        assert api.post("/api/v1/segments", segment, format="json").status_code == 201
    return world


def streamed(api, key, params):
    response = api.get(f"/api/v1/segments/{key}/export", params)
    assert response.status_code == 200, response.content
    return response, b"".join(response.streaming_content)


def export_job(api, key, body):
    response = api.post(f"/api/v1/segments/{key}/exports", body, format="json")
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["kind"] == "segments.export" and job["status"] == "queued"
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    return job


def downloaded(api, job):
    response = api.get(job["result"]["url"])
    assert response.status_code == 200, response.content
    return response, b"".join(response.streaming_content)


@pytest.mark.parametrize(
    ("key", "fmt", "attributes"),
    [
        ("everyone", "csv", ["tier", "firstName", "ordersTotal", "tags"]),
        ("everyone", "ndjson", ["age", "vip", "lastCurrency"]),
        ("everyone", "csv", []),
        ("nobody", "csv", ["tier"]),  # no rows: the header alone, as streamed
        ("nobody", "ndjson", []),  # no rows: an empty file
    ],
)
def test_the_export_job_writes_exactly_the_bytes_of_the_streaming_export(api, segments, key, fmt, attributes):
    stream_response, expected = streamed(
        api, key, {"channel": "EMAIL", "format": fmt, "attributes": ",".join(attributes)}
    )
    job = export_job(api, key, {"channel": "EMAIL", "format": fmt, "attributes": attributes})
    assert api.get(f"/api/v1/exports/{job['id']}/download").json()["code"] == "export_not_ready"

    assert jobs_run_pending() == 1

    job = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    rows = len(expected.decode().splitlines()) - (1 if fmt == "csv" else 0)
    assert job["result"] == {
        "url": f"/api/v1/exports/{job['id']}/download",
        "segment": key,
        "channel": "EMAIL",
        "format": fmt,
        "contentType": stream_response["Content-Type"],
        "filename": f"{key}-email.{fmt}",
        "rows": rows,
        "bytes": len(expected),
    }
    assert job["progress"] == {"done": rows, "total": rows}
    response, body = downloaded(api, job)
    assert body == expected
    assert response["Content-Type"] == stream_response["Content-Type"]
    assert response["Content-Disposition"] == stream_response["Content-Disposition"]
    if key == "everyone":
        assert rows == 7


def test_the_file_is_another_tenants_404_and_only_export_jobs_download(api, segments, other_admin_api, tenant):
    job = export_job(api, "everyone", {"channel": "EMAIL"})
    jobs_run_pending()
    url = f"/api/v1/exports/{job['id']}/download"
    assert api.get(url).status_code == 200
    for path in (url, f"/api/v1/jobs/{job['id']}"):
        response = other_admin_api.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert (
        other_admin_api.post("/api/v1/segments/everyone/exports", {"channel": "EMAIL"}, format="json").status_code
        == 404
    )
    assert api.post("/api/v1/segments/missing/exports", {"channel": "EMAIL"}, format="json").status_code == 404
    backfill = Job.objects.filter(tenant=tenant, kind="derived.backfill").first()
    for other in (backfill.pk, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert api.get(f"/api/v1/exports/{other}/download").status_code == 404


def test_a_removed_file_is_gone_and_a_failed_job_says_why(api, segments, export_dir):
    job = export_job(api, "everyone", {"channel": "EMAIL"})
    jobs_run_pending()
    for path in export_dir.rglob("*.csv"):
        path.unlink()
    response = api.get(f"/api/v1/exports/{job['id']}/download")
    assert response.status_code == 410 and response.json()["code"] == "export_gone"

    failing = export_job(api, "everyone", {"channel": "EMAIL", "attributes": ["tier"]})
    # As if the attribute had been removed since (no API removes one): the run finds it unknown.
    Job.objects.filter(pk=failing["id"]).update(
        params={**Job.objects.get(pk=failing["id"]).params, "attributes": ["gone"]}
    )
    jobs_run_pending()
    failed = api.get(f"/api/v1/jobs/{failing['id']}").json()
    assert failed["status"] == "failed" and "'gone' is not an attribute" in failed["error"]
    response = api.get(f"/api/v1/exports/{failing['id']}/download")
    assert response.status_code == 409 and response.json()["code"] == "export_failed"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {("/channel", "unknown_channel")}),
        ({"channel": 5}, {("/channel", "unknown_channel")}),
        ({"channel": "EMAIL", "format": "xlsx"}, {("/format", "unknown_format")}),
        ({"channel": "EMAIL", "attributes": "tier"}, set()),  # a comma-separated string is taken too
        ({"channel": "EMAIL", "attributes": {"tier": 1}}, {("/attributes", "type")}),
        (
            {"channel": "EMAIL", "attributes": ["tier", 3, "a,b"]},
            {("/attributes/1", "type"), ("/attributes/2", "type")},
        ),
        ({"channel": "EMAIL", "attributes": ["tier", "nope"]}, {("/attributes/1", "unknown_attribute")}),
        ({"channel": "EMAIL", "attributes": ["address"]}, {("/attributes/0", "reserved")}),
        ({"channel": "EMAIL", "limit": 3}, {("/limit", "unknown_parameter")}),
    ],
)
def test_bad_export_job_bodies_are_422_problems_with_pointers_and_queue_nothing(api, segments, body, expected):
    before = Job.objects.count()
    response = api.post("/api/v1/segments/everyone/exports", body, format="json")
    if not expected:
        assert response.status_code == 202
        return
    assert response.status_code == 422, response.content
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert {(e["pointer"], e["code"]) for e in response.json()["errors"]} == expected
    assert Job.objects.count() == before


def test_a_body_that_is_not_an_object_is_a_400(api, segments):
    assert api.post("/api/v1/segments/everyone/exports", ["EMAIL"], format="json").status_code == 400


def test_an_export_job_reading_a_backfilling_derived_attribute_is_refused_with_409(api, segments):
    created = api.post(
        "/api/v1/derived-attributes",
        {"name": "smallestOrder", "eventType": "order_completed", "property": "total", "aggregation": "min"},
        format="json",
    )
    assert created.status_code == 201
    response = api.post(
        "/api/v1/segments/everyone/exports", {"channel": "EMAIL", "attributes": ["smallestOrder"]}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "derived_backfilling"
    assert not Job.objects.filter(kind="segments.export").exists()


def test_an_export_over_the_stream_limit_points_to_the_job_which_exports_it(api, segments, settings):
    settings.CDP_EXPORT_STREAM_MAX_ROWS = 7
    _, expected = streamed(api, "everyone", {"channel": "EMAIL"})  # exactly at the limit: streamed
    settings.CDP_EXPORT_STREAM_MAX_ROWS = 6
    response = api.get("/api/v1/segments/everyone/export", {"channel": "EMAIL"})
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "export_too_large"
    assert "more than 6 rows" in problem["detail"] and "POST /api/v1/segments/everyone/exports" in problem["detail"]
    assert streamed(api, "everyone", {"channel": "SMS"})[1].count(b"\n") == 1 + 1  # a smaller one still streams

    job = export_job(api, "everyone", {"channel": "EMAIL"})
    jobs_run_pending()
    assert downloaded(api, api.get(f"/api/v1/jobs/{job['id']}").json())[1] == expected


def test_export_files_past_their_retention_are_pruned_and_then_gone(api, segments, export_dir, settings):
    import io
    import os
    import time

    from django.core.management import call_command

    old = export_job(api, "everyone", {"channel": "EMAIL"})
    jobs_run_pending()
    (path,) = export_dir.rglob("*.csv")
    hours = settings.CDP_EXPORT_RETENTION_HOURS
    os.utime(path, (time.time() - hours * 3600 - 60,) * 2)
    fresh = export_job(api, "everyone", {"channel": "EMAIL", "format": "ndjson"})
    jobs_run_pending()  # an export job prunes its tenant's expired files
    assert not path.exists()
    response = api.get(f"/api/v1/exports/{old['id']}/download")
    assert response.status_code == 410 and response.json()["code"] == "export_gone"
    assert api.get(f"/api/v1/exports/{fresh['id']}/download").status_code == 200

    (kept,) = export_dir.rglob("*.ndjson")
    out = io.StringIO()
    call_command("exports_prune", stdout=out)
    assert out.getvalue().strip() == "Removed 0 export file(s)." and kept.exists()
    os.utime(kept, (time.time() - hours * 3600 - 60,) * 2)
    call_command("exports_prune", "--tenant", "acme", stdout=out)
    assert "Removed 1 export file(s)." in out.getvalue() and not kept.exists()
