"""Job outcomes for /metrics (the metric objects live in cdp_project.core.metrics)."""

from __future__ import annotations


def job_finished(*, kind: str, outcome: str) -> None:
    """Count one run's end: succeeded, failed, or retried (a transient error)."""


def jobs_recovered(*, count: int) -> None:
    """Count jobs put back in the queue after their worker died."""
