"""Running jobs in process: crash windows, engines, whole-file use cases, changed inputs."""

import shutil
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_reference import Reference
from toy_usecase import ToyUseCase

from nexafi_ai.batch import (
    FAILED,
    SUCCEEDED,
    BatchError,
    BatchInputError,
    DaskEngine,
    JobStore,
    PartsDir,
    create_job,
    find_resumable,
    run_job,
)
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.usecases import Model, register


class FlakyToy(ToyUseCase):
    """The toy use case, failing on a chosen row and counting the chunks it scores."""

    fail_on: ClassVar[str | None] = None
    scored: ClassVar[list[int]] = []

    def score_batch(self, model: Model, data: pd.DataFrame) -> pd.DataFrame:
        if self.fail_on is not None and self.fail_on in set(data["id"]):
            raise RuntimeError("disk on fire")
        type(self).scored.append(len(data))
        return super().score_batch(model, data)


class WholeFileToy(FlakyToy):
    batch_chunkable = False


def _new_job(
    store: JobStore, use_case: ToyUseCase, source: Path, output: Path, **kw: object
) -> str:
    params: dict[str, object] = {"model_version": "1", "alias": "champion", "chunk_rows": 300}
    params.update(kw)
    return create_job(
        store,
        use_case,
        input_path=source,
        output_path=output,
        **params,  # type: ignore[arg-type]
    ).id


def test_parts_without_checkpoint_are_rewritten_not_duplicated(
    store: JobStore,
    registry: ModelRegistry,
    toy_champion: ModelVersionInfo,
    reference: Reference,
    portfolio: pd.DataFrame,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    flaky = FlakyToy()
    register(flaky)  # replaces the toy for this test; the toy fixture unregisters it
    FlakyToy.scored = []
    FlakyToy.fail_on = str(portfolio["id"].iloc[1000])  # in chunk 3 of 10
    output = tmp_path / "scored.csv"
    job_id = _new_job(store, flaky, portfolio_csv, output)
    with pytest.raises(BatchError, match="disk on fire"):
        run_job(job_id, store=store, registry=registry)
    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.error, job.rows_done) == (FAILED, "disk on fire", 900)
    assert job.done_chunks == {0, 1, 2}

    # A crash between writing a part and committing its checkpoint leaves parts the
    # checkpoint does not list (here with the wrong rows), and a disk may lose a listed part.
    parts = PartsDir(output)
    shutil.copy(parts.part(0), parts.part(3))
    shutil.copy(parts.part(0), parts.part(4))
    parts.part(1).unlink()
    FlakyToy.fail_on = None
    FlakyToy.scored = []
    job = run_job(job_id, store=store, registry=registry, retry_failed=True)
    assert (job.status, job.rows_done, job.rows_total) == (SUCCEEDED, 3000, 3000)
    assert FlakyToy.scored == [300] * 8  # chunks 1 and 3..9; 0 and 2 were kept
    reference.check(pd.read_csv(output), portfolio)
    assert not parts.path.exists()
    # Running a finished job again is a no-op that reports it.
    assert run_job(job_id, store=store, registry=registry).status == SUCCEEDED


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dask_engine_gives_the_local_output(
    store: JobStore,
    registry: ModelRegistry,
    toy: ToyUseCase,
    toy_champion: ModelVersionInfo,
    reference: Reference,
    portfolio: pd.DataFrame,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    from distributed import LocalCluster

    source = tmp_path / "portfolio.parquet"
    table = pa.Table.from_pandas(portfolio, preserve_index=False)
    pq.write_table(table, source, row_group_size=700)  # chunks straddle row groups
    local_out, dask_out = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    run_job(_new_job(store, toy, source, local_out, chunk_rows=500), store=store, registry=registry)

    # Worker processes, as on a real cluster: the model travels as verified file bytes, and
    # each worker reads its own Parquet chunk. They import the toy use case because spawned
    # workers inherit this process's sys.path, which pytest extended with tests/support.
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        engine = DaskEngine(cluster.scheduler_address)
        job_id = _new_job(store, toy, source, dask_out, chunk_rows=500, engine="dask")
        job = run_job(job_id, store=store, registry=registry, engine=engine)
    assert (job.status, job.rows_done) == (SUCCEEDED, len(portfolio))
    pd.testing.assert_frame_equal(pd.read_parquet(dask_out), pd.read_parquet(local_out))
    reference.check(pd.read_parquet(dask_out), portfolio)

    # CSV: the driver streams the rows to the tasks. With no scheduler the engine starts its
    # own local cluster; threads keep this one quick to start.
    csv_out = tmp_path / "dask.csv"
    job_id = _new_job(store, toy, portfolio_csv, csv_out, chunk_rows=400, engine="dask")
    run_job(job_id, store=store, registry=registry, engine=DaskEngine(None, processes=False))
    reference.check(pd.read_csv(csv_out), portfolio)


def test_whole_file_use_case_is_one_chunk_and_refuses_dask(
    store: JobStore,
    registry: ModelRegistry,
    toy_champion: ModelVersionInfo,
    reference: Reference,
    portfolio: pd.DataFrame,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    whole = WholeFileToy()
    register(whole)
    WholeFileToy.fail_on = None
    WholeFileToy.scored = []
    output = tmp_path / "scored.parquet"
    with pytest.raises(BatchInputError, match="one chunk") as info:
        _new_job(store, whole, portfolio_csv, output, engine="dask")
    assert info.value.field == "engine"
    job = run_job(_new_job(store, whole, portfolio_csv, output), store=store, registry=registry)
    assert job.status == SUCCEEDED
    assert WholeFileToy.scored == [len(portfolio)]
    reference.check(pd.read_parquet(output), portfolio)


def test_changed_input_is_not_resumed_and_a_new_job_supersedes_the_old(
    store: JobStore,
    registry: ModelRegistry,
    toy: ToyUseCase,
    toy_champion: ModelVersionInfo,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "scored.csv"
    old = _new_job(store, toy, portfolio_csv, output)
    same = {"input_path": portfolio_csv, "output_path": output, "model_version": "1"}
    assert find_resumable(store, toy, **same) is not None  # type: ignore[arg-type]
    with portfolio_csv.open("a") as fh:
        fh.write("extra,0.1,0.2\n")
    assert find_resumable(store, toy, **same) is None  # type: ignore[arg-type]
    with pytest.raises(BatchError, match="changed since"):
        run_job(old, store=store, registry=registry)
    new = _new_job(store, toy, portfolio_csv, output)
    old_job = store.get(old)
    assert old_job is not None
    assert (old_job.status, old_job.error) == (FAILED, f"superseded by job {new}")
    assert run_job(new, store=store, registry=registry).rows_done == 3001
