"""A fintech's own price export: `nexafi-ai train forecast --data` and `batch forecast --horizon`.

The export is the simulator's tiny market written the way a data vendor writes it: its own
column names, dates as text, tickers in a column and an exchange column the service does not
know. These tests train through the CLI, so they run on SQLite only: the job and registry code
they reach is covered on PostgreSQL by tests/batch and tests/usecases/forecast/test_api.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nexafi_ai.cli import app
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.forecast import USE_CASE as FORECAST
from nexafi_ai.usecases.forecast.model import ForecastModel
from nexafi_ai.usecases.forecast.schemas import ForecastRequest
from nexafi_ai.usecases.forecast.simulator import SimulatorConfig, simulate_prices

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

runner = CliRunner()
HORIZON = 3
COLUMNS = ["--date-column", "Trade Date", "--value-column", "Adj Close"]
SCORE_COLUMNS = [
    "step",
    "timestamp",
    "model",
    "mean",
    "lower_80",
    "upper_80",
    "lower_95",
    "upper_95",
    "volatility",
]


def _flat(output: str) -> str:
    """The CLI's text without the line breaks rich adds at the terminal width."""
    return " ".join(output.split())


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Four tickers, three years of business days, the vendor's own spellings."""
    prices = simulate_prices(SimulatorConfig.preset("tiny", seed=5))
    frame = pd.DataFrame(
        {
            "Ticker": prices["symbol"].str.replace("SIM", "TK"),
            "Trade Date": prices["date"].dt.strftime("%Y-%m-%d"),
            "Exchange": "XNYS",
            "Adj Close": prices["close"].round(4),
            "Volume": prices["volume"].astype(int),
        }
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_on_own_prices_then_batch_horizon_rows_per_symbol(
    cli_env: Settings, export: Path, registry: ModelRegistry, tmp_path: Path
) -> None:
    args = ["train", "forecast", "--data", str(export), *COLUMNS, "--symbol-column", "Ticker"]
    result = runner.invoke(app, [*args, "--promote", "champion"])
    assert result.exit_code == 0, result.output
    assert "nexafi-forecast version 1 registered" in result.output
    # Validation against the random walk: the served model's figures beside the walk's.
    for metric in ("mase", "directional_accuracy", "dm_p_value", "volatility_qlike_garch"):
        assert metric in result.output

    # The last 300 days of each ticker, tickers in a shuffled order: the batch forecasts from
    # the file's own history, one block of HORIZON rows per ticker, in the file's order.
    prices = pd.read_csv(export)
    recent = prices.groupby("Ticker", sort=False).tail(300)
    order = ["TK02", "TK00", "TK03", "TK01"]
    source = pd.concat([recent[recent["Ticker"] == t] for t in order], ignore_index=True)
    source_path = tmp_path / "recent.csv"
    source.to_csv(source_path, index=False)
    out = tmp_path / "forecasts.csv"
    batch = ["batch", "forecast", "--input", str(source_path), "--output", str(out)]
    result = runner.invoke(
        app, [*batch, *COLUMNS, "--symbol-column", "Ticker", "--horizon", str(HORIZON)]
    )
    assert result.exit_code == 0, result.output
    forecasts = pd.read_csv(out)
    assert list(forecasts.columns) == [*source.columns, *SCORE_COLUMNS]
    assert len(forecasts) == HORIZON * len(order)
    assert forecasts["Ticker"].drop_duplicates().tolist() == order
    for ticker, rows in forecasts.groupby("Ticker", sort=False):
        last = source[source["Ticker"] == ticker].iloc[-1]
        # Each row repeats the ticker's last input row, then steps 1..HORIZON ahead of it.
        for column in source.columns:
            assert (rows[column] == last[column]).all(), (ticker, column)
        assert rows["step"].tolist() == list(range(1, HORIZON + 1))
        stamps = pd.to_datetime(rows["timestamp"], utc=True)
        assert stamps.iloc[0] > pd.Timestamp(last["Trade Date"], tz="UTC")
        assert stamps.is_monotonic_increasing
        assert (stamps.dt.weekday < 5).all()  # business days, as the history's calendar
        assert (rows["lower_95"] < rows["lower_80"]).all()
        assert (rows["lower_80"] < rows["mean"]).all()
        assert (rows["mean"] < rows["upper_80"]).all()
        assert (rows["upper_80"] < rows["upper_95"]).all()
        assert abs(rows["mean"].iloc[0] / last["Adj Close"] - 1) < 0.02
        assert (rows["volatility"] > 0).all()

    # The batch answers what the API answers for the same series.
    model = load_verified(FORECAST, registry, "1").model
    assert isinstance(model, ForecastModel)
    history = source[source["Ticker"] == order[0]]
    series = [
        {"timestamp": pd.Timestamp(d, tz="UTC").isoformat(), "value": float(v)}
        for d, v in zip(history["Trade Date"], history["Adj Close"], strict=True)
    ]
    answer = model.forecast(ForecastRequest(series=series, horizon=HORIZON))
    batch_rows = forecasts[forecasts["Ticker"] == order[0]]
    assert batch_rows["mean"].tolist() == pytest.approx([s.mean for s in answer.forecasts])
    assert batch_rows["upper_95"].tolist() == pytest.approx(
        [s.upper["95"] for s in answer.forecasts]
    )

    # The same file with --option horizon=3 is the same job's answer; a disagreement is refused.
    again = tmp_path / "again.csv"
    result = runner.invoke(
        app,
        [
            *[a if a != str(out) else str(again) for a in batch],
            *COLUMNS,
            "--symbol-column",
            "Ticker",
            "--option",
            f"horizon={HORIZON}",
        ],
    )
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(again), forecasts)
    result = runner.invoke(app, [*batch, "--horizon", "3", "--option", "horizon=4"])
    assert result.exit_code == 2, result.output
    assert "disagrees with --horizon 3" in _flat(result.output)


def test_bad_commands_and_files_are_refused_clearly(
    cli_env: Settings, export: Path, tmp_path: Path
) -> None:
    data = str(export)
    cases = [
        (["--data", data, "--date-column", "Trade Date", "--value-column", "NOPE"], "NOPE"),
        (["--date-column", "Trade Date"], "--data"),
        (["--data", data, "--value-column", "A", "--column", "value=B"], "disagrees"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["train", "forecast", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in _flat(result.output), (extra, result.output)

    for horizon in ("0", "61"):
        result = runner.invoke(
            app,
            ["batch", "forecast", "--input", data, "--output", "x.csv", "--horizon", horizon],
        )
        assert result.exit_code == 2, result.output
