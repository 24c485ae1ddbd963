"""Writes of the jobs app: enqueueing a job. Running one lives in `jobs.runner`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django_tasks_db.backend import DatabaseBackend

from tenants.models import Tenant

from . import registry
from .models import Job


def job_enqueue(*, tenant: Tenant, kind: str, params: Mapping[str, Any]) -> Job:
    """Create a queued job of `kind` for `tenant` and hand it to the worker.

    Called inside a transaction, the job (and the task that carries it, written to the same
    database by the django-tasks database backend) becomes visible to workers only when that
    transaction commits, and vanishes with it on a rollback. `params` must be JSON-able; the
    handler receives them unchanged. An unknown kind is a programming error (ValueError)."""
    if registry.handler_get(kind) is None:
        raise ValueError(f"No handler registered for job kind {kind!r} (known: {registry.kinds()}).")
    with transaction.atomic():
        job = Job.objects.create(tenant=tenant, kind=kind, params=dict(params))
        job_dispatch(job=job)
    return job


def job_dispatch(*, job: Job, run_after: Any = None) -> None:
    """Queue one run of `job` on the task backend (now, or not before `run_after`).

    With the database backend the task row is written in the caller's transaction; another
    backend (not used by this project) would lose a task sent before the commit, so it is sent
    on commit instead. Dispatching a job twice is harmless: a run first claims the job row."""
    from .tasks import job_run

    task = job_run.using(run_after=run_after) if run_after is not None else job_run

    def send() -> None:
        result = task.enqueue(str(job.pk))
        Job.objects.filter(pk=job.pk).update(task_id=str(result.id))
        job.task_id = str(result.id)

    if isinstance(task.get_backend(), DatabaseBackend):
        send()
    else:
        transaction.on_commit(send)
