"""The forecast model: the random-walk fallback, intervals, request checks, batch, round trip.

The simulator's returns are unpredictable in the mean, so validation must fall back to the
random walk and say so; on a series with strong AR(1) returns a model has real skill and the
same rule must pick it (the rule is not rigged towards the random walk).
"""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nexafi_ai.usecases.base import RequestFieldError
from nexafi_ai.usecases.forecast import USE_CASE, ForecastModel, UnknownSymbolError
from nexafi_ai.usecases.forecast.model import MIN_SERIES_POINTS
from nexafi_ai.usecases.forecast.schemas import ForecastRequest
from nexafi_ai.usecases.forecast.train import fit_forecast


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return USE_CASE.builtin_data(size="tiny", seed=3)


@pytest.fixture(scope="module")
def fitted(prices: pd.DataFrame):
    return fit_forecast(prices, seed=3)


@pytest.fixture(scope="module")
def model(fitted) -> ForecastModel:
    assert isinstance(fitted.model, ForecastModel)
    return fitted.model


def _series(prices: pd.DataFrame, symbol: str, n: int) -> list[dict]:
    rows = prices[prices["symbol"] == symbol].tail(n)
    return [
        {"timestamp": d.isoformat(), "value": float(v)}
        for d, v in zip(rows["date"], rows["close"], strict=True)
    ]


def test_no_skill_falls_back_to_the_random_walk_and_says_so(fitted, model, prices) -> None:
    selection = fitted.metadata["reports"]["selection"]
    assert selection["served"] == "random_walk"
    assert selection["best"] != "random_walk"
    assert fitted.metrics["random_walk_fallback"] == 1.0
    assert fitted.metrics["mase"] == fitted.metrics["baseline_mase"]
    assert fitted.metrics["best_model_dm_p_value"] >= 0.01
    assert all("@" not in k and "%" not in k for k in fitted.metrics)
    models = fitted.metadata["reports"]["models"]
    assert set(models) == {"random_walk", "drift", "theta", "auto_ets", "auto_arima", "lightgbm"}
    assert models["random_walk"]["directional_accuracy"] == 0.5

    out = model.forecast(ForecastRequest(symbol="SIM01", horizon=3), version="7")
    assert out.model == "random_walk"
    assert out.random_walk_fallback is True
    assert "Diebold-Mariano" in out.explanation
    assert out.model_version == "7"
    last = float(prices[prices["symbol"] == "SIM01"]["close"].iloc[-1])
    assert [s.mean for s in out.forecasts] == pytest.approx([last] * 3, rel=1e-12)
    # Business days after the last date (the simulator skips weekends).
    last_date = prices["date"].iloc[-1]
    assert out.forecasts[0].timestamp == (last_date + pd.offsets.BDay(1)).to_pydatetime()

    trend = model.trend("SIM01", horizon=5)
    assert trend.probability_up == pytest.approx(0.5)
    assert trend.signal == "neutral"
    assert trend.volatility_annualised == pytest.approx(trend.volatility_daily * np.sqrt(252))
    assert 0.05 < trend.volatility_annualised < 1.5


def test_explicit_series_gives_widening_intervals_at_the_requested_levels(model, prices) -> None:
    request = ForecastRequest(series=_series(prices, "SIM02", 300), horizon=10, levels=[90, 50])
    out = model.forecast(request)
    assert out.symbol is None
    assert len(out.forecasts) == 10
    widths = []
    for step in out.forecasts:
        assert set(step.lower) == set(step.upper) == {"50", "90"}
        assert step.lower["90"] < step.lower["50"] < step.mean < step.upper["50"] < step.upper["90"]
        widths.append(step.upper["90"] - step.lower["90"])
    assert all(b > a for a, b in itertools.pairwise(widths))


def test_series_checks_name_the_field(model, prices) -> None:
    short = ForecastRequest(series=_series(prices, "SIM00", MIN_SERIES_POINTS - 1))
    with pytest.raises(RequestFieldError) as info:
        model.forecast(short)
    assert info.value.field == "series"
    assert f"at least {MIN_SERIES_POINTS} points" in str(info.value)

    points = _series(prices, "SIM00", 150)
    with pytest.raises(RequestFieldError, match="duplicate timestamp") as dup:
        model.forecast(ForecastRequest(series=[*points, points[10]]))
    assert dup.value.field == "series"

    shuffled = list(reversed(points))
    assert model.forecast(ForecastRequest(series=shuffled)) == model.forecast(
        ForecastRequest(series=points)
    )


