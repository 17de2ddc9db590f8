"""POST /v1/forecast and GET /v1/market/{symbol}/trend end to end.

The model is fitted once per session on the tiny simulated market (4 symbols x 3 years) and
registered per test, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from api_keys import READER, SCORER, with_keys
from fastapi.testclient import TestClient
from registered import register_packaged
from sqlalchemy import Engine, select

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.serving.log_writer import InferenceRow, LogBackpressure
from nexafi_ai.settings import Settings
from nexafi_ai.training import package_version
from nexafi_ai.usecases.base import FitResult
from nexafi_ai.usecases.forecast import USE_CASE as FORECAST
from nexafi_ai.usecases.forecast.model import ForecastModel
from nexafi_ai.usecases.forecast.schemas import ForecastRequest

MODELS = {"random_walk", "drift", "auto_arima", "auto_ets", "theta", "lightgbm"}


@dataclass(frozen=True)
class Fitted:
    prices: pd.DataFrame
    result: FitResult
    directory: Path
    metadata: dict[str, Any]

    @property
    def symbol(self) -> str:
        return str(self.prices["symbol"].iloc[0])

    def closes(self, symbol: str) -> pd.DataFrame:
        return self.prices[self.prices["symbol"] == symbol]

    @property
    def model(self) -> ForecastModel:
        model = self.result.model
        assert isinstance(model, ForecastModel)
        return model


@pytest.fixture(scope="session")
def forecast_fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    prices = FORECAST.builtin_data(size="tiny", seed=3)
    assert isinstance(prices, pd.DataFrame)
    result = FORECAST.fit(prices, seed=3)
    directory = tmp_path_factory.mktemp("forecast-model")
    metadata = package_version(FORECAST, result, prices, directory, source="test")
    return Fitted(prices, result, directory, metadata)


@pytest.fixture
def forecast_champion(
    forecast_fitted: Fitted, registry: ModelRegistry, tmp_path: Path
) -> ModelVersionInfo:
    return register_packaged(
        FORECAST,
        registry,
        forecast_fitted.result,
        forecast_fitted.directory,
        forecast_fitted.metadata,
        tmp_path,
    )


def _app(settings: Settings) -> Any:
    return create_app(with_keys(settings), use_cases={"forecast": FORECAST})


@pytest.fixture
def client(settings: Settings, forecast_champion: ModelVersionInfo) -> Iterator[TestClient]:
    with TestClient(_app(settings), headers={"X-API-Key": SCORER}) as c:
        yield c


def _logged(client: TestClient, engine: Engine) -> list[dict[str, Any]]:
    client.app.state.ctx.log_writer.close()  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def _series(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"timestamp": t.isoformat(), "value": float(v)}
        for t, v in zip(frame["date"], frame["close"], strict=True)
    ]


def _check_forecast(body: dict[str, Any], horizon: int, after: pd.Timestamp) -> None:
    """One step per day ahead, business days after the last close, nested intervals."""
    assert body["horizon"] == horizon
    assert body["model"] in MODELS
    assert isinstance(body["random_walk_fallback"], bool)
    assert body["explanation"]
    assert body["validation"]
    if body["random_walk_fallback"]:
        assert body["model"] == "random_walk"
    steps = body["forecasts"]
    assert len(steps) == horizon
    stamps = pd.to_datetime([s["timestamp"] for s in steps], utc=True)
    assert stamps[0] > after
    assert stamps.is_monotonic_increasing
    assert stamps.is_unique
    assert all(t.weekday() < 5 for t in stamps)  # the simulated market trades on weekdays
    for s in steps:
        assert set(s["lower"]) == set(s["upper"]) == {"80", "95"}
        assert 0 < s["lower"]["95"] < s["lower"]["80"] < s["mean"]
        assert s["mean"] < s["upper"]["80"] < s["upper"]["95"]
    widths = [s["upper"]["95"] - s["lower"]["95"] for s in steps]
    assert widths == sorted(widths)  # uncertainty grows with the horizon


def test_stored_symbol_forecast_is_answered_and_logged(
    client: TestClient, engine: Engine, forecast_fitted: Fitted
) -> None:
    symbol = forecast_fitted.symbol
    closes = forecast_fitted.closes(symbol)
    r = client.post(
        "/v1/forecast", json={"symbol": symbol, "horizon": 7}, headers={"X-Request-ID": "req-7"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["symbol"] == symbol
    assert body["model_version"] == "1"
    assert (r.headers["X-Model-Version"], r.headers["X-Request-ID"]) == ("1", "req-7")
    _check_forecast(body, 7, closes["date"].iloc[-1])
    # A one-day-ahead forecast is near the last close: daily moves are a few percent.
    last = float(closes["close"].iloc[-1])
    assert abs(body["forecasts"][0]["mean"] / last - 1) < 0.02
    # The route answers what the model answers, with the registry's version.
    direct = forecast_fitted.model.forecast(ForecastRequest(symbol=symbol, horizon=7))
    assert [s["mean"] for s in body["forecasts"]] == pytest.approx(
        [s.mean for s in direct.forecasts]
    )
    assert body["model"] == direct.model

    [row] = _logged(client, engine)
    assert row["request_id"] == "req-7"
    assert (row["use_case"], row["model_name"], row["model_version"]) == (
        "forecast",
        "nexafi-forecast",
        "1",
    )
    assert row["inputs"]["symbol"] == symbol
    assert row["inputs"]["horizon"] == 7
    assert row["outputs"] == body
    assert row["latency_ms"] >= 0


def test_sent_series_is_fitted_on_the_fly(
    client: TestClient, engine: Engine, forecast_fitted: Fitted
) -> None:
    closes = forecast_fitted.closes(forecast_fitted.symbol).tail(400)
    points = _series(closes)
    r = client.post("/v1/forecast", json={"series": points[::-1], "horizon": 5, "levels": [95, 80]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["symbol"] is None
    _check_forecast(body, 5, closes["date"].iloc[-1])
    # Unsorted input is sorted: the forecast starts from the latest close, not the first sent.
    last = float(closes["close"].iloc[-1])
    assert abs(body["forecasts"][0]["mean"] / last - 1) < 0.02

    [row] = _logged(client, engine)
    assert row["inputs"]["symbol"] is None
    assert len(row["inputs"]["series"]) == 400
    assert row["outputs"] == body


def test_levels_are_the_requested_ones(client: TestClient, forecast_fitted: Fitted) -> None:
    r = client.post(
        "/v1/forecast", json={"symbol": forecast_fitted.symbol, "horizon": 2, "levels": [50, 99]}
    )
    assert r.status_code == 200, r.text
    for s in r.json()["forecasts"]:
        assert set(s["lower"]) == {"50", "99"}
        assert s["lower"]["99"] < s["lower"]["50"] < s["mean"] < s["upper"]["50"]
        assert s["upper"]["50"] < s["upper"]["99"]


def test_short_series_is_422_saying_how_many_points_are_needed(
    client: TestClient, forecast_fitted: Fitted
) -> None:
    closes = forecast_fitted.closes(forecast_fitted.symbol)
    r = client.post("/v1/forecast", json={"series": _series(closes.tail(3))})
    assert r.status_code == 422, r.text
    error = _error(r)
    assert error["field"] == "series"
    found = re.search(r"at least (\d+)", error["message"])
    assert found, error["message"]
    needed = int(found.group(1))
    assert 3 < needed <= 1000
    # Exactly that many is enough; one fewer is not.
    assert client.post("/v1/forecast", json={"series": _series(closes.tail(needed))}).is_success
    fewer = client.post("/v1/forecast", json={"series": _series(closes.tail(needed - 1))})
    assert fewer.status_code == 422
    assert _error(fewer)["field"] == "series"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"symbol": "SYM", "horizon": 0}, "horizon"),
        ({"symbol": "SYM", "horizon": 61}, "horizon"),
        ({"symbol": "SYM", "levels": [100]}, "levels"),
        ({"symbol": "SYM", "levels": [80, 40]}, "levels"),
        ({"symbol": "SYM", "levels": []}, "levels"),
        ({"horizon": 5}, "symbol"),
        (
            {"symbol": "SYM", "series": [{"timestamp": "2024-01-02T00:00:00Z", "value": 1}]},
            "symbol",
        ),
        ({"series": [{"timestamp": "2024-01-02T00:00:00Z", "value": 0}]}, "series.0.value"),
        ({"series": [{"timestamp": "2024-01-02T00:00:00", "value": 1}]}, "series.0.timestamp"),
        ({"symbol": "SYM", "surprise": 1}, "surprise"),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    client: TestClient, request_: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/forecast", json=request_)
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == field


def test_duplicate_timestamps_are_422_naming_series(
    client: TestClient, forecast_fitted: Fitted
) -> None:
    points = _series(forecast_fitted.closes(forecast_fitted.symbol).tail(300))
    r = client.post("/v1/forecast", json={"series": [*points, points[-1]]})
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == "series"


def test_unknown_symbol_is_404_naming_symbol(client: TestClient) -> None:
    for r in (
        client.post("/v1/forecast", json={"symbol": "NOPE"}),
        client.get("/v1/market/NOPE/trend"),
    ):
        assert r.status_code == 404, r.text
        error = _error(r)
        assert (error["code"], error["field"]) == ("not_found", "symbol")


def test_trend_gives_direction_and_volatility_and_is_logged(
    client: TestClient, engine: Engine, forecast_fitted: Fitted
) -> None:
    symbol = forecast_fitted.symbol
    r = client.get(f"/v1/market/{symbol}/trend")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["symbol"], body["horizon"], body["model_version"]) == (symbol, 5, "1")
    assert r.headers["X-Model-Version"] == "1"
    assert 0.0 <= body["probability_up"] <= 1.0
    assert body["signal"] in {"up", "down", "neutral"}
    if body["signal"] == "up":
        assert body["probability_up"] > 0.5
    if body["signal"] == "down":
        assert body["probability_up"] < 0.5
    # Simulated equities: 10-80% a year, quoted both daily and annualised (252 trading days).
    assert 0.1 < body["volatility_annualised"] < 0.8
    assert body["volatility_annualised"] == pytest.approx(
        body["volatility_daily"] * math.sqrt(252), rel=1e-6
    )
    assert abs(body["expected_return"]) < 0.1

    longer = client.get(f"/v1/market/{symbol}/trend?horizon=20").json()
    assert longer["horizon"] == 20
    assert 0.0 <= longer["probability_up"] <= 1.0
    for horizon in (0, 61):
        bad = client.get(f"/v1/market/{symbol}/trend?horizon={horizon}")
        assert bad.status_code == 422
        assert _error(bad)["field"] == "horizon"

    first, second = _logged(client, engine)
    assert (first["use_case"], first["entity_id"], first["decision"]) == (
        "forecast",
        symbol,
        body["signal"],
    )
    assert first["score"] == pytest.approx(body["probability_up"])
    assert first["inputs"] == {"symbol": symbol, "horizon": 5, "endpoint": "trend"}
    assert first["outputs"] == body
    assert second["inputs"]["horizon"] == 20


def test_score_scope_is_required(client: TestClient, forecast_fitted: Fitted) -> None:
    symbol = forecast_fitted.symbol
    read_only = {"X-API-Key": READER}
    assert (
        client.post("/v1/forecast", json={"symbol": symbol}, headers=read_only).status_code == 403
    )
    assert client.get(f"/v1/market/{symbol}/trend", headers=read_only).status_code == 403
    assert (
        client.get(
            f"/v1/market/{symbol}/trend", headers={"X-API-Key": "wrong-key-0123456789abcdef"}
        ).status_code
        == 401
    )
    assert client.get(f"/v1/market/{symbol}/trend").status_code == 200


def test_a_full_log_refuses_with_503(
    client: TestClient, forecast_fitted: Fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(row: InferenceRow) -> None:
        raise LogBackpressure("spool full")

    monkeypatch.setattr(client.app.state.ctx.log_writer, "submit", full)  # type: ignore[attr-defined]
    for r in (
        client.post("/v1/forecast", json={"symbol": forecast_fitted.symbol}),
        client.get(f"/v1/market/{forecast_fitted.symbol}/trend"),
    ):
        assert r.status_code == 503
        assert _error(r)["code"] == "log_unavailable"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_model_loaded_is_503(settings: Settings) -> None:
    with TestClient(_app(settings), headers={"X-API-Key": SCORER}) as c:
        for r in (c.post("/v1/forecast", json={"symbol": "SYM"}), c.get("/v1/market/SYM/trend")):
            assert r.status_code == 503
            assert _error(r)["code"] == "model_not_loaded"


def test_a_named_series_is_graded_by_the_prices_sent_later(
    client: TestClient, engine: Engine, forecast_fitted: Fitted
) -> None:
    from nexafi_ai.evaluation.forecasting import mase
    from nexafi_ai.monitoring.performance import live_performance
    from nexafi_ai.usecases.forecast import USE_CASE as FORECAST

    closes = forecast_fitted.closes(forecast_fitted.symbol).tail(410)
    first, later = closes.head(400), closes
    r = client.post("/v1/forecast", json={"series": _series(first), "series_id": "BOOK-1"})
    assert r.status_code == 200, r.text
    forecast = r.json()["forecasts"]
    # A week later the app sends the same book with ten more closes.
    r = client.post("/v1/forecast", json={"series": _series(later), "series_id": "BOOK-1"})
    assert r.status_code == 200, r.text
    rows = _logged(client, engine)
    assert [row["entity_id"] for row in rows] == ["BOOK-1", "BOOK-1"]

    report = live_performance(engine, FORECAST, bucket=None)
    overall = report["overall"]
    assert overall["n_forecasts"] == 1
    assert overall["n_points"] == len(forecast)
    realised = closes["close"].iloc[400 : 400 + len(forecast)].to_numpy()
    predicted = [step["mean"] for step in forecast]
    expected = mase(realised, predicted, first["close"].to_numpy())
    assert abs(overall["mase"] - expected) < 1e-9
    bad = client.post("/v1/forecast", json={"symbol": forecast_fitted.symbol, "series_id": "X"})
    assert bad.status_code == 422
    assert _error(bad)["field"] == "series_id"
