"""Batch job rows in ``batch_jobs``: create, read, claim, checkpoint, finish.

Every process that runs jobs (CLI runs, each API replica) shares this table, so ownership is
decided in the database. A job is *claimed* with one conditional UPDATE; ``updated_at`` is the
lease's version: the owner's every write (heartbeat, checkpoint, finish) is conditional on the
value it last wrote, so a process that lost its lease (it stalled past the stale timeout and
another took over) finds out at its next write instead of silently writing beside the new
owner. A job is claimable when it is queued, when it runs with a heartbeat older than the stale
timeout, or when its recorded owner is a process on this host that no longer exists (a crashed
CLI run is resumed at once by the same machine instead of after the timeout).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Engine, RowMapping, insert, select, update

from nexafi_ai.db.tables import batch_jobs, utcnow

__all__ = [
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SCORE_KIND",
    "STATUSES",
    "SUCCEEDED",
    "BatchJob",
    "JobStore",
    "Lease",
    "LeaseLostError",
    "owner_is_gone",
    "this_process",
]

log = logging.getLogger(__name__)

QUEUED: Final = "queued"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
STATUSES: Final = (QUEUED, RUNNING, SUCCEEDED, FAILED)

#: ``batch_jobs.kind`` of a scoring job (the only kind so far).
SCORE_KIND: Final = "score"
_ERROR_CHARS = 4000


class LeaseLostError(RuntimeError):
    """Another process took this job over (our heartbeat went stale); stop writing to it."""


@dataclass(frozen=True, slots=True)
class BatchJob:
    """One row of ``batch_jobs``, read-only."""

    id: str
    use_case: str
    kind: str
    status: str
    params: Mapping[str, Any]
    input_uri: str | None
    output_uri: str | None
    rows_total: int | None
    rows_done: int
    checkpoint: Mapping[str, Any]
    error: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (SUCCEEDED, FAILED)

    @property
    def done_chunks(self) -> frozenset[int]:
        """Indices of the chunks whose scored part file was committed."""
        return frozenset(int(i) for i in self.checkpoint.get("done", ()))

    @property
    def owner(self) -> Mapping[str, Any]:
        """The process that last claimed the job: host, pid and process start time."""
        owner = self.checkpoint.get("owner")
        return owner if isinstance(owner, Mapping) else {}

    @classmethod
    def from_row(cls, row: RowMapping) -> BatchJob:
        return cls(
            id=row["id"],
            use_case=row["use_case"],
            kind=row["kind"],
            status=row["status"],
            params=dict(row["params"] or {}),
            input_uri=row["input_uri"],
            output_uri=row["output_uri"],
            rows_total=None if row["rows_total"] is None else int(row["rows_total"]),
            rows_done=int(row["rows_done"] or 0),
            checkpoint=dict(row["checkpoint"] or {}),
            error=row["error"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )


@dataclass(slots=True)
class Lease:
    """The right to write one running job, held by one process.

    ``stamp`` is the ``updated_at`` this process last wrote; writes from several threads of
    the owner (the runner and its heartbeat) go through ``lock`` so the stamp stays in step.
    """

    job_id: str
    stamp: datetime
    lock: threading.Lock = field(default_factory=threading.Lock)
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise :class:`LeaseLostError` when a write found that another process took over."""
        if self.lost.is_set():
            raise LeaseLostError(f"job {self.job_id} was taken over by another process")


