"""The worker process: django-tasks' database worker plus the sweeper of abandoned jobs.

`python manage.py jobs_worker` (the Procfile's `worker:` line) runs it. Any number of workers
may run, on any number of hosts: on PostgreSQL they claim tasks with SELECT … FOR UPDATE SKIP
LOCKED; on SQLite one claim at a time under an exclusive transaction."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from .runner import jobs_sweep

logger = logging.getLogger(__name__)

BACKEND = "default"


class Sweeper(threading.Thread):
    """Every CDP_JOB_SWEEP_SECONDS, in its own database connection, re-queues jobs whose
    worker died (their lease expired)."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="jobs-sweeper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            sweep_once()
        connection.close()


def sweep_once() -> int:
    try:
        close_old_connections()
        return jobs_sweep()
    except DatabaseError:  # a busy or unreachable database: the next sweep tries again
        logger.warning("jobs sweep failed; retrying at the next interval", exc_info=True)
        connection.close()
        return 0


def worker_run(*, interval: float = 1.0, batch: bool = False, max_tasks: int | None = None) -> None:
    """Run the worker loop until SIGINT/SIGTERM (or, with `batch`, until the queue is empty)."""
    sweep_once()
    sweeper = Sweeper(settings.CDP_JOB_SWEEP_SECONDS)
    sweeper.start()
    worker = Worker(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name=BACKEND,
        startup_delay=not batch,
        max_tasks=max_tasks,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )
    worker.configure_signals()
    try:
        worker.run()
    finally:
        sweeper.stopped.set()


def jobs_run_pending(*, limit: int = 1000) -> int:
    """Run, in this process and thread, every task that is ready now (not the deferred
    retries), one after the other; returns how many ran. For tests and for one-off use from
    a shell; production uses the worker process."""
    runner = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name=BACKEND,
        startup_delay=False,
        max_tasks=None,
        worker_id=get_random_string(32),
        excluded_queue_names=[],
    )
    ran = 0
    while ran < limit:
        with transaction.atomic():
            task_result = DBTaskResult.objects.ready().filter(backend_name=BACKEND).get_locked()
            if task_result is None:
                break
            task_result.claim(runner.worker_id)
        runner.run_task(task_result)
        ran += 1
    return ran
