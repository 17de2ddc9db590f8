"""The command line, in-process (Typer's runner) and, for `run`, as a real subprocess."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from typer.testing import CliRunner

from nexafi_ai.cli import app
from nexafi_ai.db import audit_log, head_revision, make_engine
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase

runner = CliRunner()


def test_db_upgrade_train_list_promote(cli_env: Settings, toy: UseCase) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output

    for seed in ("1", "2"):
        result = runner.invoke(app, ["train", "toy", "--size", "tiny", "--seed", seed])
        assert result.exit_code == 0, result.output
    assert "nexafi-toy version 2 registered" in result.output
    assert re.search(r"roc_auc\s+│\s+0\.9", result.output), result.output

    result = runner.invoke(app, ["models", "promote", "nexafi-toy", "2", "--reason", "better"])
    assert result.exit_code == 0, result.output
    assert "nexafi-toy@champion: None -> 2" in result.output
    result = runner.invoke(app, ["models", "promote", "nexafi-toy", "1"])
    assert "nexafi-toy@champion: 2 -> 1" in result.output
    result = runner.invoke(app, ["models", "promote", "nexafi-toy", "5"])
    assert result.exit_code == 1
    assert "refused" in result.output

    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "nexafi-toy" in result.output
    assert "champion" in result.output

    engine = make_engine(cli_env.database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    engine.dispose()
    assert [(r["from_version"], r["to_version"]) for r in rows] == [(None, "2"), ("2", "1")]
    assert all(r["actor"].startswith("cli:") for r in rows)


def test_serve_refuses_public_bind_without_keys(cli_env: Settings) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "no API keys" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_migrates_and_serves_on_a_fresh_home(tmp_path: Path) -> None:
    """`nexafi-ai run` on an empty home: database created, API ready, docs served."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXAFI_")}
    env["NEXAFI_HOME"] = str(tmp_path / "home")
    env["NEXAFI_TRAIN_SIZE"] = "tiny"  # the default size trains for about two minutes
    cli = Path(sys.executable).parent / "nexafi-ai"
    proc = subprocess.Popen(
        [str(cli), "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.25)
        assert ready is not None, proc.communicate(timeout=5)[0].decode(errors="replace")
        assert ready.status_code == 200, ready.text
        assert ready.json()["models"]["fraud"]["version"] == "1"
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=5).status_code == 200
        assert (tmp_path / "home" / "nexafi.db").is_file()
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    # uvicorn re-raises SIGTERM after a graceful shutdown, so the exit status is -15.
    assert proc.returncode in (0, -15), output
    assert "Application shutdown complete" in output
