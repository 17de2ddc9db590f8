"""The fitted forecaster: a point model for the mean, GARCH for the spread, per symbol.

**Mean.** The cumulative log return ``log p[t+k] - log p[t]`` expected by the version's served
method (``random_walk`` unless validation found a model significantly better, see
``selection.py``). For stored symbols the path is precomputed at training up to the largest
horizon, so a request is array lookups; a sent ``series`` is fitted on the fly with the same
method (statistical models on the trailing window, the pooled LightGBM booster as stored).

**Spread.** The cumulative log return's variance is the sum of the GARCH daily variance path
(returns are uncorrelated), and an interval at any level is the mean plus or minus the fitted
shock distribution's quantile times its square root, so an arbitrary level costs one quantile.
Prices are ``last * exp(...)``: always positive, and intervals widen with the step.

**Direction.** ``probability_up`` is ``P(cumulative log return > 0)`` under the same
distribution: exactly 0.5 under the random walk, which is the honest answer when nothing beats
it; the signal is ``up`` / ``down`` only beyond 0.55 / 0.45.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel
from scipy import stats  # type: ignore[import-untyped]

from nexafi_ai.usecases.base import RequestFieldError
from nexafi_ai.usecases.forecast.data import Calendar, next_timestamps, series_calendar
from nexafi_ai.usecases.forecast.lstm import LstmForecaster
from nexafi_ai.usecases.forecast.models import (
    LightGbmForecaster,
    PointForecaster,
    make_forecaster,
)
from nexafi_ai.usecases.forecast.schemas import (
    ForecastOut,
    ForecastRequest,
    ForecastStep,
    Signal,
    TrendOut,
)
from nexafi_ai.usecases.forecast.volatility import GarchParams, fit_garch

__all__ = [
    "FRAME_COLUMNS",
    "MAX_HORIZON",
    "MIN_SERIES_POINTS",
    "ForecastModel",
    "SymbolState",
    "UnknownSymbolError",
]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

SPEC_FILE: Final = "forecast_model.json"
ARRAYS_FILE: Final = "forecast_arrays.npz"
BOOSTER_FILE: Final = "forecast_lightgbm.txt"
LSTM_FILE: Final = "forecast_lstm.npz"
UNREGISTERED: Final = "unregistered"
#: The largest horizon a request may ask for (as ``ForecastRequest.horizon``).
MAX_HORIZON: Final = 60
#: Prices a sent series needs: enough for the rolling features and a usable volatility.
MIN_SERIES_POINTS: Final = 100
#: Recent closes kept per stored symbol.
HISTORY: Final = 500
#: Returns GARCH is fitted on, for stored symbols and sent series alike (about four years).
GARCH_RETURNS: Final = 1000
#: ``probability_up`` beyond which the trend signal says up (below 1 minus it: down).
SIGNAL_THRESHOLD: Final = 0.55
#: Observations in a year per calendar, to annualise a daily volatility.
PERIODS_PER_YEAR: Final[dict[str, float]] = {"B": 252.0, "D": 365.0}
#: What :meth:`ForecastModel.forecast_frame` returns (with lower/upper per requested level).
FRAME_COLUMNS: Final = ("_row", "step", "timestamp", "model", "mean")


class UnknownSymbolError(LookupError):
    """A ``symbol`` the served model was not trained on: the API answers 404."""

    field = "symbol"

    def __init__(self, symbol: str) -> None:
        super().__init__(f"unknown symbol {symbol!r}; send its price series instead")
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class SymbolState:
    """What a forecast for one series needs: where it ends, its mean path, its volatility."""

    last_log_price: float
    last_timestamp: pd.Timestamp
    calendar: Calendar
    path: FloatArray  # expected cumulative log return, steps 1..len(path)
    garch: GarchParams


def _cumulative_sd(garch: GarchParams, horizon: int) -> FloatArray:
    return np.sqrt(garch.cumulative_variance(horizon))


def _shock(garch: GarchParams) -> Any:
    """The unit-variance shock distribution (scipy frozen) the intervals and P(up) come from."""
    if garch.nu is None or garch.nu <= 2.0:
        return stats.norm()
    return stats.t(garch.nu, scale=math.sqrt((garch.nu - 2.0) / garch.nu))


class ForecastModel:
    """Serves forecasts for stored symbols from arrays and for sent series on the fly."""

    def __init__(
        self,
        *,
        method: str,
        horizon: int,
        symbols: Sequence[str],
        histories: Sequence[FloatArray],
        last_timestamps: Sequence[pd.Timestamp],
        calendars: Sequence[Calendar],
        paths: FloatArray,
        garch: Sequence[GarchParams],
        explanation: str,
        validation: dict[str, float | str | bool | None],
        booster_text: str | None = None,
        lstm_weights: Mapping[str, NDArray[Any]] | None = None,
        info: dict[str, Any] | None = None,
        interval_scale: float = 1.0,
    ) -> None:
        self.method = method
        self.horizon = horizon
        self.symbols = tuple(symbols)
        self.histories = [np.asarray(h, dtype=np.float64) for h in histories]
        self.last_timestamps = tuple(pd.Timestamp(t) for t in last_timestamps)
        self.calendars = tuple(calendars)
        self.paths = np.asarray(paths, dtype=np.float64)
        self.garch = tuple(garch)
        self.explanation = explanation
        self.validation = dict(validation)
        self.booster_text = booster_text
        self.info = dict(info or {})
        #: How much wider than GARCH's own the price intervals are drawn, calibrated at
        #: training so they cover what they promise (see ``VolatilityReport.interval_scale``).
        self.interval_scale = float(interval_scale)
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self._booster: LightGbmForecaster | None = (
            LightGbmForecaster.from_text(booster_text, horizon) if booster_text else None
        )
        if method == "lightgbm" and self._booster is None:
            raise ValueError("a lightgbm forecast model needs its booster")
        #: The LSTM's state dict as numpy arrays (stored as ``.npz``, never pickle).
        self.lstm_weights = dict(lstm_weights) if lstm_weights else None
        self._lstm: LstmForecaster | None = (
            LstmForecaster.from_arrays(self.lstm_weights) if self.lstm_weights else None
        )
        if method == "lstm" and self._lstm is None:
            raise ValueError("an lstm forecast model needs its weights")

    # ------------------------------------------------------------------ state per series
    @property
    def random_walk_fallback(self) -> bool:
        return self.method == "random_walk"

    def stored(self, symbol: str) -> SymbolState:
        """The state of a symbol the model was trained on."""
        i = self._index.get(symbol)
        if i is None:
            raise UnknownSymbolError(symbol)
        return SymbolState(
            last_log_price=float(self.histories[i][-1]),
            last_timestamp=self.last_timestamps[i],
            calendar=self.calendars[i],
            path=self.paths[i],
            garch=self.garch[i],
        )

    def _forecaster(self) -> tuple[PointForecaster, bool]:
        """The served method ready for a new series, and whether it must be fitted on it."""
        if self._booster is not None:
            return self._booster, False
        if self._lstm is not None:
            return self._lstm, False
        return make_forecaster(self.method), True

    def fitted(
        self, log_prices: FloatArray, timestamps: pd.DatetimeIndex, horizon: int
    ) -> SymbolState:
        """The state of a sent series: the served method and GARCH fitted on it now."""
        if len(log_prices) < MIN_SERIES_POINTS:
            raise RequestFieldError(
                "series",
                f"{len(log_prices)} points: a forecast needs at least {MIN_SERIES_POINTS} points",
            )
        forecaster, needs_fit = self._forecaster()
        if needs_fit:
            forecaster.fit([log_prices], self.horizon)
        path = forecaster.predict(0, log_prices, horizon)
        returns = np.diff(log_prices)[-GARCH_RETURNS:]
        return SymbolState(
            last_log_price=float(log_prices[-1]),
            last_timestamp=pd.Timestamp(timestamps[-1]),
            calendar=series_calendar(timestamps),
            path=path,
            garch=fit_garch(returns),
        )

    @staticmethod
    def _series(request: ForecastRequest) -> tuple[FloatArray, pd.DatetimeIndex]:
        points = sorted(request.series or [], key=lambda p: p.timestamp)
        stamps = pd.DatetimeIndex([pd.Timestamp(p.timestamp) for p in points]).tz_convert("UTC")
        if stamps.has_duplicates:
            first = stamps[stamps.duplicated()][0]
            raise RequestFieldError("series", f"duplicate timestamp {first.isoformat()}")
        values = np.log(np.array([p.value for p in points], dtype=np.float64))
        return values, stamps

    # ------------------------------------------------------------------ answers
    def forecast(self, request: ForecastRequest, version: str = UNREGISTERED) -> ForecastOut:
        """Price forecasts with intervals for a stored symbol or a sent series."""
        if request.symbol is not None:
            state = self.stored(request.symbol)
        else:
            values, stamps = self._series(request)
            state = self.fitted(values, stamps, request.horizon)
        steps = self._steps(state, request.horizon, request.levels)
        return ForecastOut(
            symbol=request.symbol,
            model=self.method,
            random_walk_fallback=self.random_walk_fallback,
            explanation=self.explanation,
            horizon=request.horizon,
            forecasts=[
                ForecastStep(
                    timestamp=stamp.to_pydatetime(),
                    mean=mean,
                    lower={str(lv): lo[j] for lv, lo in steps.lower.items()},
                    upper={str(lv): up[j] for lv, up in steps.upper.items()},
                )
                for j, (stamp, mean) in enumerate(zip(steps.timestamps, steps.mean, strict=True))
            ],
            validation=self.validation,
            model_version=version,
        )

    def _steps(self, state: SymbolState, horizon: int, levels: Sequence[int]) -> _Steps:
        if not 1 <= horizon <= MAX_HORIZON:
            raise RequestFieldError("horizon", f"must be from 1 to {MAX_HORIZON}")
        mean_log = state.path[:horizon]
        sd = _cumulative_sd(state.garch, horizon) * self.interval_scale
        shock = _shock(state.garch)
        lower: dict[int, list[float]] = {}
        upper: dict[int, list[float]] = {}
        for level in levels:
            z = float(shock.ppf(0.5 + level / 200.0))
            lower[level] = (state.last_log_price + mean_log - z * sd).tolist()
            upper[level] = (state.last_log_price + mean_log + z * sd).tolist()
        return _Steps(
            timestamps=next_timestamps(state.last_timestamp, horizon, state.calendar),
            # The median price exp(E log p): the point forecast the models were validated on.
            mean=np.exp(state.last_log_price + mean_log).tolist(),
            lower={lv: np.exp(v).tolist() for lv, v in lower.items()},
            upper={lv: np.exp(v).tolist() for lv, v in upper.items()},
            volatility=np.sqrt(state.garch.variance_path(horizon)).tolist(),
        )

    def trend(self, symbol: str, horizon: int = 5, version: str = UNREGISTERED) -> TrendOut:
        """Direction and volatility of a stored symbol over the next ``horizon`` steps."""
        if not 1 <= horizon <= MAX_HORIZON:
            raise RequestFieldError("horizon", f"must be from 1 to {MAX_HORIZON}")
        state = self.stored(symbol)
        mean = float(state.path[horizon - 1])
        sd = float(_cumulative_sd(state.garch, horizon)[-1]) * self.interval_scale
        probability_up = float(_shock(state.garch).sf(-mean / sd)) if sd > 0 else 0.5
        daily = sd / self.interval_scale / math.sqrt(horizon)
        signal: Signal = "neutral"
        if probability_up > SIGNAL_THRESHOLD:
            signal = "up"
        elif probability_up < 1.0 - SIGNAL_THRESHOLD:
            signal = "down"
        return TrendOut(
            symbol=symbol,
            horizon=horizon,
            probability_up=probability_up,
            # E[exp(X)] - 1 for X ~ (mean, sd): the mean simple return, not the median's.
            expected_return=math.expm1(mean + sd * sd / 2.0),
            volatility_daily=daily,
            volatility_annualised=daily * math.sqrt(PERIODS_PER_YEAR[state.calendar]),
            signal=signal,
            model_version=version,
        )

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        """Forecast validated requests; the answers carry no registry version."""
        answers: list[BaseModel] = []
        for request in requests:
            if not isinstance(request, ForecastRequest):
                raise TypeError(f"expected ForecastRequest, got {type(request).__name__}")
            answers.append(self.forecast(request))
        return answers

    def forecast_frame(
        self, prices: pd.DataFrame, horizon: int, levels: Sequence[int] = (80, 95)
    ) -> pd.DataFrame:
        """Forecasts for every symbol of a standard price table, fitted on the table's series.

        One row per (symbol, step); ``_row`` is the position in ``prices`` of the symbol's last
        row, so the batch runner repeats that row once per step. ``volatility`` is the daily
        volatility forecast of that step. Each symbol's series is treated as a sent ``series``
        (the same numbers as :meth:`forecast` with it); a symbol with fewer than
        ``MIN_SERIES_POINTS`` prices gets no rows, with a warning, rather than failing the file.
        """
        columns = [
            *FRAME_COLUMNS,
            *(f"{side}_{lv}" for lv in levels for side in ("lower", "upper")),
            "volatility",
        ]
        rows: dict[str, list[Any]] = {c: [] for c in columns}
        positions = np.arange(len(prices))
        symbols = prices["symbol"].astype(str).to_numpy()
        for symbol in pd.unique(symbols):
            mask = symbols == symbol
            group = prices.loc[mask]
            order = np.argsort(group["date"].to_numpy(), kind="stable")
            stamps = pd.DatetimeIndex(group["date"].to_numpy()[order])
            if stamps.tz is None:
                stamps = stamps.tz_localize("UTC")
            values = np.log(group["close"].to_numpy(dtype=np.float64)[order])
            try:
                state = self.fitted(values, stamps, horizon)
            except RequestFieldError as error:
                log.warning("forecast batch: symbol %s skipped (%s)", symbol, error)
                continue
            steps = self._steps(state, horizon, levels)
            last_row = int(positions[mask].max())
            rows["_row"].extend([last_row] * horizon)
            rows["step"].extend(range(1, horizon + 1))
            rows["timestamp"].extend(steps.timestamps)
            rows["model"].extend([self.method] * horizon)
            rows["mean"].extend(steps.mean)
            for lv in levels:
                rows[f"lower_{lv}"].extend(steps.lower[lv])
                rows[f"upper_{lv}"].extend(steps.upper[lv])
            rows["volatility"].extend(steps.volatility)
        out = pd.DataFrame(rows, columns=columns)
        out["_row"] = out["_row"].astype(np.int64)
        out["step"] = out["step"].astype(np.int64)
        return out.sort_values(["_row", "step"], kind="stable").reset_index(drop=True)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """``forecast_model.json`` + ``forecast_arrays.npz`` (+ LightGBM's text model, or the
        LSTM's weights as ``forecast_lstm.npz``)."""
        directory.mkdir(parents=True, exist_ok=True)
        lengths = [len(h) for h in self.histories]
        spec: dict[str, Any] = {
            "format": 1,
            "method": self.method,
            "horizon": self.horizon,
            "symbols": list(self.symbols),
            "last_timestamps": [t.isoformat() for t in self.last_timestamps],
            "calendars": list(self.calendars),
            "garch": [g.to_dict() for g in self.garch],
            "explanation": self.explanation,
            "validation": self.validation,
            "info": self.info,
            "interval_scale": self.interval_scale,
            "booster": BOOSTER_FILE if self.booster_text else None,
            "lstm": LSTM_FILE if self.lstm_weights else None,
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=1, sort_keys=True))
        np.savez(
            directory / ARRAYS_FILE,
            histories=np.concatenate(self.histories) if self.histories else np.zeros(0),
            lengths=np.asarray(lengths, dtype=np.int64),
            paths=self.paths,
        )
        if self.booster_text:
            (directory / BOOSTER_FILE).write_text(self.booster_text)
        if self.lstm_weights:
            weights: dict[str, Any] = self.lstm_weights
            np.savez(directory / LSTM_FILE, **weights)

    @classmethod
    def load(cls, directory: Path) -> ForecastModel:
        spec = json.loads((directory / SPEC_FILE).read_text())
        if spec.get("format") != 1:
            raise ValueError(f"unknown forecast model format {spec.get('format')!r}")
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as npz:
            flat, lengths, paths = npz["histories"], npz["lengths"], npz["paths"]
        histories = np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []
        booster = spec.get("booster")
        lstm = None
        if spec.get("lstm"):
            with np.load(directory / spec["lstm"], allow_pickle=False) as npz:
                lstm = {key: npz[key] for key in npz.files}
        return cls(
            method=spec["method"],
            horizon=int(spec["horizon"]),
            symbols=spec["symbols"],
            histories=histories,
            last_timestamps=[pd.Timestamp(t) for t in spec["last_timestamps"]],
            calendars=spec["calendars"],
            paths=paths,
            garch=[GarchParams.from_dict(g) for g in spec["garch"]],
            explanation=spec["explanation"],
            validation=spec["validation"],
            booster_text=(directory / booster).read_text() if booster else None,
            lstm_weights=lstm,
            info=spec.get("info", {}),
            interval_scale=float(spec.get("interval_scale", 1.0)),
        )


@dataclass(frozen=True, slots=True)
class _Steps:
    """Forecast steps as plain lists: timestamps, prices, intervals by level, daily vol."""

    timestamps: list[pd.Timestamp]
    mean: list[float]
    lower: dict[int, list[float]]
    upper: dict[int, list[float]]
    volatility: list[float]
