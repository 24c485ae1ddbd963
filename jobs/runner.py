"""Running jobs: claim, heartbeat, finish, retry, and taking over jobs whose worker died.

A run starts by claiming the job row with one conditional UPDATE (queued, or running with an
expired lease), which also bumps `attempts`. That number is the run's fencing token: every
later write of the run (progress, finish, retry) is conditional on it, so a run that was taken
over (its worker paused past its lease) cannot overwrite its successor; it stops with
`JobLeaseLost` at its next progress report.

The django-tasks database backend has no notion of a run whose worker vanished (a task it
marked RUNNING stays so forever). `jobs_sweep` closes that gap: run by every worker at start
and then every CDP_JOB_SWEEP_SECONDS, it puts back in the queue each running job whose lease
expired, with a fresh task.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from cdp_project.core.errors import ProblemError

from . import metrics, registry
from .models import Job
from .services import job_dispatch

logger = logging.getLogger(__name__)

_UNSET: Any = object()
MAX_ERROR_LENGTH = 2000


class JobLeaseLost(Exception):
    """This run no longer owns its job (another worker took it over, or it was re-queued)."""


def _lease_seconds() -> int:
    return settings.CDP_JOB_LEASE_SECONDS


def is_transient(error: BaseException) -> bool:
    """Worth another try later: a lost database connection, a deadlock or serialization
    failure, a busy SQLite database, or a domain 503 (a race lost too often)."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, ProblemError) and error.status == 503


def error_message(error: BaseException) -> str:
    """What the API and the admin show: the message alone, never a traceback."""
    if isinstance(error, ProblemError):
        text = error.detail or error.title
    else:
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text or type(error).__name__
    return text[:MAX_ERROR_LENGTH]


class JobProgress:
    """The `progress` callable handed to a handler: records done/total and, optionally, a
    checkpoint, and renews the lease. Called inside the handler's own transaction, the
    checkpoint commits (or rolls back) together with the work it describes."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.attempt = job.attempts

    def __call__(self, *, done: int, total: int | None = None, checkpoint: Any = _UNSET) -> None:
        changes: dict[str, Any] = {
            "progress_done": max(0, int(done)),
            "lease_expires_at": timezone.now() + dt.timedelta(seconds=_lease_seconds()),
            "updated_at": timezone.now(),
        }
        if total is not None:
            changes["progress_total"] = max(0, int(total))
        if checkpoint is not _UNSET:
            changes["checkpoint"] = checkpoint
        owned = Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.attempt).update(**changes)
        if not owned:
            raise JobLeaseLost(f"job {self.job.pk} was taken over by another run")
        for name, value in changes.items():
            setattr(self.job, name, value)


def _claim(job_id: str) -> Job | None:
    now = timezone.now()
    claimable = Q(status=Job.Status.QUEUED) | Q(status=Job.Status.RUNNING, lease_expires_at__lt=now)
    claimed = Job.objects.filter(claimable, pk=job_id).update(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + dt.timedelta(seconds=_lease_seconds()),
        started_at=Coalesce(F("started_at"), now),
        updated_at=now,
    )
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def _finish(job: Job, *, attempt: int, **changes: Any) -> bool:
    now = timezone.now()
    return bool(
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=attempt).update(
            finished_at=now, updated_at=now, lease_expires_at=None, **changes
        )
    )


def _fail(job: Job, *, attempt: int, message: str) -> None:
    if _finish(job, attempt=attempt, status=Job.Status.FAILED, error=message):
        metrics.job_finished(kind=job.kind, outcome="failed")


def _retry_later(job: Job, *, attempt: int, message: str) -> None:
    """Back in the queue, not before an exponential, jittered delay."""
    delay = min(settings.CDP_JOB_RETRY_BASE_SECONDS * 2 ** (attempt - 1), settings.CDP_JOB_RETRY_MAX_SECONDS)
    run_after = timezone.now() + dt.timedelta(seconds=delay * random.uniform(1.0, 1.25))
    with transaction.atomic():
        requeued = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=attempt).update(
            status=Job.Status.QUEUED, lease_expires_at=None, error=message, updated_at=timezone.now()
        )
        if requeued:
            job_dispatch(job=job, run_after=run_after)
    if requeued:
        metrics.job_finished(kind=job.kind, outcome="retried")
        logger.warning("job %s (%s) hit a transient error, retry in %.1fs: %s", job.pk, job.kind, delay, message)


def _recover_connection() -> None:
    """After a database error the connection may be broken or inside a failed transaction;
    the worker is not inside any atomic block here, so a fresh connection is always safe."""
    if not connection.in_atomic_block:
        connection.close()


def job_execute(*, job_id: str) -> None:
    """Run one job to its end (or to its next retry). Safe to call for a job that is already
    running elsewhere or finished: the claim fails and nothing happens."""
    job = _claim(job_id)
    if job is None:
        logger.info("job %s is not claimable (finished, or running under a live lease)", job_id)
        return
    attempt = job.attempts
    if attempt > settings.CDP_JOB_MAX_ATTEMPTS:
        _fail(
            job,
            attempt=attempt,
            message=f"Gave up after {attempt - 1} attempts. Last error: {job.error or 'worker lost'}",
        )
        return
    handler = registry.handler_get(job.kind)
    if handler is None:
        _fail(job, attempt=attempt, message=f"No handler for job kind {job.kind!r} in this worker.")
        return
    logger.info("job %s (%s) started, attempt %s", job.pk, job.kind, attempt)
    try:
        result = handler(job, job.params, JobProgress(job))
    except JobLeaseLost as error:
        logger.warning("%s; this run stops", error)
        return
    except Exception as error:  # recorded on the job (message) and in the log (traceback)
        if isinstance(error, DatabaseError):
            _recover_connection()
        message = error_message(error)
        if is_transient(error) and attempt < settings.CDP_JOB_MAX_ATTEMPTS:
            _retry_later(job, attempt=attempt, message=message)
        else:
            logger.exception("job %s (%s) failed", job.pk, job.kind)
            _fail(job, attempt=attempt, message=message)
        return
    job.refresh_from_db(fields=["progress_done", "progress_total"])
    done = max(job.progress_done, job.progress_total)
    if _finish(job, attempt=attempt, status=Job.Status.SUCCEEDED, result=result, error="", progress_done=done):
        metrics.job_finished(kind=job.kind, outcome="succeeded")
        logger.info("job %s (%s) succeeded", job.pk, job.kind)


def jobs_sweep() -> int:
    """Queue again every running job whose lease expired (its worker died or hung), each
    with a new task. Returns how many. Safe to run from any number of workers at once."""
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    requeued = 0
    expired = Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now).values_list(
        "pk", "attempts", "task_id"
    )[:1000]
    for job_id, attempts, task_id in list(expired):
        with transaction.atomic():
            taken = Job.objects.filter(
                pk=job_id, status=Job.Status.RUNNING, attempts=attempts, lease_expires_at__lt=now
            ).update(status=Job.Status.QUEUED, lease_expires_at=None, updated_at=now)
            if not taken:
                continue
            if task_id:
                DBTaskResult.objects.filter(pk=task_id, status="RUNNING").update(status="FAILED", finished_at=now)
            job_dispatch(job=Job.objects.get(pk=job_id))
        requeued += 1
        logger.warning("job %s lost its worker (lease expired); queued again", job_id)
    if requeued:
        metrics.jobs_recovered(count=requeued)
    return requeued