def test_unknown_symbol(model) -> None:
    with pytest.raises(UnknownSymbolError) as info:
        model.forecast(ForecastRequest(symbol="NOPE"))
    assert info.value.field == "symbol"
    with pytest.raises(UnknownSymbolError):
        model.trend("NOPE")


def test_save_load_round_trip_is_exact(model, prices, tmp_path: Path) -> None:
    requests = [
        ForecastRequest(symbol="SIM03", horizon=60, levels=[51, 99]),
        ForecastRequest(series=_series(prices, "SIM00", 400), horizon=7),
    ]
    model.save(tmp_path)
    loaded = USE_CASE.load(tmp_path)
    assert [r.model_dump() for r in loaded.predict(requests)] == [
        r.model_dump() for r in model.predict(requests)
    ]
    assert loaded.trend("SIM03", 20) == model.trend("SIM03", 20)


def test_forecast_frame_matches_per_symbol_forecasts(model, prices) -> None:
    table = prices.groupby("symbol").tail(200).reset_index(drop=True)
    short = pd.DataFrame({"symbol": "TINY", "date": table["date"].iloc[:5], "close": 10.0})
    table = pd.concat([table, short], ignore_index=True)
    frame = USE_CASE.score_batch(model, table, options={"horizon": "4"})
    symbols = sorted(prices["symbol"].unique())
    assert len(frame) == 4 * len(symbols)  # the too-short symbol gets no rows
    assert frame["_row"].is_monotonic_increasing
    for symbol in symbols:
        rows = frame[table["symbol"].to_numpy()[frame["_row"]] == symbol]
        assert rows["_row"].nunique() == 1
        assert rows["_row"].iloc[0] == table.index[table["symbol"] == symbol].max()
        out = model.forecast(ForecastRequest(series=_series(table, symbol, 200), horizon=4))
        assert rows["step"].tolist() == [1, 2, 3, 4]
        assert rows["mean"].tolist() == [s.mean for s in out.forecasts]
        assert rows["lower_95"].tolist() == [s.lower["95"] for s in out.forecasts]
        assert rows["upper_80"].tolist() == [s.upper["80"] for s in out.forecasts]
        assert (rows["volatility"] > 0).all()


def _ar1_prices(phi: float, n_symbols: int, n_days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2015-01-01", periods=n_days, tz="UTC")
    frames = []
    for i in range(n_symbols):
        shocks = rng.normal(0.0, 0.01, n_days)
        returns = np.zeros(n_days)
        for t in range(1, n_days):
            returns[t] = phi * returns[t - 1] + shocks[t]
        close = 100.0 * np.exp(np.cumsum(returns))
        frames.append(pd.DataFrame({"symbol": f"AR{i}", "date": dates, "close": close}))
    return pd.concat(frames, ignore_index=True)


def test_a_model_with_real_skill_is_served() -> None:
    prices = _ar1_prices(phi=0.5, n_symbols=4, n_days=900, seed=11)
    result = fit_forecast(prices, seed=0, options={"horizon": "2"})
    selection = result.metadata["reports"]["selection"]
    assert selection["served"] != "random_walk", result.metadata["reports"]["models"]
    assert result.metrics["random_walk_fallback"] == 0.0
    assert result.metrics["dm_p_value"] < 0.01
    assert result.metrics["rmse"] < result.metrics["baseline_rmse"]
    model = result.model
    assert isinstance(model, ForecastModel)
    out = model.forecast(ForecastRequest(symbol="AR0"))
    assert out.random_walk_fallback is False
    assert out.model == selection["served"]
    assert "beat the random walk" in out.explanation


def test_lstm_without_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from nexafi_ai.usecases.forecast import train
    from nexafi_ai.usecases.forecast.models import make_forecaster
    from nexafi_ai.usecases.forecast.selection import DEFAULT_MODELS

    assert "lstm" not in DEFAULT_MODELS  # opt-in: the default never depends on what is installed
    monkeypatch.setattr(train, "torch_available", lambda: False)
    with pytest.raises(ValueError, match=r"install the deep extra: pip install \.\[deep\]"):
        train.TrainOptions.of({"models": "drift,lstm"})
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(ValueError, match=r"pip install \.\[deep\]"):
        make_forecaster("lstm")
