"""`python manage.py jobs_worker`: the background worker (the Procfile's `worker:` line)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cdp_project.core.process import garbage_collector_tune
from jobs.worker import worker_run


class Command(BaseCommand):
    help = "Run the background worker: take queued jobs and run them; re-queue jobs whose worker died."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls of an empty queue.")
        parser.add_argument("--batch", action="store_true", help="Run what is ready now, then exit.")
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after this many tasks.")

    def handle(self, *args: Any, interval: float, batch: bool, max_tasks: int | None, **options: Any) -> None:
        level = logging.WARNING if options["verbosity"] == 0 else logging.INFO
        for name in ("jobs", "django_tasks", "django_tasks_db"):
            logging.getLogger(name).setLevel(level)
        garbage_collector_tune()
        worker_run(interval=interval, batch=batch, max_tasks=max_tasks)
