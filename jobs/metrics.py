"""Job outcomes for /metrics (the metric objects live in cdp_project.core.metrics)."""

from __future__ import annotations

from cdp_project.core.metrics import JOB_RUNS


def job_finished(*, kind: str, outcome: str) -> None:
    """Count one run's end: succeeded, failed, or retried (a transient error)."""
    JOB_RUNS.labels(kind=kind, outcome=outcome).inc()


def jobs_recovered(*, count: int) -> None:
    """Count jobs put back in the queue after their worker died."""
    JOB_RUNS.labels(kind="any", outcome="recovered").inc(count)
