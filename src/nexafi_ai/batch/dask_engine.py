"""The Dask engine: one task per chunk on a Dask cluster, so big portfolios use many machines.

The driver connects to ``NEXAFI_DASK_SCHEDULER`` (or starts a :class:`distributed.LocalCluster`
on this machine when unset), ships the model once and submits one task per pending chunk; each
task scores its chunk, writes its part file and returns the row count, and the driver commits
the checkpoint as tasks finish (``as_completed``), so a crash of the driver or of any worker
loses at most the chunks in flight.

The model travels as the *bytes of its verified files* plus the manifest hash registered with
the version (scattered once, kept in worker memory): each worker writes them to a private
temporary folder, checks every hash with :func:`~nexafi_ai.registry.verify_manifest`, loads
them with the use case's own ``load``, replays the warm-up record and caches the model per
worker process by manifest hash. A model object is never pickled, and nothing is written to
disk but the model's own data-only files.

With a remote scheduler, the input file (Parquet) and the output's parts folder must be on
storage every worker sees at the same path (a shared volume, NFS); the driver reads CSV input
itself and sends each chunk's rows with its task, since CSV cannot be split without reading it
from the start. Workers need ``nexafi_ai`` and the use case's package installed.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from nexafi_ai.batch.chunks import ChunkPlan, iter_chunks, read_chunk
from nexafi_ai.batch.engine import ChunkDone, ChunkWork, JobInterruptedError, score_rows
from nexafi_ai.batch.parts import PartsDir
from nexafi_ai.registry.manifest import MANIFEST_NAME, verify_manifest
from nexafi_ai.usecases.base import Model, UseCase

__all__ = ["DaskEngine", "ModelPayload", "score_chunk_task"]

_CACHE_SIZE = 4
_models: OrderedDict[tuple[str, str], Model] = OrderedDict()
_models_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelPayload:
    """A model version as file bytes, checked and loaded on the worker that receives it."""

    use_case: UseCase
    files: Mapping[str, bytes]
    manifest_sha256: str | None

    @classmethod
    def from_dir(
        cls, use_case: UseCase, directory: Path, manifest_sha256: str | None
    ) -> ModelPayload:
        files = {
            p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*"))
            if p.is_file()
        }
        return cls(use_case, files, manifest_sha256)

    @property
    def key(self) -> tuple[str, str]:
        """Cache key: the use case and the hash of the manifest actually shipped."""
        manifest = self.files.get(MANIFEST_NAME, b"")
        return self.use_case.name, hashlib.sha256(manifest).hexdigest()


def _materialise(payload: ModelPayload, directory: Path) -> None:
    for rel, data in payload.files.items():
        parts = PurePosixPath(rel).parts
        if PurePosixPath(rel).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"model file {rel!r} would escape its folder")
        target = directory.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def worker_model(payload: ModelPayload) -> Model:
    """The payload's model, verified and loaded once per worker process."""
    import tempfile

    from nexafi_ai.serving.handles import check_warmup

    key = payload.key
    with _models_lock:
        cached = _models.get(key)
        if cached is not None:
            _models.move_to_end(key)
            return cached
        with tempfile.TemporaryDirectory(prefix="nexafi-model-") as tmp:
            directory = Path(tmp)
            _materialise(payload, directory)
            verify_manifest(directory, payload.manifest_sha256)
            model = payload.use_case.load(directory)
            check_warmup(payload.use_case, model, directory)
        _models[key] = model
        while len(_models) > _CACHE_SIZE:
            _models.popitem(last=False)
        return model


def score_chunk_task(
    index: int,
    rows: pd.DataFrame | None,
    plan: ChunkPlan,
    payload: ModelPayload,
    columns: Mapping[str, str],
    time_column: str | None,
    output: str,
    options: Mapping[str, str] | None = None,
) -> int:
    """Run on a worker: score chunk ``index`` (its ``rows``, or read from ``plan``), write its
    part file and return the number of input rows it covers."""
    raw = rows if rows is not None else read_chunk(plan, index)
    model = worker_model(payload)
    scored = score_rows(
        payload.use_case, model, raw, columns=columns, time_column=time_column, options=options
    )
    return PartsDir(Path(output)).write(index, scored, input_rows=len(raw))


def _distributed() -> Any:
    """``distributed``, imported on first use (it is heavy) and typed loosely: its API is only
    partly annotated."""
    import importlib

    return importlib.import_module("distributed")


class DaskEngine:
    """Chunks as Dask tasks on ``scheduler`` (an address), or on a local cluster when None.

    ``n_workers`` and ``processes`` shape the local cluster only; worker processes isolate
    the GIL-bound parts of scoring, threads (``processes=False``) start faster.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        n_workers: int | None = None,
        processes: bool = True,
    ) -> None:
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.processes = processes

    @contextmanager
    def _client(self) -> Iterator[Any]:
        distributed = _distributed()
        if self.scheduler:
            try:
                client = distributed.Client(self.scheduler, timeout="15s")
            except (OSError, TimeoutError) as exc:
                raise RuntimeError(
                    f"cannot reach the Dask scheduler at {self.scheduler}: {exc}"
                ) from exc
            with client:
                yield client
            return
        with (
            distributed.LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=self.processes,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client

    def run(self, work: ChunkWork, pending: Sequence[int], on_done: ChunkDone) -> None:
        if not pending:
            return
        payload = ModelPayload.from_dir(work.use_case, work.model_dir, work.manifest_sha256)
        with self._client() as client:
            [shipped] = client.scatter([payload], broadcast=True, hash=False)
            limit = max(4, 2 * sum(client.nthreads().values()))
            inputs = self._inputs(work.plan, pending)
            in_flight: dict[str, tuple[int, Any]] = {}
            completed = _distributed().as_completed()

            def submit_next() -> None:
                item = next(inputs, None)
                if item is None:
                    return
                index, rows = item
                future = client.submit(
                    score_chunk_task,
                    index,
                    rows,
                    work.plan,
                    shipped,
                    dict(work.columns),
                    work.time_column,
                    str(work.parts.output),
                    dict(work.options),
                    key=f"nexafi-batch-{work.job_id}-{index}-{uuid.uuid4().hex[:8]}",
                    retries=0,
                )
                in_flight[future.key] = (index, future)
                completed.add(future)

            for _ in range(limit):
                submit_next()
            try:
                for future in completed:
                    index, _ = in_flight.pop(future.key)
                    rows_written = int(future.result())
                    on_done(index, rows_written)
                    if work.should_stop():
                        raise JobInterruptedError(f"job {work.job_id} stopped by request")
                    submit_next()
            finally:
                for _, unfinished in in_flight.values():
                    unfinished.cancel()

    @staticmethod
    def _inputs(plan: ChunkPlan, pending: Sequence[int]) -> Iterator[tuple[int, Any]]:
        """``(index, rows)`` per pending chunk: rows read here for CSV, None for Parquet."""
        todo = frozenset(pending)
        if plan.format == "parquet":
            yield from ((i, None) for i in sorted(todo))
            return
        skip = [i for i in range(plan.chunks) if i not in todo]
        yield from iter_chunks(plan, skip=skip)
