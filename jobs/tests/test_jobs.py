"""Jobs: enqueued with the caller's transaction, run by the worker, retried on transient
errors, taken over when their worker vanished, and observable (tenant-scoped) in the API."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jobs import registry
from jobs.models import Job
from jobs.runner import JobLeaseLost, JobProgress, _claim, jobs_sweep
from jobs.services import job_enqueue
from jobs.worker import jobs_run_pending

ITEMS = 10
seen_runs: list[dict] = []


def counting_handler(job, params, progress):
    """Counts items one at a time from its checkpoint; stops (as if killed) at params["stop_at"]
    on the first attempt."""
    start = job.checkpoint or 0
    seen_runs.append({"attempt": job.attempts, "start": start})
    for item in range(start, params["items"]):
        if job.attempts == 1 and item == params.get("stop_at"):
            raise KeyboardInterrupt  # never reached in tests that call it: see the sweep test
        progress(done=item + 1, total=params["items"], checkpoint=item + 1)
    return {"counted": params["items"] - start}


def failing_handler(job, params, progress):
    raise ValueError("Attribute 'tier' vanished\nTraceback (most recent call last): nothing to see")


def flaky_handler(job, params, progress):
    if job.attempts < params["fail_times"] + 1:
        raise OperationalError("deadlock detected")
    return {"attempts": job.attempts}


registry.register("tests.count", counting_handler)
registry.register("tests.fail", failing_handler)
registry.register("tests.flaky", flaky_handler)


@pytest.fixture(autouse=True)
def _reset_runs():
    seen_runs.clear()


def job_json(client, job):
    response = client.get(f"/api/v1/jobs/{job.pk}")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_job_runs_to_success_and_the_api_shows_its_progress_and_result(tenant, admin_api):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": ITEMS})
    body = job_json(admin_api, job)
    assert body["status"] == "queued"
    assert body["progress"] == {"done": 0, "total": 0}
    assert body["startedAt"] is None and body["result"] is None and body["error"] is None

    assert jobs_run_pending() == 1

    body = job_json(admin_api, job)
    assert body["id"] == str(job.pk)
    assert body["kind"] == "tests.count"
    assert body["status"] == "succeeded"
    assert body["progress"] == {"done": ITEMS, "total": ITEMS}
    assert body["result"] == {"counted": ITEMS}
    assert body["error"] is None
    assert body["createdAt"] <= body["startedAt"] <= body["finishedAt"]


def test_a_job_enqueued_in_a_transaction_that_rolls_back_never_exists(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        job_enqueue(tenant=tenant, kind="tests.count", params={"items": 1})
        raise RuntimeError("the caller's transaction fails")
    assert not Job.objects.exists()
    assert not DBTaskResult.objects.exists()
    assert jobs_run_pending() == 0


def test_an_unknown_kind_is_refused_at_enqueue(tenant):
    with pytest.raises(ValueError, match="No handler"):
        job_enqueue(tenant=tenant, kind="tests.nope", params={})
    assert not Job.objects.exists()


def test_a_failed_job_keeps_the_message_and_never_a_traceback(tenant, admin_api):
    job = job_enqueue(tenant=tenant, kind="tests.fail", params={})
    jobs_run_pending()
    body = job_json(admin_api, job)
    assert body["status"] == "failed"
    assert body["error"] == "Attribute 'tier' vanished"
    assert "Traceback" not in response_text(admin_api, job)
    assert body["finishedAt"] is not None


def response_text(client, job):
    return client.get(f"/api/v1/jobs/{job.pk}").content.decode()


def test_a_transient_error_is_retried_later_with_backoff_then_succeeds(tenant, admin_api, settings):
    settings.CDP_JOB_RETRY_BASE_SECONDS = 30
    job = job_enqueue(tenant=tenant, kind="tests.flaky", params={"fail_times": 1})
    jobs_run_pending()

    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED
    assert job.error == "deadlock detected"
    assert job.attempts == 1
    retry = DBTaskResult.objects.get(pk=job.task_id)
    assert retry.status == "READY"
    assert retry.run_after >= timezone.now() + dt.timedelta(seconds=29)
    assert jobs_run_pending() == 0, "the retry waits for its backoff"

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    assert jobs_run_pending() == 1
    body = job_json(admin_api, job)
    assert body["status"] == "succeeded"
    assert body["result"] == {"attempts": 2}
    assert body["error"] is None


def test_transient_errors_stop_being_retried_after_the_last_attempt(tenant, settings):
    settings.CDP_JOB_RETRY_BASE_SECONDS = 0
    settings.CDP_JOB_MAX_ATTEMPTS = 3
    job = job_enqueue(tenant=tenant, kind="tests.flaky", params={"fail_times": 10})
    for _ in range(5):
        jobs_run_pending()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.attempts == 3
    assert job.error == "deadlock detected"


def test_a_job_whose_worker_died_is_queued_again_and_resumes_from_its_checkpoint(tenant, admin_api):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": ITEMS})
    # A worker claims the job, reports 4 items with their checkpoint, then dies (kill -9):
    # nothing else is written, its lease is the only trace.
    claimed = _claim(str(job.pk))
    JobProgress(claimed)(done=4, total=ITEMS, checkpoint=4)
    DBTaskResult.objects.filter(pk=job.task_id).update(status="RUNNING")
    assert jobs_sweep() == 0, "a live lease is left alone"

    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert jobs_sweep() == 1
    assert jobs_sweep() == 0, "queued once"
    assert DBTaskResult.objects.get(pk=claimed.task_id).status == "FAILED", "the dead run's task is closed"

    assert jobs_run_pending() == 1
    assert seen_runs == [{"attempt": 2, "start": 4}]
    body = job_json(admin_api, job)
    assert body["status"] == "succeeded"
    assert body["result"] == {"counted": ITEMS - 4}
    assert body["progress"] == {"done": ITEMS, "total": ITEMS}


def test_a_run_that_was_taken_over_cannot_write_any_more(tenant):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": ITEMS})
    first = _claim(str(job.pk))
    slow_progress = JobProgress(first)
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    jobs_sweep()
    jobs_run_pending()
    with pytest.raises(JobLeaseLost):
        slow_progress(done=1, checkpoint=1)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.checkpoint == ITEMS


def test_running_a_finished_job_again_does_nothing(tenant):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": 2})
    jobs_run_pending()
    from jobs.services import job_dispatch

    job_dispatch(job=job)
    assert jobs_run_pending() == 1
    assert len(seen_runs) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 1


def test_another_tenants_job_an_unknown_id_and_a_malformed_id_are_404(tenant, admin_api, other_admin_api):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": 1})
    for client, path in [
        (other_admin_api, f"/api/v1/jobs/{job.pk}"),
        (admin_api, f"/api/v1/jobs/{uuid.uuid4()}"),
        (admin_api, "/api/v1/jobs/not-a-uuid"),
    ]:
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


def test_the_jobs_api_needs_the_admin_scope(tenant, ingest_api):
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": 1})
    assert ingest_api.get(f"/api/v1/jobs/{job.pk}").status_code == 403


def test_the_admin_lists_jobs_with_status_and_progress_read_only(client, tenant, other_tenant):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    job = job_enqueue(tenant=tenant, kind="tests.count", params={"items": ITEMS})
    jobs_run_pending()
    job_enqueue(tenant=other_tenant, kind="tests.fail", params={})

    page = client.get("/admin/jobs/job/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "tests.count" in text and "succeeded" in text and f"{ITEMS} / {ITEMS} (100%)" in text
    scoped = result_list(client.get(f"/admin/jobs/job/?tenant__id__exact={tenant.pk}").content.decode())
    assert "tests.count" in scoped and "tests.fail" not in scoped
    detail = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert detail.status_code == 200 and "Save" not in detail.content.decode()
    assert client.get("/admin/jobs/job/add/").status_code == 403


def result_list(html: str) -> str:
    start = html.index('id="result_list"')
    return html[start : html.index("</table>", start)]
