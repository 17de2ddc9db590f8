"""Market forecasting: price level via log returns, direction over the horizon and volatility,
validated against the random walk and served only where a model beats it significantly.

Built-in data comes from the seeded simulator (``simulator.py``: regimes, a market factor,
GARCH volatility, fat tails); fintechs train on their own OHLCV exports (``data.py``).
``train.py`` validates the point models (``models.py``) against the random walk at rolling
origins (``selection.py``) and GARCH against constant volatility (``volatility.py``);
``model.py`` serves the chosen point model with GARCH intervals, for stored symbols from arrays
and for sent series on the fly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from nexafi_ai.usecases.base import FitResult, LogFields, Model, UseCase, check_options
from nexafi_ai.usecases.forecast.model import (
    MAX_HORIZON,
    MIN_SERIES_POINTS,
    ForecastModel,
    UnknownSymbolError,
)
from nexafi_ai.usecases.forecast.schemas import ForecastOut, ForecastRequest

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexafi_ai.serving.context import ServiceContext

__all__ = ["USE_CASE", "ForecastModel", "ForecastUseCase", "UnknownSymbolError"]

#: The fields of a price table a user's column can be mapped to (``--column``).
_PRICE_FIELDS = ("date", "value", "symbol")


class ForecastUseCase(UseCase):
    name = "forecast"
    model_name = "nexafi-forecast"
    summary = "Price, direction and volatility forecasts, served only where they beat a random walk"
    #: Realised prices (later requests' series) graded against the logged forecasts.
    performance_kind = "forecast"
    request_model = ForecastRequest
    response_model = ForecastOut
    needs_target = False
    # A forecast reads a symbol's whole history: a price file must not be split into chunks.
    batch_chunkable = False
    batch_options = ("horizon",)

    def builtin_data(self, *, size: str = "default", seed: int = 0) -> pd.DataFrame:
        from nexafi_ai.usecases.forecast.simulator import SimulatorConfig, simulate_prices

        return simulate_prices(SimulatorConfig.preset(size, seed=seed))  # type: ignore[arg-type]

    def fit(
        self, data: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        from nexafi_ai.usecases.forecast.train import fit_forecast

        return fit_forecast(data, seed=seed, options=options)

    def load(self, directory: Path) -> ForecastModel:
        return ForecastModel.load(directory)

    def example_requests(self, data: pd.DataFrame, n: int) -> list[dict[str, Any]]:
        """Stored symbols in turn, and one request sending a symbol's last 250 prices."""
        if n < 1:
            return []
        symbols = sorted(str(s) for s in pd.unique(data["symbol"]))
        bodies: list[dict[str, Any]] = [
            {"symbol": symbols[i % len(symbols)], "horizon": 5 + i % 3} for i in range(n)
        ]
        if n > 1:
            tail = data[data["symbol"].astype(str) == symbols[0]].sort_values("date").tail(250)
            series = [
                {"timestamp": pd.Timestamp(d).isoformat(), "value": float(v)}
                for d, v in zip(tail["date"], tail["close"], strict=True)
            ]
            if len(series) >= MIN_SERIES_POINTS:
                bodies[-1] = {"series": series, "horizon": 10, "levels": [50, 90]}
        return bodies

    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        good = {"symbol": "SIM00", "horizon": 5}
        point = {"timestamp": "2024-01-02T00:00:00Z", "value": 100.0}
        return [
            ({**good, "horizon": 0}, "horizon"),
            ({**good, "horizon": MAX_HORIZON + 1}, "horizon"),
            ({**good, "levels": [100]}, "levels"),
            ({**good, "levels": []}, "levels"),
            ({"horizon": 5}, "symbol"),
            ({**good, "series": [point]}, "symbol"),
            ({"series": [{**point, "value": -1.0}]}, "series.0.value"),
            ({"series": [{**point, "timestamp": "2024-01-02T00:00:00"}]}, "series.0.timestamp"),
            ({**good, "symbol": "bad symbol!"}, "symbol"),
            ({**good, "foo": 1}, "foo"),
            ({**good, "series_id": "MY-PORTFOLIO"}, "series_id"),
        ]

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        assert isinstance(response, ForecastOut)
        assert isinstance(request, ForecastRequest)
        return LogFields(
            # A sent series is graded by the prices sent later under the same name.
            entity_id=response.symbol or request.series_id,
            score=response.forecasts[0].mean if response.forecasts else None,
            decision=response.model,
        )

    def prepare_data(
        self,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        time_column: str | None = None,
        positive_label: str | None = None,
        mapping: Mapping[str, str] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """A price export (one or many symbols) as the standard price table.

        ``mapping`` names the columns for ``date``, ``value`` (the price) and ``symbol`` when
        the common spellings are not found; ``time_column`` is the date column. Prices have no
        label, so a ``target`` is refused rather than ignored.
        """
        from nexafi_ai.usecases.forecast.data import standardise_prices

        if target is not None or positive_label is not None:
            raise ValueError(
                "forecasts learn from the prices themselves, not a label: "
                "leave out --target and --positive-label"
            )
        if tables:
            raise ValueError(f"the forecast use case reads one price table, got {sorted(tables)}")
        columns = dict(mapping or {})
        unknown = sorted(set(columns) - set(_PRICE_FIELDS))
        if unknown:
            raise ValueError(
                f"--column {unknown[0]}: not a field of a price table "
                f"(known: {', '.join(_PRICE_FIELDS)})"
            )
        return standardise_prices(
            frame,
            date_column=columns.get("date", time_column),
            value_column=columns.get("value"),
            symbol_column=columns.get("symbol"),
        )

    def prepare_batch(
        self,
        frame: pd.DataFrame,
        *,
        time_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """The price table to forecast from, with each row's position in the file.

        The standard table is sorted by symbol and date and drops blank and duplicate rows, so
        its positions are not the file's: :meth:`score_batch` maps forecasts back with them.
        """
        from nexafi_ai.usecases.forecast.data import standardise_prices

        columns = dict(mapping or {})
        unknown = sorted(set(columns) - set(_PRICE_FIELDS))
        if unknown:
            raise ValueError(f"--column {unknown[0]}: not a field of a price table")
        return standardise_prices(
            frame,
            date_column=columns.get("date", time_column),
            value_column=columns.get("value"),
            symbol_column=columns.get("symbol"),
            source_rows=True,
        )

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """Forecasts ``horizon`` (option, default 5) steps ahead for every symbol of the file.

        One output row per symbol and step, mapped by ``_row`` to the symbol's last price row.
        """
        if not isinstance(model, ForecastModel):
            raise TypeError(f"expected a ForecastModel, got {type(model).__name__}")
        raw = check_options(options, self.batch_options).get("horizon", "5")
        horizon = int(raw) if raw.strip().isdigit() else 0
        if not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(
                f"option horizon: expected a whole number from 1 to {MAX_HORIZON}, got {raw!r}"
            )
        from nexafi_ai.usecases.forecast.data import SOURCE_ROW

        out = model.forecast_frame(data, horizon=horizon)
        if SOURCE_ROW in data.columns and len(out):
            # ``_row`` indexes the sorted table; the batch runner repeats the file's rows.
            out["_row"] = data[SOURCE_ROW].to_numpy(dtype=np.int64)[out["_row"].to_numpy()]
            out = out.sort_values(["_row", "step"], kind="stable").reset_index(drop=True)
        return out

    def router(self, service: ServiceContext) -> APIRouter:
        from nexafi_ai.usecases.forecast.router import forecast_router

        return forecast_router(self, service)


USE_CASE = ForecastUseCase()
