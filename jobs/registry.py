"""Which function runs which kind of job. Apps register their handlers in AppConfig.ready():

    from jobs.registry import register
    register("ingest.derived_backfill", derived_backfill_job)

A handler is called as `handler(job, params, progress)` and returns a JSON-able result (or
None). It must be idempotent and resumable: a run may be cut at any point (a worker killed,
a deadlock) and then started again from `job.checkpoint`, the last value it saved with
`progress(done=…, total=…, checkpoint=…)`. It must call `progress` at least once per lease
(CDP_JOB_LEASE_SECONDS), or the job counts as abandoned and another worker takes it over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from cdp_project.core.hooks import Registry

if TYPE_CHECKING:
    from .models import Job


class Progress(Protocol):
    def __call__(self, *, done: int, total: int | None = None, checkpoint: Any = ...) -> None: ...


Handler = Callable[["Job", dict[str, Any], Progress], Any]

_handlers: Registry[Handler] = Registry("job kind", unique=True)


def register(kind: str, handler: Handler) -> None:
    """Register the handler of `kind`. Registering the same handler again is a no-op; another
    handler for a taken kind is a programming error."""
    _handlers.register(kind, handler)


def handler_get(kind: str) -> Handler | None:
    return _handlers.get(kind)


def kinds() -> list[str]:
    return list(_handlers)