def this_process() -> dict[str, Any]:
    """Who runs a job: enough to tell later, on the same host, whether it is still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _start_time(os.getpid())}


def _start_time(pid: int) -> float | None:
    import psutil  # type: ignore[import-untyped]

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def owner_is_gone(owner: Mapping[str, Any]) -> bool:
    """True only when the owner ran on this host and that process no longer exists.

    A pid alone can be reused (a restarted container often gets the same pid), so the process
    start time must match too. Owners on other hosts are never presumed dead: only the
    heartbeat timeout can release those.
    """
    if not owner or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    started = _start_time(pid)
    return started is None or owner.get("started") != started


class JobStore:
    """Reads and writes ``batch_jobs`` rows over a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ reading
    def get(self, job_id: str) -> BatchJob | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(batch_jobs).where(batch_jobs.c.id == job_id)).mappings()
            found = row.first()
        return None if found is None else BatchJob.from_row(found)

    def recent(self, *, limit: int = 50, statuses: tuple[str, ...] | None = None) -> list[BatchJob]:
        """The most recent jobs first."""
        query = select(batch_jobs).order_by(batch_jobs.c.created_at.desc()).limit(limit)
        if statuses:
            query = query.where(batch_jobs.c.status.in_(statuses))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [BatchJob.from_row(r) for r in rows]

    def unfinished(self, *, output_uri: str | None = None) -> list[BatchJob]:
        """Queued, running and failed jobs (newest first), optionally for one output file."""
        query = (
            select(batch_jobs)
            .where(batch_jobs.c.status.in_((QUEUED, RUNNING, FAILED)))
            .order_by(batch_jobs.c.created_at.desc())
        )
        if output_uri is not None:
            query = query.where(batch_jobs.c.output_uri == output_uri)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [BatchJob.from_row(r) for r in rows]

    def claimable(self, job: BatchJob, *, stale_after_s: float, retry_failed: bool) -> bool:
        """Whether :meth:`claim` may take ``job`` now (it re-checks atomically)."""
        if job.status == QUEUED:
            return True
        if job.status == FAILED:
            return retry_failed
        if job.status == RUNNING:
            stale = job.updated_at < utcnow() - timedelta(seconds=stale_after_s)
            return stale or owner_is_gone(job.owner)
        return False

    def resumable(self, *, stale_after_s: float) -> list[BatchJob]:
        """Jobs nobody is working on: queued, or running with a dead or stale owner."""
        return [
            job
            for job in self.recent(limit=1000, statuses=(QUEUED, RUNNING))
            if self.claimable(job, stale_after_s=stale_after_s, retry_failed=False)
        ]

    # ------------------------------------------------------------------ writing
    def create(
        self,
        *,
        use_case: str,
        params: Mapping[str, Any],
        input_uri: str,
        output_uri: str,
        created_by: str | None,
        job_id: str | None = None,
        kind: str = SCORE_KIND,
    ) -> BatchJob:
        """Insert a queued job and return it."""
        now = utcnow()
        new_id = job_id or str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                insert(batch_jobs).values(
                    id=new_id,
                    use_case=use_case,
                    kind=kind,
                    status=QUEUED,
                    params=dict(params),
                    input_uri=input_uri,
                    output_uri=output_uri,
                    rows_done=0,
                    checkpoint={},
                    created_by=created_by,
                    created_at=now,
                    updated_at=now,
                )
            )
        job = self.get(new_id)
        assert job is not None
        return job

    def claim(
        self, job_id: str, *, stale_after_s: float, retry_failed: bool = False
    ) -> Lease | None:
        """Make this process the job's owner; None when it is not claimable (or lost a race).

        The UPDATE is conditional on the status and ``updated_at`` just read, so of two
        processes claiming at once exactly one succeeds; the owner is recorded in the
        checkpoint (chunks already done are kept).
        """
        job = self.get(job_id)
        if job is None or not self.claimable(
            job, stale_after_s=stale_after_s, retry_failed=retry_failed
        ):
            return None
        stamp = _next_stamp(job.updated_at)
        checkpoint = {**job.checkpoint, "owner": this_process()}
        with self.engine.begin() as conn:
            result = conn.execute(
                update(batch_jobs)
                .where(
                    batch_jobs.c.id == job_id,
                    batch_jobs.c.status == job.status,
                    batch_jobs.c.updated_at == job.updated_at,
                )
                .values(
                    status=RUNNING,
                    checkpoint=checkpoint,
                    error=None,
                    finished_at=None,
                    updated_at=stamp,
                )
            )
        if result.rowcount != 1:
            return None
        log.info("claimed batch job %s (was %s)", job_id, job.status)
        return Lease(job_id, stamp)

    def heartbeat(self, lease: Lease) -> None:
        """Tell other processes the owner is alive."""
        self._write(lease, {})

    def save_progress(
        self,
        lease: Lease,
        *,
        checkpoint: Mapping[str, Any],
        rows_done: int,
        rows_total: int | None = None,
    ) -> None:
        """Commit the checkpoint (chunks done, plan) and progress in one statement."""
        values: dict[str, Any] = {"checkpoint": dict(checkpoint), "rows_done": rows_done}
        if rows_total is not None:
            values["rows_total"] = rows_total
        self._write(lease, values)

    def succeed(self, lease: Lease, *, rows_done: int) -> None:
        self._write(lease, {"status": SUCCEEDED, "rows_done": rows_done, "finished_at": utcnow()})

    def fail(self, lease: Lease, error: str) -> None:
        self._write(
            lease, {"status": FAILED, "error": error[:_ERROR_CHARS], "finished_at": utcnow()}
        )

    def release(self, lease: Lease) -> None:
        """Give the job back (status queued): the process stops, the job is not finished."""
        self._write(lease, {"status": QUEUED})

    def _write(self, lease: Lease, values: Mapping[str, Any]) -> None:
        with lease.lock:
            if lease.lost.is_set():
                raise LeaseLostError(f"job {lease.job_id} was taken over by another process")
            stamp = _next_stamp(lease.stamp)
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(batch_jobs)
                    .where(
                        batch_jobs.c.id == lease.job_id,
                        batch_jobs.c.status == RUNNING,
                        batch_jobs.c.updated_at == lease.stamp,
                    )
                    .values(**values, updated_at=stamp)
                )
            if result.rowcount != 1:
                lease.lost.set()
                raise LeaseLostError(f"job {lease.job_id} was taken over by another process")
            lease.stamp = stamp


def _next_stamp(previous: datetime) -> datetime:
    """Now, but strictly after ``previous``: the stamp doubles as the lease's version."""
    now = utcnow()
    return now if now > previous else previous + timedelta(microseconds=1)
