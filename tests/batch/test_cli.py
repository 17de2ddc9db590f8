"""``nexafi-ai batch`` in process: failures exit 2 and are recorded; ``--job-id`` resumes."""

from pathlib import Path

import pandas as pd
from batch_reference import Reference
from typer.testing import CliRunner

from nexafi_ai.batch import FAILED, RUNNING, SUCCEEDED, JobStore, create_job
from nexafi_ai.cli import app
from nexafi_ai.registry import ModelVersionInfo
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase

runner = CliRunner()


def test_failure_exits_2_records_the_error_and_job_id_resumes(
    cli_env: Settings,
    store: JobStore,
    reference: Reference,
    portfolio: pd.DataFrame,
    tmp_path: Path,
) -> None:
    source = tmp_path / "book.csv"
    portfolio.rename(columns={"x2": "balance"}).to_csv(source, index=False)
    output = tmp_path / "scored.parquet"
    args = ["batch", "toy", "--input", str(source), "--output", str(output)]
    result = runner.invoke(app, [*args, "--chunk-rows", "1000"])
    assert result.exit_code == 2, result.output
    assert "batch failed" in result.output
    assert "missing columns ['x2']" in result.output
    [job] = store.recent()
    assert job.status == FAILED
    assert job.error is not None
    assert "x2" in job.error

    # The same command with the mapping is another job; the failed one is superseded.
    result = runner.invoke(app, [*args, "--column", "x2=balance"])
    assert result.exit_code == 0, result.output
    jobs = {j.id: j for j in store.recent()}
    assert jobs[job.id].error is not None
    assert jobs[job.id].error.startswith("superseded by job")
    [done] = [j for j in jobs.values() if j.status == SUCCEEDED]
    assert done.params["chunk_rows"] == cli_env.batch_chunk_rows
    reference.check(pd.read_parquet(output).rename(columns={"balance": "x2"}), portfolio)

    result = runner.invoke(app, ["batch", "toy", "--job-id", done.id])
    assert result.exit_code == 0, result.output
    assert f"resuming job {done.id} at row 3,000" in result.output
    result = runner.invoke(app, ["batch", "toy", "--job-id", "nope"])
    assert result.exit_code == 2
    assert "no batch job nope" in result.output
    result = runner.invoke(app, ["batch", "toy", "--input", str(source)])
    assert result.exit_code == 2
    assert "--output are required" in result.output


def test_unset_alias_and_unknown_engine_are_refused(
    cli_env: Settings, toy: UseCase, store: JobStore, portfolio_csv: Path, tmp_path: Path
) -> None:
    args = ["batch", "toy", "--input", str(portfolio_csv), "--output", str(tmp_path / "o.csv")]
    result = runner.invoke(app, [*args, "--alias", "challenger"])
    assert result.exit_code == 2
    assert "nexafi-toy@challenger is not set" in result.output
    result = runner.invoke(app, [*args, "--engine", "spark"])
    assert result.exit_code == 2
    assert "expected local or dask" in result.output
    assert store.recent() == []


def test_a_job_running_in_a_live_process_is_left_alone(
    cli_env: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    store: JobStore,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "scored.csv"
    job = create_job(
        store,
        toy,
        input_path=portfolio_csv,
        output_path=output,
        model_version="1",
        alias="champion",
    )
    assert store.claim(job.id, stale_after_s=60) is not None  # owned by this (live) process
    args = ["batch", "toy", "--input", str(portfolio_csv), "--output", str(output)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert f"job {job.id} is running in another process" in " ".join(result.output.split())
    running = store.get(job.id)
    assert running is not None
    assert running.status == RUNNING
    assert [j.id for j in store.recent()] == [job.id]
