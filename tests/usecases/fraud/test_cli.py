"""Users' own files: `nexafi-ai train fraud --data` and `nexafi-ai batch fraud`, round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nexafi_ai.cli import app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD

runner = CliRunner()


def _flat(output: str) -> str:
    """The CLI's text without the line breaks rich adds at the terminal width."""
    return " ".join(output.split())


def _bank_export(path: Path, seed: int) -> pd.DataFrame:
    """A simulated history with a bank's own column names, as a CSV."""
    data = FRAUD.builtin_data(size="tiny", seed=seed)
    export = pd.DataFrame(
        {
            "TX_ID": data["transaction_id"],
            "TX_DATETIME": data["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "CARD_TOKEN": data["card_id"],
            "POS_ID": data["terminal_id"],
            "TX_AMOUNT": data["amount"],
            "MCC": data["mcc"],
            "LABEL": np.where(data["is_fraud"] == 1, "fraud", "genuine"),
        }
    )
    export.to_csv(path, index=False)
    return export


def test_train_on_a_csv_then_batch_score_a_file(cli_env: Settings, tmp_path: Path) -> None:
    history = tmp_path / "history.csv"
    _bank_export(history, seed=5)
    args = [
        "train",
        "fraud",
        "--data",
        str(history),
        "--target",
        "LABEL",
        "--positive-label",
        "fraud",
        "--time-column",
        "TX_DATETIME",
        "--column",
        "transaction_id=TX_ID",
        "--column",
        "card_id=CARD_TOKEN",
        "--column",
        "terminal_id=POS_ID",
        "--promote",
        "champion",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "nexafi-fraud version 1 registered" in result.output
    assert "test_roc_auc" in result.output
    assert "test_average_precision" in result.output

    new = tmp_path / "new.parquet"
    incoming = _bank_export(tmp_path / "new.csv", seed=6).drop(columns=["LABEL"])
    incoming = incoming.sample(frac=1.0, random_state=0)  # not in time order: output keeps it
    incoming.to_parquet(new, index=False)
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        [
            "batch",
            "fraud",
            "--input",
            str(new),
            "--output",
            str(out),
            "--time-column",
            "TX_DATETIME",
            "--column",
            "transaction_id=TX_ID",
            "--column",
            "card_id=CARD_TOKEN",
            "--column",
            "terminal_id=POS_ID",
        ],
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, dtype={"MCC": str})
    assert len(scored) == len(incoming)
    assert scored["TX_ID"].tolist() == incoming["TX_ID"].tolist()
    assert {"fraud_probability", "decision", "reasons"} <= set(scored.columns)
    assert scored["fraud_probability"].between(0, 1).all()
    assert set(scored["decision"]) <= {"approve", "review", "decline"}


def test_train_on_anonymised_numeric_features(cli_env: Settings, tmp_path: Path) -> None:
    """An export with only engineered numbers (no card or terminal): split by time."""
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + 0.8 * x[:, 1] + rng.normal(scale=0.7, size=n) > 2.2).astype(int)
    frame = pd.DataFrame(x, columns=["V1", "V2", "V3", "V4"])
    frame.insert(0, "Time", np.sort(rng.uniform(0, 172_800, size=n)))
    frame["Amount"] = rng.gamma(2.0, 40.0, size=n).round(2)
    frame["Class"] = y
    path = tmp_path / "anonymised.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(
        app, ["train", "fraud", "--data", str(path), "--target", "Class", "--time-column", "Time"]
    )
    assert result.exit_code == 0, result.output
    assert "nexafi-fraud version 1 registered" in result.output


def test_bad_files_are_refused_clearly(cli_env: Settings, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame({"when": ["2025-01-01"], "card": ["4111111111111111"], "y": [1]}).to_csv(path)
    result = runner.invoke(
        app,
        [
            "train",
            "fraud",
            "--data",
            str(path),
            "--target",
            "y",
            "--time-column",
            "when",
            "--column",
            "card_id=card",
            "--column",
            "terminal_id=card",
        ],
    )
    assert result.exit_code == 2
    assert "full card numbers" in _flat(result.output)
    result = runner.invoke(app, ["train", "fraud", "--data", str(path), "--target", "nope"])
    assert result.exit_code == 2
    assert "no time column" in _flat(result.output)
    result = runner.invoke(
        app,
        ["train", "fraud", "--data", str(path), "--target", "nope", "--time-column", "when"],
    )
    assert result.exit_code == 2
    assert "--target nope: no such column" in _flat(result.output)
