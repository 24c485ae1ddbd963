"""The Prometheus metrics of the CDP, defined once. Every process type imports them from here.

Served by GET /metrics (cdp_project/metrics.py). Under the Procfile's web process the metrics
of all its worker processes are summed: cdp_project.serve sets PROMETHEUS_MULTIPROC_DIR
before the workers start, and prometheus-client then keeps each process's values in its own
file there. Only counters and histograms are kept per process (they add up across processes
and survive a worker's restart); values that are a current state (the job queue) are read
from the database at scrape time instead, so they are right across hosts too.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INGEST_ITEMS = Counter(
    "cdp_ingest_items",
    "Ingested items by kind (event, profile_update, channel_update), outcome and source.",
    ["kind", "outcome", "source"],
)
HTTP_REQUEST_DURATION = Histogram(
    "cdp_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route pattern and status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
MERGES = Counter("cdp_profile_merges", "Profiles merged into another one.")
LOCK_RETRIES = Counter(
    "cdp_lock_retries",
    "Transactions retried after a deadlock, serialization failure or lost insert race "
    "(outcome retried), or given up on with a 503 (outcome gave_up).",
    ["outcome"],
)
JOB_RUNS = Counter(
    "cdp_job_runs",
    "Ends of job runs in the worker processes by kind and outcome (succeeded, failed, retried, "
    "recovered: re-queued after its worker died).",
    ["kind", "outcome"],
)
