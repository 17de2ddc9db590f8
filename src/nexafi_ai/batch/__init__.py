"""Batch scoring jobs: chunked, checkpointed, resumable; run locally or on a Dask cluster.

The pieces, one job each: :mod:`~nexafi_ai.batch.jobs` (job rows and who owns them),
:mod:`~nexafi_ai.batch.chunks` (deterministic chunks of CSV or Parquet input),
:mod:`~nexafi_ai.batch.parts` (atomic part files and the final assembly),
:mod:`~nexafi_ai.batch.local` and :mod:`~nexafi_ai.batch.dask_engine` (execution),
:mod:`~nexafi_ai.batch.runner` (create, find and run a job; used by the CLI and the API) and
:mod:`~nexafi_ai.batch.background` (jobs inside the API server).
"""

from nexafi_ai.batch.background import BackgroundJobs
from nexafi_ai.batch.chunks import ChunkPlan, iter_chunks, plan_chunks, read_chunk
from nexafi_ai.batch.dask_engine import DaskEngine
from nexafi_ai.batch.engine import (
    ROW_COLUMN,
    ChunkEngine,
    ChunkWork,
    JobInterruptedError,
    score_rows,
)
from nexafi_ai.batch.jobs import (
    FAILED,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    BatchJob,
    JobStore,
    Lease,
    LeaseLostError,
)
from nexafi_ai.batch.local import LocalEngine
from nexafi_ai.batch.parts import PartsDir, parts_dir_for
from nexafi_ai.batch.runner import (
    ENGINES,
    BatchError,
    BatchInputError,
    JobConflictError,
    JobSpec,
    Progress,
    check_batch_options,
    create_job,
    find_resumable,
    make_engine,
    run_job,
)

__all__ = [
    "ENGINES",
    "FAILED",
    "QUEUED",
    "ROW_COLUMN",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "BackgroundJobs",
    "BatchError",
    "BatchInputError",
    "BatchJob",
    "ChunkEngine",
    "ChunkPlan",
    "ChunkWork",
    "DaskEngine",
    "JobConflictError",
    "JobInterruptedError",
    "JobSpec",
    "JobStore",
    "Lease",
    "LeaseLostError",
    "LocalEngine",
    "PartsDir",
    "Progress",
    "check_batch_options",
    "create_job",
    "find_resumable",
    "iter_chunks",
    "make_engine",
    "parts_dir_for",
    "plan_chunks",
    "read_chunk",
    "run_job",
    "score_rows",
]
