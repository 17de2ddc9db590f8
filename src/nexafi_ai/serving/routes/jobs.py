"""Batch jobs over HTTP: ``POST /v1/jobs`` (admin) queues a file to score, ``GET`` follows it.

Files are named relative to ``NEXAFI_BATCH_DIR``: an API key must never let its holder read or
overwrite arbitrary files of the server, so absolute paths and paths that resolve outside that
folder (``..``, symlinks) are refused with 422 naming the field. The job runs in a background
thread of this process; its status, progress and error are in ``GET /v1/jobs/{id}``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from nexafi_ai.batch import (
    STATUSES,
    BackgroundJobs,
    BatchInputError,
    BatchJob,
    JobConflictError,
    create_job,
)
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import AdminScope, ContextDep, ReadScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.usecases import UseCase

__all__ = ["JOBS_EXTRA", "JobIn", "JobOut", "JobsOut", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

#: Key of the :class:`~nexafi_ai.batch.BackgroundJobs` in ``ServiceContext.extras``.
JOBS_EXTRA = "batch_jobs"


class JobIn(BaseModel):
    """Score ``input`` into ``output`` (both relative to ``NEXAFI_BATCH_DIR``)."""

    model_config = ConfigDict(extra="forbid")

    use_case: str = Field(min_length=1, max_length=32)
    input: str = Field(min_length=1, max_length=1024, description="CSV or Parquet file to score")
    output: str = Field(min_length=1, max_length=1024, description=".csv or .parquet to write")
    alias: str = Field(default="champion", pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    engine: Literal["local", "dask"] = "local"
    chunk_rows: int | None = Field(default=None, ge=1, le=10_000_000)
    columns: dict[str, str] | None = Field(
        default=None, description="Map a field to your column: {field: column}"
    )
    time_column: str | None = Field(default=None, min_length=1, max_length=256)
    options: dict[str, str] | None = Field(
        default=None,
        max_length=32,
        description='The use case\'s batch settings, e.g. {"k": "10"} for recommend',
    )


class JobOut(BaseModel):
    id: str
    use_case: str
    status: str
    input: str | None
    output: str | None
    model_name: str | None
    model_version: str | None
    alias: str | None
    engine: str | None
    chunk_rows: int | None
    options: dict[str, str]
    rows_total: int | None
    rows_done: int
    error: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


def _jobs(ctx: ServiceContext) -> BackgroundJobs:
    jobs = ctx.extras.get(JOBS_EXTRA)
    if not isinstance(jobs, BackgroundJobs):
        raise ApiError(503, "unavailable", "batch jobs are not enabled in this process")
    return jobs


def _shown(path: str | None, root: Path) -> str | None:
    """A job's file as the API caller named it: relative to the batch folder when inside."""
    if path is None:
        return None
    try:
        return Path(path).relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def _job_out(job: BatchJob, root: Path) -> JobOut:
    params: dict[str, Any] = dict(job.params)
    chunk_rows = params.get("chunk_rows")
    return JobOut(
        id=job.id,
        use_case=job.use_case,
        status=job.status,
        input=_shown(job.input_uri, root),
        output=_shown(job.output_uri, root),
        model_name=params.get("model_name"),
        model_version=params.get("model_version"),
        alias=params.get("alias"),
        engine=params.get("engine"),
        chunk_rows=None if chunk_rows is None else int(chunk_rows),
        options={str(k): str(v) for k, v in (params.get("options") or {}).items()},
        rows_total=job.rows_total,
        rows_done=job.rows_done,
        error=job.error,
        created_by=job.created_by,
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
    )


def _inside(root: Path, raw: str, field: str) -> Path:
    """``raw`` resolved under ``root``; 422 naming ``field`` when it is absolute or escapes."""
    if raw.startswith("~") or Path(raw).is_absolute():
        raise ApiError(
            422, "validation_error", f"{field}: give a path relative to the batch folder", field
        )
    base = root.resolve()
    try:
        resolved = (base / raw).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
        raise ApiError(422, "validation_error", f"{field}: invalid path", field) from exc
    if resolved == base or not resolved.is_relative_to(base):
        raise ApiError(422, "validation_error", f"{field}: path leaves the batch folder", field)
    return resolved


def _use_case(ctx: ServiceContext, name: str) -> UseCase:
    known = ctx.known_use_cases()
    if name not in known:
        raise ApiError(
            422,
            "validation_error",
            f"use_case: unknown use case; known {sorted(known)}",
            "use_case",
        )
    return known[name]


@router.post("", status_code=202, summary="Queue a batch scoring job (admin)")
def submit_job(body: JobIn, ctx: ContextDep, who: AdminScope) -> JobOut:
    use_case = _use_case(ctx, body.use_case)
    root = ctx.settings.batch_root
    input_path = _inside(root, body.input, "input")
    output_path = _inside(root, body.output, "output")
    if not input_path.is_file():
        raise ApiError(422, "validation_error", f"input: no file {body.input}", "input")
    version = ctx.registry.alias_version(use_case.model_name, body.alias)
    if version is None:
        raise ApiError(
            409, "conflict", f"{use_case.model_name}@{body.alias} is not set", field="alias"
        )
    jobs = _jobs(ctx)
    try:
        job = create_job(
            jobs.store,
            use_case,
            input_path=input_path,
            output_path=output_path,
            model_version=version,
            alias=body.alias,
            engine=body.engine,
            chunk_rows=body.chunk_rows or ctx.settings.batch_chunk_rows,
            columns=body.columns,
            time_column=body.time_column,
            options=body.options,
            created_by=who.actor,
            origin="api",
            stale_after_s=ctx.settings.batch_stale_after_s,
            supersede_queued=False,
        )
    except BatchInputError as exc:
        raise ApiError(422, "validation_error", f"{exc.field}: {exc}", exc.field) from exc
    except JobConflictError as exc:
        raise ApiError(409, "conflict", str(exc), "output") from exc
    jobs.submit(job.id)
    return _job_out(job, root)


@router.get("", summary="Recent batch jobs, newest first")
def list_jobs(
    ctx: ContextDep,
    _: ReadScope,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    status: Annotated[Literal["queued", "running", "succeeded", "failed"] | None, Query()] = None,
) -> JobsOut:
    statuses = (status,) if status is not None else STATUSES
    jobs = _jobs(ctx).store.recent(limit=limit, statuses=statuses)
    return JobsOut(jobs=[_job_out(j, ctx.settings.batch_root) for j in jobs])


@router.get("/{job_id}", summary="One batch job: status, progress, error")
def get_job(
    job_id: Annotated[str, PathParam(max_length=64)], ctx: ContextDep, _: ReadScope
) -> JobOut:
    job = _jobs(ctx).store.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no batch job {job_id}", "job_id")
    return _job_out(job, ctx.settings.batch_root)
