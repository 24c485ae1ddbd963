"""Segment exports as background jobs: the export too large to stream (or any export a
client would rather fetch later) is written to a file by the worker, resumably, then
downloaded (API.md "Segments and exports", "Jobs").

The job writes exactly the bytes of the streaming export: the same records, a slice of
CDP_EXPORT_JOB_CHUNK_ROWS rows at a time by profile id, made by the same code
(`exports.export_csv_lines` for CSV, `exports.export_rows` + `exports.export_encode` for NDJSON).
After each slice is on disk (flushed and fsync'ed) the job's checkpoint
records the last profile id and the file's length; a run that starts again (its worker was
killed) starts its own file with that many bytes of the last one and goes on behind that id,
so a slice written but not checkpointed is written once. The last checkpoint says `complete`,
then the file gets its final name. The segment's definition and the export's "now" (for `within` windows) are fixed
when the job is asked for and first started, so every run of one job exports the same
question; each slice reads the data as it is when it is read."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from cdp_project.core.errors import Problem, ProblemError, not_found
from jobs.models import Job
from jobs.registry import Progress
from jobs.selectors import job_get
from jobs.services import job_enqueue
from tenants.models import Tenant

from . import exports
from .models import Segment
from .selectors import DERIVED_BACKFILLING_CODE
from .types import ExportSpec

JOB_SEGMENT_EXPORT = "segments.export"


def _params_of(*, segment: Segment, spec: ExportSpec) -> dict[str, Any]:
    return {
        "segment": segment.key,
        "definition": segment.definition,
        "channel": spec.channel,
        "format": spec.format,
        "attributes": [column.name for column in spec.columns],
    }


def segment_export_enqueue(*, tenant: Tenant, segment: Segment, spec: ExportSpec) -> Job:
    """Queue the export of `segment` as a job (committed at once); returns it. Checked now,
    as the streaming export is: 422 segment_invalid, 409 derived_backfilling."""
    exports.export_check(segment=segment, spec=spec)
    return job_enqueue(tenant=tenant, kind=JOB_SEGMENT_EXPORT, params=_params_of(segment=segment, spec=spec))


def export_path(*, job: Job) -> Path:
    """Where the finished export of `job` lives: one directory per tenant, named by the job."""
    return Path(settings.CDP_EXPORT_DIR) / str(job.tenant_id) / f"{job.pk}.{job.params['format']}"


def export_download_url(*, job: Job) -> str:
    return f"/api/v1/exports/{job.pk}/download"


def export_filename(*, job: Job) -> str:
    """The file name a download suggests, as the streaming export names it."""
    return f"{job.params['segment']}-{job.params['channel'].lower()}.{job.params['format']}"


def _result(*, job: Job, checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": export_download_url(job=job),
        "segment": job.params["segment"],
        "channel": job.params["channel"],
        "format": job.params["format"],
        "contentType": exports.CONTENT_TYPES[job.params["format"]],
        "filename": export_filename(job=job),
        "rows": checkpoint["rows"],
        "bytes": checkpoint["bytes"],
    }


def _spec_at_run(*, job: Job, params: dict[str, Any]) -> ExportSpec:
    try:
        return exports.export_spec_from_body(
            tenant_id=job.tenant_id,
            body={"channel": params["channel"], "format": params["format"], "attributes": params["attributes"]},
        )
    except ProblemError as error:  # an attribute removed since the export was asked for
        detail = "; ".join(f"{p.pointer}: {p.detail}" for p in error.errors) or error.detail
        raise replace(error, detail=detail, errors=(), headers={}) from None


def segment_export_job(job: Job, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Job `segments.export`: write the export's file, resumably (see the module's docstring)."""
    checkpoint: dict[str, Any] = dict(job.checkpoint or {})
    final = export_path(job=job)
    previous = final.with_name(checkpoint["file"]) if checkpoint.get("file") else None
    if checkpoint.get("complete"):  # every slice was written; only the rename may be missing
        if previous is not None and previous.exists():
            os.replace(previous, final)
        return _result(job=job, checkpoint=checkpoint)

    segment = Segment(tenant_id=job.tenant_id, key=params["segment"], definition=params["definition"])
    spec = _spec_at_run(job=job, params=params)
    now = job.started_at
    after = uuid.UUID(checkpoint["after"]) if checkpoint.get("after") else None
    length, rows_done = checkpoint.get("bytes", 0), checkpoint.get("rows", 0)
    final.parent.mkdir(parents=True, exist_ok=True)
    exports_prune(tenant_id=job.tenant_id)  # the tenant's expired files go as new ones come
    if length and (previous is None or not previous.exists() or previous.stat().st_size < length):
        after, length, rows_done = None, 0, 0  # the partial file was lost (or pruned): start over
    try:
        remaining = exports.export_row_count(segment=segment, spec=spec, now=now, after=after)
    except ProblemError as error:
        if error.code != DERIVED_BACKFILLING_CODE:
            raise
        # A recompute began after the export was asked for: worth a retry later (a 503 is transient).
        raise replace(error, status=503, errors=(), headers={}) from None
    total = rows_done + remaining
    progress(done=rows_done, total=total)

    # Each run writes a file of its own, starting with the checkpointed prefix of the last one: a
    # run that was taken over while it hung, and writes one more slice before its next progress
    # report fences it out, writes into its own file, which nobody reads.
    own = final.with_name(f"{final.name}.{job.attempts}.part")
    chunk = settings.CDP_EXPORT_JOB_CHUNK_ROWS
    with open(own, "wb") as out:
        if length and previous is not None:
            _copy_prefix(source=previous, out=out, length=length)
        while True:
            data, count, last = _slice(
                segment=segment, spec=spec, now=now, after=after, limit=chunk, header=length == 0
            )
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            length += len(data)
            rows_done += count
            if last is not None:
                after = last
            checkpoint = {
                "file": own.name,
                "after": str(after) if after else None,
                "bytes": length,
                "rows": rows_done,
                "complete": count < chunk,
            }
            progress(done=rows_done, total=max(total, rows_done), checkpoint=checkpoint)
            if checkpoint["complete"]:
                break
    os.replace(own, final)
    for stale in final.parent.glob(f"{final.name}.*.part"):  # earlier runs' files
        stale.unlink(missing_ok=True)
    return _result(job=job, checkpoint=checkpoint)


