"""The acceptance test: a batch job killed midway and run again resumes, no row lost or doubled.

The CLI runs as a real process (``tests/support/toy_cli.py`` registers the toy use case, then
runs ``nexafi-ai``), is SIGKILLed once the job row shows some but not all chunks committed, and
the same command is run again. Many small chunks make the kill land midway without any delay
knob: the test polls the job row, as an operator would.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from batch_reference import Reference

from nexafi_ai.batch import RUNNING, SUCCEEDED, JobStore, parts_dir_for
from nexafi_ai.settings import Settings

TOY_CLI = Path(__file__).resolve().parents[1] / "support" / "toy_cli.py"


def _running_midway(store: JobStore, proc: subprocess.Popen[str], timeout_s: float) -> str:
    """Wait until a job has committed some chunks (50+) but not all; return its id."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for job in store.recent(limit=1):
            if job.rows_total and 500 <= job.rows_done < job.rows_total:
                return job.id
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.kill()
    output = proc.communicate()[0]
    raise AssertionError(f"the job never ran midway (exit {proc.returncode}):\n{output}")


def test_killed_job_resumes_without_duplicate_or_missing_rows(
    cli_env: Settings,
    store: JobStore,
    reference: Reference,
    portfolio: pd.DataFrame,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    output = tmp_path / "scored.csv"
    command = [
        sys.executable,
        str(TOY_CLI),
        "batch",
        "toy",
        "--input",
        str(portfolio_csv),
        "--output",
        str(output),
        "--chunk-rows",
        "10",  # 300 chunks of 10 rows
    ]
    env = dict(os.environ)  # cli_env put NEXAFI_HOME and NEXAFI_DATABASE_URL there
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    job_id = _running_midway(store, proc, timeout_s=120)
    proc.kill()
    proc.communicate(timeout=30)

    killed = store.get(job_id)
    assert killed is not None
    assert killed.status == RUNNING  # nobody marked it: the process died mid-chunk
    assert 0 < killed.rows_done < len(portfolio)
    assert not output.exists()

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    said = " ".join(rerun.stderr.split())  # rich wraps long lines
    resumed_at = re.search(rf"resuming job {job_id} at row ([\d,]+)", said)
    assert resumed_at is not None, rerun.stderr
    assert int(resumed_at.group(1).replace(",", "")) >= killed.rows_done

    job = store.get(job_id)
    assert job is not None
    assert (job.status, job.rows_done, job.rows_total) == (SUCCEEDED, 3000, 3000)
    assert [j.id for j in store.recent()] == [job_id]  # resumed, not started again
    reference.check(pd.read_csv(output), portfolio)
    assert not parts_dir_for(output).exists()
