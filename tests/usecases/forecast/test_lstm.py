"""The optional LSTM point model (``pip install .[deep]``): runs only where PyTorch is installed."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from nexafi_ai.usecases.forecast import USE_CASE, ForecastModel  # noqa: E402
from nexafi_ai.usecases.forecast.lstm import LstmForecaster  # noqa: E402
from nexafi_ai.usecases.forecast.model import LSTM_FILE  # noqa: E402
from nexafi_ai.usecases.forecast.models import make_forecaster  # noqa: E402
from nexafi_ai.usecases.forecast.schemas import ForecastRequest  # noqa: E402
from nexafi_ai.usecases.forecast.selection import select_model  # noqa: E402
from nexafi_ai.usecases.forecast.train import TrainOptions, _Panel, fit_forecast  # noqa: E402


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return USE_CASE.builtin_data(size="tiny", seed=3)


@pytest.fixture(scope="module")
def panel(prices: pd.DataFrame) -> _Panel:
    return _Panel.of(prices)


@pytest.fixture(scope="module")
def lstm(panel: _Panel) -> LstmForecaster:
    forecaster = make_forecaster("lstm")
    assert isinstance(forecaster, LstmForecaster)
    return forecaster.fit(panel.log_prices, 5, seed=1)


def test_fit_gives_finite_paths_of_the_asked_shape(lstm, panel) -> None:
    path = lstm.predict(0, panel.log_prices[0], 8)
    assert path.shape == (8,)
    assert np.all(np.isfinite(path))
    # No claimed skill beyond the training horizon: flat after step 5, linear before.
    assert path[5:] == pytest.approx([path[4]] * 3)
    assert path[:5] == pytest.approx(path[4] * np.arange(1, 6) / 5)
    # Daily returns are nearly unpredictable: a sane model predicts small moves.
    assert abs(path[4]) < 0.1
    # The batched route of cross-validation gives the same paths as one call per origin.
    origins = np.array([100, 400, len(panel.log_prices[1])], dtype=np.intp)
    many = lstm.predict_origins(panel.log_prices[1], origins, 5)
    single = [lstm.predict(1, panel.log_prices[1][:o], 5) for o in origins]
    np.testing.assert_allclose(many, np.stack(single), rtol=1e-6, atol=1e-12)
    # Short series (fewer returns than the window) are padded, not refused.
    assert lstm.predict(0, panel.log_prices[0][:10], 3).shape == (3,)


def test_same_seed_same_model_other_seed_other_model(lstm, panel) -> None:
    again = LstmForecaster().fit(panel.log_prices, 5, seed=1)
    other = LstmForecaster().fit(panel.log_prices, 5, seed=2)
    a, b, c = (f.predict(2, panel.log_prices[2], 5) for f in (lstm, again, other))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # Fitting leaves the global torch RNG alone.
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LstmForecaster(epochs=1).fit(panel.log_prices, 5, seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_served_lstm_round_trips_exactly_without_pickle(lstm, prices, tmp_path: Path) -> None:
    base = fit_forecast(prices, seed=3, options={"models": "drift"}).model
    assert isinstance(base, ForecastModel)
    model = ForecastModel(
        method="lstm",
        horizon=base.horizon,
        symbols=base.symbols,
        histories=base.histories,
        last_timestamps=base.last_timestamps,
        calendars=base.calendars,
        paths=base.paths,
        garch=base.garch,
        explanation="forced for the test",
        validation=base.validation,
        lstm_weights=lstm.to_arrays(),
    )
    model.save(tmp_path)
    assert (tmp_path / LSTM_FILE).exists()
    with np.load(tmp_path / LSTM_FILE, allow_pickle=False) as npz:
        assert any(k.startswith("w_lstm.") for k in npz.files)
    loaded = ForecastModel.load(tmp_path)
    assert loaded.method == "lstm"
    assert loaded.lstm_weights is not None
    assert model.lstm_weights is not None
    assert set(loaded.lstm_weights) == set(model.lstm_weights)
    for key, value in model.lstm_weights.items():
        np.testing.assert_array_equal(loaded.lstm_weights[key], value)

    rows = prices[prices["symbol"] == "SIM01"].tail(300)
    series = [
        {"timestamp": d.isoformat(), "value": float(v)}
        for d, v in zip(rows["date"], rows["close"], strict=True)
    ]
    request = ForecastRequest(series=series, horizon=5)
    before, after = model.forecast(request), loaded.forecast(request)
    assert after.model == "lstm"
    assert [s.mean for s in after.forecasts] == [s.mean for s in before.forecasts]
    log_prices = np.log(rows["close"].to_numpy(dtype=np.float64))
    expected = float(rows["close"].iloc[-1]) * np.exp(lstm.predict(0, log_prices, 5))
    assert [s.mean for s in after.forecasts] == pytest.approx(expected, rel=1e-12)

    with pytest.raises(ValueError, match="needs its weights"):
        ForecastModel(
            method="lstm",
            horizon=5,
            symbols=[],
            histories=[],
            last_timestamps=[],
            calendars=[],
            paths=np.zeros((0, 5)),
            garch=[],
            explanation="",
            validation={},
        )


def test_selection_with_lstm_reports_its_diebold_mariano_p_value(panel, prices) -> None:
    assert TrainOptions.of({"models": "drift,lstm"}).models == ("drift", "lstm")
    result = select_model(panel.log_prices, panel.dates, 5, models=("drift", "lstm"), seed=0)
    score = result.scores["lstm"]
    assert 0.0 <= score.dm_p_value <= 1.0
    assert np.isfinite(score.rmse_ratio)
    assert score.rmse_ratio > 0.0
    # The simulator's returns are unpredictable: the LSTM must not be served on them.
    assert result.served == "random_walk"

    fitted = fit_forecast(prices, seed=3, options={"models": "lstm"})
    report = fitted.metadata["reports"]["models"]
    assert set(report) == {"random_walk", "lstm"}
    assert 0.0 <= report["lstm"]["dm_p_value"] <= 1.0
