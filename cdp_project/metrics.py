"""GET /metrics: Prometheus text format, summed over the web process's workers.

With CDP_METRICS_TOKEN set, the scrape needs `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from cdp_project.core.errors import Problem
from cdp_project.core.problems import problem_response
from jobs.selectors import jobs_count_by_kind_and_status


class JobsCollector:
    """The job queue as it is now, read from the database at scrape time (right across every
    worker host): jobs by kind and status, and the queue depth."""

    def collect(self):  # noqa: ANN201 (prometheus-client's collector protocol)
        jobs = GaugeMetricFamily("cdp_jobs", "Jobs by kind and status now.", labels=["kind", "status"])
        depth = GaugeMetricFamily("cdp_jobs_queue_depth", "Jobs waiting for a worker (queued).")
        up = GaugeMetricFamily("cdp_jobs_scrape_ok", "1 when the job counts could be read from the database.")
        try:
            rows = jobs_count_by_kind_and_status()
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        queued = 0
        for kind, status, count in rows:
            jobs.add_metric([kind, status], count)
            queued += count if status == "queued" else 0
        depth.add_metric([], queued)
        up.add_metric([], 1)
        yield from (jobs, depth, up)


def _authorized(request: HttpRequest) -> bool:
    token = settings.CDP_METRICS_TOKEN
    if not token:
        return True
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = problem_response(Problem.UNAUTHORIZED, "Send Authorization: Bearer <token>.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    jobs = CollectorRegistry()
    jobs.register(JobsCollector())
    return HttpResponse(body + generate_latest(jobs), content_type=CONTENT_TYPE_LATEST)
