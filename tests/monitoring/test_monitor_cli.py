"""``nexafi-ai monitor performance``: the library's numbers, from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from nexafi_ai.db.tables import inference_log, labels
from nexafi_ai.settings import Settings

T0 = datetime(2026, 4, 1, tzinfo=UTC)


def test_monitor_performance_matches_scikit_learn(engine: Engine, cli_env: Settings) -> None:
    from nexafi_ai.cli import app

    rng = np.random.default_rng(5)
    y = rng.random(300) < 0.2
    scores = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    rows, outcomes = [], []
    for i in range(300):
        when = T0 + timedelta(hours=i)
        rows.append(
            {
                "request_id": f"r{i}",
                "use_case": "fraud",
                "entity_id": f"tx{i}",
                "model_name": "nexafi-fraud",
                "model_version": "1",
                "inputs": {},
                "outputs": {},
                "score": float(scores[i]),
                "decision": "decline" if scores[i] > 0.6 else "approve",
                "latency_ms": 1.0,
                "created_at": when,
            }
        )
        outcomes.append(
            {
                "use_case": "fraud",
                "entity_id": f"tx{i}",
                "label": "fraud" if y[i] else "legit",
                "source": "chargeback",
                "observed_at": when + timedelta(days=2),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(inference_log), rows)
        conn.execute(insert(labels), outcomes)
    result = CliRunner().invoke(
        app,
        ["monitor", "performance", "fraud", "--as-of", "2026-06-01T00:00:00", "--bucket", "week"],
    )
    assert result.exit_code == 0, result.output
    as_json = CliRunner().invoke(
        app, ["monitor", "performance", "fraud", "--as-of", "2026-06-01T00:00:00", "--json"]
    )
    report = json.loads(as_json.stdout)
    assert report["n_labelled"] == 300
    assert abs(report["overall"]["auc"] - roc_auc_score(y, scores)) < 1e-12
    assert f"{report['overall']['auc']:.4g}" in result.stdout
    bad = CliRunner().invoke(app, ["monitor", "performance", "fraud", "--bucket", "year"])
    assert bad.exit_code == 2


def test_retrain_command_refuses_clearly_and_respects_triggers(
    cli_env: Settings, toy_champion: object
) -> None:
    from nexafi_ai.cli import app

    runner = CliRunner()
    not_due = runner.invoke(app, ["retrain", "toy", "--if-due"])
    assert not_due.exit_code == 0, not_due.output
    assert "not due" in not_due.output
    # The toy use case cannot rebuild training data from its log: a clear error, exit 2.
    cannot = runner.invoke(app, ["retrain", "toy"])
    assert cannot.exit_code == 2, cannot.output
    assert "cannot rebuild training data" in cannot.output
    missing = runner.invoke(app, ["retrain", "toy", "--data", "nope.csv"])
    assert missing.exit_code == 2
