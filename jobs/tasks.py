"""The one django-tasks task of the project: run a job. Every kind of job goes through it,
so the task backend only ever carries job ids; the job row holds the rest."""

from __future__ import annotations

from django_tasks import task

from .runner import job_execute


@task()
def job_run(job_id: str) -> None:
    job_execute(job_id=job_id)
