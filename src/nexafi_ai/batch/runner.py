"""Create, find and run batch scoring jobs: the one entry used by the CLI and the API.

A job's parameters are fixed when it is created, the model *version* included (resolved from
the alias then), so a resumed job scores its remaining chunks with the model that scored the
first ones even if ``@champion`` moved in between; the input file's size and modification time
are recorded too, and a job whose input changed refuses to resume rather than mix two files.

Running a job: claim it (see :mod:`nexafi_ai.batch.jobs`), plan its chunks once (stored in the
checkpoint), keep only checkpointed chunks whose part file is really there, score the rest
with the chosen engine while committing each finished chunk, then assemble the output, mark
the job succeeded and delete the parts. Killing the process at any point leaves a job that the
next run (``nexafi-ai batch`` again, or a server at start-up) resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexafi_ai.batch.chunks import ChunkPlan, plan_chunks, table_format
from nexafi_ai.batch.engine import ChunkEngine, ChunkWork, JobInterruptedError
from nexafi_ai.batch.jobs import (
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    BatchJob,
    JobStore,
    Lease,
    LeaseLostError,
)
from nexafi_ai.batch.parts import PartsDir
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.usecases.base import UseCase, check_options

__all__ = [
    "ENGINES",
    "BatchError",
    "BatchInputError",
    "JobConflictError",
    "JobSpec",
    "Progress",
    "check_batch_options",
    "create_job",
    "find_resumable",
    "input_fingerprint",
    "make_engine",
    "run_job",
]

log = logging.getLogger(__name__)

ENGINES = ("local", "dask")

#: Progress callback: (rows done, rows total).
Progress = Callable[[int, int], None]


class BatchError(RuntimeError):
    """A batch job could not be created or run; the message is meant for the user."""


class BatchInputError(BatchError, ValueError):
    """A request for a job is invalid; ``field`` names the offending input."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class JobConflictError(BatchError):
    """The job (or another job writing the same output) is in the hands of another process."""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job's fixed parameters, stored as ``batch_jobs.params``."""

    model_name: str
    model_version: str
    alias: str
    engine: str
    chunk_rows: int
    columns: Mapping[str, str]
    time_column: str | None
    #: Size and modification time of the input when the job was created.
    input_fingerprint: Mapping[str, int]
    #: ``cli`` or ``api``: servers resume only the jobs submitted to the API.
    origin: str
    #: The use case's batch settings (``-k 10`` -> ``{"k": "10"}``), passed to ``score_batch``.
    options: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_params(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["columns"] = dict(self.columns)
        data["input_fingerprint"] = dict(self.input_fingerprint)
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> JobSpec:
        try:
            return cls(
                model_name=str(params["model_name"]),
                model_version=str(params["model_version"]),
                alias=str(params.get("alias", "")),
                engine=str(params.get("engine", "local")),
                chunk_rows=int(params["chunk_rows"]),
                columns={str(k): str(v) for k, v in (params.get("columns") or {}).items()},
                time_column=params.get("time_column"),
                input_fingerprint={
                    str(k): int(v) for k, v in (params.get("input_fingerprint") or {}).items()
                },
                origin=str(params.get("origin", "cli")),
                options={str(k): str(v) for k, v in (params.get("options") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BatchError(f"the job's stored parameters are incomplete: {exc}") from exc


def input_fingerprint(path: Path) -> dict[str, int]:
    """What tells a changed input file apart: its size and modification time."""
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def make_engine(name: str, *, dask_scheduler: str | None = None) -> ChunkEngine:
    """The engine called ``name`` (``local`` or ``dask``)."""
    if name == "local":
        from nexafi_ai.batch.local import LocalEngine

        return LocalEngine()
    if name == "dask":
        from nexafi_ai.batch.dask_engine import DaskEngine

        return DaskEngine(dask_scheduler)
    raise BatchInputError(f"unknown engine {name!r}; expected one of {list(ENGINES)}", "engine")


def _check_engine(use_case: UseCase, engine: str) -> None:
    if engine not in ENGINES:
        raise BatchInputError(
            f"unknown engine {engine!r}; expected one of {list(ENGINES)}", "engine"
        )
    if engine != "local" and not use_case.batch_chunkable:
        raise BatchInputError(
            f"the {use_case.name} use case scores a file as one chunk (its batch features look "
            f"across the file's rows), so it cannot be split across a Dask cluster; "
            f"use the local engine",
            "engine",
        )


def check_batch_options(use_case: UseCase, options: Mapping[str, str] | None) -> dict[str, str]:
    """``options`` as a dict, refusing keys the use case's ``score_batch`` does not know.

    Checked when the job is created, so a typo fails at once instead of after planning.
    """
    try:
        return check_options(options, use_case.batch_options)
    except ValueError as exc:
        raise BatchInputError(f"{exc} (for the {use_case.name} use case)", "options") from exc


def create_job(
    store: JobStore,
    use_case: UseCase,
    *,
    input_path: Path,
    output_path: Path,
    model_version: str,
    alias: str,
    engine: str = "local",
    chunk_rows: int = 50_000,
    columns: Mapping[str, str] | None = None,
    time_column: str | None = None,
    options: Mapping[str, str] | None = None,
    created_by: str | None = None,
    origin: str = "cli",
    stale_after_s: float = 120.0,
    supersede_queued: bool = True,
) -> BatchJob:
    """Validate a request and insert it as a queued job (paths must be absolute).

    Another unfinished job writing the same output is superseded (marked failed) when no
    process is working on it; when one is, :class:`JobConflictError` is raised. Queued jobs
    are superseded only with ``supersede_queued`` (the CLI, where queued means interrupted;
    on a server a queued job is waiting for its turn).
    """
    for path, field in ((input_path, "input"), (output_path, "output")):
        try:
            table_format(path)
        except ValueError as exc:
            raise BatchInputError(str(exc), field) from exc
    if not input_path.is_file():
        raise BatchInputError(f"input file {input_path} does not exist", "input")
    if output_path.resolve() == input_path.resolve():
        raise BatchInputError("output must not be the input file", "output")
    _check_engine(use_case, engine)
    if chunk_rows < 1:
        raise BatchInputError("chunk_rows must be at least 1", "chunk_rows")
    checked = check_batch_options(use_case, options)
    spec = JobSpec(
        model_name=use_case.model_name,
        model_version=model_version,
        alias=alias,
        engine=engine,
        chunk_rows=chunk_rows,
        columns=dict(columns or {}),
        time_column=time_column,
        input_fingerprint=input_fingerprint(input_path),
        origin=origin,
        options=checked,
    )
    job_id = str(uuid.uuid4())
    for other in store.unfinished(output_uri=str(output_path)):
        if other.status == QUEUED and not supersede_queued:
            raise JobConflictError(f"job {other.id} is queued to write {output_path.name}")
        lease = store.claim(other.id, stale_after_s=stale_after_s, retry_failed=True)
        if lease is None:
            raise JobConflictError(
                f"job {other.id} is writing {output_path.name} in another process"
                f"{_owner_text(other)}"
            )
        store.fail(lease, f"superseded by job {job_id}")
    return store.create(
        use_case=use_case.name,
        params=spec.to_params(),
        input_uri=str(input_path),
        output_uri=str(output_path),
        created_by=created_by,
        job_id=job_id,
    )


def find_resumable(
    store: JobStore,
    use_case: UseCase,
    *,
    input_path: Path,
    output_path: Path,
    model_version: str,
    columns: Mapping[str, str] | None = None,
    time_column: str | None = None,
    options: Mapping[str, str] | None = None,
) -> BatchJob | None:
    """The newest unfinished job that the same request would have created, if any.

    Same use case, input, output, model version, column mapping, time column and options,
    and an input file that has not changed since: its finished chunks are still valid.
    """
    try:
        fingerprint = input_fingerprint(input_path)
    except OSError:
        return None
    for job in store.unfinished(output_uri=str(output_path)):
        try:
            spec = JobSpec.from_params(job.params)
        except BatchError:
            continue
        if (
            job.use_case == use_case.name
            and job.input_uri == str(input_path)
            and spec.model_version == model_version
            and dict(spec.columns) == dict(columns or {})
            and spec.time_column == time_column
            and dict(spec.options) == dict(options or {})
            and dict(spec.input_fingerprint) == fingerprint
        ):
            return job
    return None


def _owner_text(job: BatchJob) -> str:
    owner = job.owner
    if not owner:
        return ""
    return f" (pid {owner.get('pid')} on {owner.get('host')})"


class _Heartbeat:
    """Keeps the lease fresh while long steps run (planning a big CSV, assembling)."""

    def __init__(self, store: JobStore, lease: Lease, interval_s: float) -> None:
        self._store = store
        self._lease = lease
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"nexafi-heartbeat-{lease.job_id[:8]}", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._store.heartbeat(self._lease)
            except LeaseLostError:
                log.error("batch job %s was taken over by another process", self._lease.job_id)
                return
            except Exception:  # a database blip: the next beat or checkpoint retries
                log.warning("heartbeat of batch job %s failed", self._lease.job_id, exc_info=True)


def run_job(
    job_id: str,
    *,
    store: JobStore,
    registry: ModelRegistry,
    engine: str | ChunkEngine | None = None,
    dask_scheduler: str | None = None,
    stale_after_s: float = 120.0,
    retry_failed: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> BatchJob:
    """Run (or resume) job ``job_id`` to the end in this process and return its final row.

    ``engine`` overrides the job's stored engine (a name or an engine object);
    ``retry_failed`` lets a failed job be resumed; ``stop`` asks the run to hand the job back
    after the chunks in flight. Raises :class:`JobConflictError` when another process holds
    the job, :class:`~nexafi_ai.batch.engine.JobInterruptedError` when stopped (the job is
    queued again), and :class:`BatchError` when the job failed (it is marked failed with the
    error). A job that already succeeded is returned as it is.
    """
    lease = store.claim(job_id, stale_after_s=stale_after_s, retry_failed=retry_failed)
    if lease is None:
        job = store.get(job_id)
        if job is None:
            raise BatchError(f"no batch job {job_id}")
        if job.status == SUCCEEDED:
            return job
        if job.status == FAILED:
            raise BatchError(f"job {job_id} failed: {job.error}")
        state = "running in another process" if job.status == RUNNING else job.status
        raise JobConflictError(f"job {job_id} is {state}{_owner_text(job)}")
    stopping = stop or threading.Event()
    with _Heartbeat(store, lease, max(0.5, stale_after_s / 4)) as heartbeat:
        try:
            rows = _execute(
                job_id,
                lease,
                store=store,
                registry=registry,
                engine=engine,
                dask_scheduler=dask_scheduler,
                progress=progress,
                should_stop=lambda: stopping.is_set() or lease.lost.is_set(),
                heartbeat=heartbeat,
            )
        except LeaseLostError as exc:
            raise JobConflictError(str(exc)) from exc
        except (JobInterruptedError, KeyboardInterrupt):
            heartbeat.stop()
            if lease.lost.is_set():
                raise JobConflictError(f"job {job_id} was taken over by another process") from None
            _quietly(store.release, lease)
            raise
        except Exception as exc:
            heartbeat.stop()
            message = _describe(exc)
            log.warning("batch job %s failed: %s", job_id, message)
            _quietly(store.fail, lease, message)
            raise BatchError(message) from exc
    log.info("batch job %s succeeded: %d rows", job_id, rows)
    job = store.get(job_id)
    assert job is not None
    return job


def _describe(exc: Exception) -> str:
    """The error as a user reads it: the message for errors about the data or the files,
    the type too for anything else (a bare ``KeyError`` says only ``'x'``)."""
    if isinstance(exc, ValueError | OSError | RuntimeError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _quietly(action: Callable[..., None], *args: Any) -> None:
    """Record a final state if the database lets us; if not, the lease goes stale and the
    job is resumed later, which is the right outcome anyway."""
    try:
        action(*args)
    except Exception:
        log.warning("could not record the final state of a batch job", exc_info=True)


def _execute(
    job_id: str,
    lease: Lease,
    *,
    store: JobStore,
    registry: ModelRegistry,
    engine: str | ChunkEngine | None,
    dask_scheduler: str | None,
    progress: Progress | None,
    should_stop: Callable[[], bool],
    heartbeat: _Heartbeat,
) -> int:
    from nexafi_ai.serving.handles import load_verified
    from nexafi_ai.usecases import get_use_case

    job = store.get(job_id)
    assert job is not None
    assert job.input_uri is not None
    assert job.output_uri is not None
    spec = JobSpec.from_params(job.params)
    try:
        use_case = get_use_case(job.use_case)
    except KeyError as exc:
        raise BatchError(str(exc.args[0])) from exc
    runner = engine if engine is not None and not isinstance(engine, str) else None
    engine_name = runner.name if runner is not None else (engine or spec.engine)
    assert isinstance(engine_name, str)
    _check_engine(use_case, engine_name)
    input_path, output_path = Path(job.input_uri), Path(job.output_uri)
    if not input_path.is_file():
        raise BatchError(f"input file {input_path} no longer exists")
    if input_fingerprint(input_path) != dict(spec.input_fingerprint):
        raise BatchError(
            f"{input_path.name} changed since job {job_id} was created; start a new job"
        )

    parts = PartsDir(output_path)
    checkpoint: dict[str, Any] = dict(job.checkpoint)
    if "plan" in checkpoint:
        plan = ChunkPlan.from_json(checkpoint["plan"])
    else:
        plan = plan_chunks(input_path, spec.chunk_rows)
        if not use_case.batch_chunkable:
            plan = dataclasses.replace(plan, chunk_rows=max(1, plan.rows_total))
        parts.reset()  # parts of an older job on the same output are not ours
        checkpoint.update(plan=plan.to_json(), done=[])
        store.save_progress(lease, checkpoint=checkpoint, rows_done=0, rows_total=plan.rows_total)
    parts.remove_scratch()
    done = {i for i in job.done_chunks if parts.is_complete(i, plan.rows_in(i))}
    rows_done = sum(plan.rows_in(i) for i in done)
    if progress is not None:
        progress(rows_done, plan.rows_total)
    pending = [i for i in range(plan.chunks) if i not in done]

    if pending:
        loaded = load_verified(use_case, registry, spec.model_version)
        runner = runner or make_engine(engine_name, dask_scheduler=dask_scheduler)
        model_dir = registry.fetch(spec.model_name, spec.model_version).path
        manifest_sha = registry.get_version(spec.model_name, spec.model_version).manifest_sha256
        work = ChunkWork(
            job_id=job_id,
            plan=plan,
            parts=parts,
            use_case=use_case,
            model=loaded.model,
            model_dir=model_dir,
            manifest_sha256=manifest_sha,
            columns=spec.columns,
            time_column=spec.time_column,
            should_stop=should_stop,
            options=spec.options,
        )

        def on_done(index: int, rows: int) -> None:
            nonlocal rows_done
            expected = plan.rows_in(index)
            if rows != expected:
                raise BatchError(f"chunk {index} covered {rows} rows, {expected} were planned")
            if index in done:
                return
            done.add(index)
            rows_done += rows
            checkpoint["done"] = sorted(done)
            store.save_progress(lease, checkpoint=checkpoint, rows_done=rows_done)
            if progress is not None:
                progress(rows_done, plan.rows_total)

        runner.run(work, pending, on_done)

    lease.check()
    parts.assemble(plan.chunks)
    heartbeat.stop()
    store.succeed(lease, rows_done=plan.rows_total)
    parts.remove()
    return plan.rows_total
