"""Batch jobs inside the API server: a bounded pool of background threads, plus a sweeper.

``POST /v1/jobs`` queues a job here and returns at once. The sweeper runs when the server
starts and then every half stale-timeout: it claims API jobs that nobody is working on
(queued, or running with a stale or dead owner: a replica that crashed or was redeployed) and
resumes them, so a job survives the loss of the replica that accepted it. Jobs created by the
CLI are left to the CLI (their paths are the operator's, not the server's).

Shutting down stops every job after the chunks in flight and hands it back as queued; the next
server to start picks it up.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from nexafi_ai.batch.engine import JobInterruptedError
from nexafi_ai.batch.jobs import JobStore
from nexafi_ai.batch.runner import BatchError, JobConflictError, run_job
from nexafi_ai.registry import ModelRegistry

__all__ = ["BackgroundJobs"]

log = logging.getLogger(__name__)


class BackgroundJobs:
    """Runs batch jobs on ``workers`` background threads of this process."""

    def __init__(
        self,
        store: JobStore,
        registry: ModelRegistry,
        *,
        stale_after_s: float,
        dask_scheduler: str | None = None,
        workers: int = 1,
        origin: str = "api",
    ) -> None:
        self.store = store
        self.registry = registry
        self.stale_after_s = stale_after_s
        self.dask_scheduler = dask_scheduler
        self.workers = workers
        self.origin = origin
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        """Start the pool and the sweeper (its first pass resumes abandoned jobs)."""
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="nexafi-batch")
        self._sweeper = threading.Thread(target=self._sweep_loop, name="nexafi-batch-sweeper")
        self._sweeper.daemon = True
        self._sweeper.start()

    def submit(self, job_id: str) -> bool:
        """Queue ``job_id`` to run here; False when it is already waiting or running here."""
        with self._lock:
            if self._executor is None or self._stop.is_set() or job_id in self._pending:
                return False
            self._pending.add(job_id)
            self._executor.submit(self._run, job_id)
        return True

    def resume_abandoned(self) -> list[str]:
        """Queue every API job nobody is working on; returns the ids queued here."""
        queued = []
        for job in self.store.resumable(stale_after_s=self.stale_after_s):
            if job.params.get("origin") == self.origin and self.submit(job.id):
                queued.append(job.id)
        if queued:
            log.info("resuming %d abandoned batch job(s): %s", len(queued), queued)
        return queued

    def close(self) -> None:
        """Stop after the chunks in flight; unfinished jobs go back to queued."""
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _sweep_loop(self) -> None:
        interval = max(1.0, self.stale_after_s / 2)
        while not self._stop.is_set():
            try:
                self.resume_abandoned()
            except Exception:  # the database is away: try again next round
                log.warning("could not look for abandoned batch jobs", exc_info=True)
            self._stop.wait(interval)

    def _run(self, job_id: str) -> None:
        try:
            if self._stop.is_set():
                return
            run_job(
                job_id,
                store=self.store,
                registry=self.registry,
                dask_scheduler=self.dask_scheduler,
                stale_after_s=self.stale_after_s,
                stop=self._stop,
            )
        except JobInterruptedError:
            log.info("batch job %s handed back at shutdown", job_id)
        except JobConflictError as exc:
            log.info("batch job %s not run here: %s", job_id, exc)
        except BatchError as exc:
            log.warning("batch job %s failed: %s", job_id, exc)
        except Exception:
            log.exception("batch job %s crashed", job_id)
        finally:
            with self._lock:
                self._pending.discard(job_id)