def _slice(
    *, segment: Segment, spec: ExportSpec, now: Any, after: uuid.UUID | None, limit: int, header: bool
) -> tuple[bytes, int, uuid.UUID | None]:
    """One slice of the export, encoded as the streaming export encodes it: (its bytes, its
    rows, the last profile id in it)."""
    if spec.format == "csv":
        records = list(exports.export_csv_lines(segment=segment, spec=spec, now=now, after=after, limit=limit))
        text = (exports.csv_header(spec) if header else "") + "".join(records)
        return text.encode("utf-8"), len(records), uuid.UUID(records[-1][:36]) if records else None
    rows = list(exports.export_rows(segment=segment, spec=spec, now=now, after=after, limit=limit))
    text = "".join(exports.export_encode(rows=rows, spec=spec, header=header))
    return text.encode("utf-8"), len(rows), uuid.UUID(rows[-1]["profileId"]) if rows else None


def _copy_prefix(*, source: Path, out: Any, length: int) -> None:
    with open(source, "rb") as src:
        left = length
        while left:
            block = src.read(min(left, 1 << 20))
            if not block:
                raise OSError(f"{source} is shorter than its checkpoint")
            out.write(block)
            left -= len(block)


def exports_prune(*, tenant_id: int | None = None, now: float | None = None) -> int:
    """Delete export files (finished or partial) older than CDP_EXPORT_RETENTION_HOURS, of
    one tenant or all; returns how many. Their downloads then answer 410 export_gone. Run by
    every export job for its tenant and by `python manage.py exports_prune`."""
    root = Path(settings.CDP_EXPORT_DIR)
    directories = [root / str(tenant_id)] if tenant_id is not None else [p for p in root.glob("*") if p.is_dir()]
    cutoff = (now if now is not None else time.time()) - settings.CDP_EXPORT_RETENTION_HOURS * 3600
    removed = 0
    for directory in directories:
        for path in directory.glob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # pruned at the same time by another process
                continue
    return removed


def export_job_file(*, tenant_id: int, job_id: str) -> tuple[Job, Path]:
    """The tenant's finished export job and its file. 404 for an unknown id, another tenant's
    job or a job that is not an export; 409 export_not_ready while it is queued or running,
    409 export_failed when it failed (with its error); 410 export_gone when the file was
    removed from CDP_EXPORT_DIR (by `exports_prune`, after CDP_EXPORT_RETENTION_HOURS)."""
    job = job_get(tenant_id=tenant_id, job_id=job_id)
    if job.kind != JOB_SEGMENT_EXPORT:
        raise not_found("No such export.")
    if job.status == Job.Status.FAILED:
        raise Problem.EXPORT_FAILED.error(f"The export job failed: {job.error}")
    if job.status != Job.Status.SUCCEEDED:
        raise Problem.EXPORT_NOT_READY.error(
            f"The export job is {job.status}; GET /api/v1/jobs/{job.pk} says when it has succeeded.",
        )
    path = export_path(job=job)
    if not path.is_file():
        raise Problem.EXPORT_GONE.error(
            "The file was removed (exports are kept CDP_EXPORT_RETENTION_HOURS); run the export again.",
        )
    return job, path
