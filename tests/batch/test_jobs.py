"""Job ownership in the database: one owner at a time, stale and dead owners replaced."""

import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from nexafi_ai.batch import FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore, LeaseLostError
from nexafi_ai.batch.jobs import this_process
from nexafi_ai.db import batch_jobs
from nexafi_ai.db.tables import utcnow


def _job(store: JobStore) -> str:
    job = store.create(
        use_case="toy",
        params={"chunk_rows": 10},
        input_uri="/in.csv",
        output_uri="/out.csv",
        created_by="test",
    )
    assert job.status == QUEUED
    return job.id


def _set(store: JobStore, job_id: str, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(batch_jobs).where(batch_jobs.c.id == job_id).values(**values))


def test_one_claim_wins_and_a_stale_owner_loses_its_lease(store: JobStore) -> None:
    job_id = _job(store)
    first = store.claim(job_id, stale_after_s=60)
    assert first is not None
    assert store.claim(job_id, stale_after_s=60) is None  # fresh heartbeat, owner alive
    store.save_progress(first, checkpoint={"done": [0, 1]}, rows_done=20, rows_total=100)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.rows_done, job.rows_total) == (RUNNING, 20, 100)
    assert job.done_chunks == {0, 1}

    # The owner stalls past the stale timeout; another process takes over.
    _set(store, job_id, updated_at=utcnow() - timedelta(minutes=10))
    second = store.claim(job_id, stale_after_s=60)
    assert second is not None
    with pytest.raises(LeaseLostError):
        store.save_progress(first, checkpoint={"done": [0, 1, 2]}, rows_done=30)
    assert first.lost.is_set()
    store.succeed(second, rows_done=100)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.done_chunks) == (SUCCEEDED, {0, 1})
    assert job.finished_at is not None
    assert store.claim(job_id, stale_after_s=60, retry_failed=True) is None


def test_a_dead_owner_on_this_host_is_replaced_at_once(store: JobStore) -> None:
    job_id = _job(store)
    lease = store.claim(job_id, stale_after_s=3600)
    assert lease is not None
    # Pretend the claim was made by a process that has exited since.
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = {**this_process(), "pid": int(child.stdout)}
    store.save_progress(lease, checkpoint={"owner": dead, "done": [3]}, rows_done=10)
    assert store.claim(job_id, stale_after_s=3600) is not None
    job = store.get(job_id)
    assert job is not None
    assert job.owner["pid"] == this_process()["pid"]
    assert job.done_chunks == {3}


def test_failed_jobs_are_retried_only_on_request_and_release_requeues(store: JobStore) -> None:
    job_id = _job(store)
    lease = store.claim(job_id, stale_after_s=60)
    assert lease is not None
    store.fail(lease, "boom")
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.error) == (FAILED, "boom")
    assert store.resumable(stale_after_s=60) == []
    assert store.claim(job_id, stale_after_s=60) is None
    again = store.claim(job_id, stale_after_s=60, retry_failed=True)
    assert again is not None
    store.release(again)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.error) == (QUEUED, None)
    assert [j.id for j in store.resumable(stale_after_s=60)] == [job_id]
