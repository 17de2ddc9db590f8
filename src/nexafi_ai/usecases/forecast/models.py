"""Point forecasters of the cumulative log return over the next steps, and the random walk.

Every forecaster answers the same question: given a symbol's log prices up to now, what is
the expected cumulative log return ``log p[t+k] - log p[t]`` for ``k = 1..h``? Forecasting the
return rather than the price keeps the models comparable (the random walk predicts 0) and the
price forecast positive (``p[t] * exp(path)``).

* ``random_walk``: 0, the baseline no other model may replace without beating it significantly;
* ``drift``: the mean log return of the trailing window, times ``k``;
* ``auto_arima``, ``auto_ets``, ``theta``: statsforecast's models on the log price level, fitted
  on a trailing window (``WINDOW`` observations: older regimes say little about tomorrow) and
  then rolled forward with fixed parameters (``forward``), which costs microseconds;
* ``lightgbm``: one gradient-boosted model pooled over symbols, on lagged returns, rolling
  means and volatilities, predicting the cumulative return over the training horizon ``h``.
  Its path is ``min(k, h) / h`` times that prediction: it claims no skill beyond ``h``;
* ``lstm`` (optional, ``pip install .[deep]``): a small LSTM pooled over symbols on the last
  standardised returns (:mod:`nexafi_ai.usecases.forecast.lstm`); without PyTorch asking for it
  raises a ``ValueError`` naming the extra.

The life cycle is ``fit(histories, horizon, seed)`` on each symbol's log prices before the first
forecast origin (one fitted state per symbol, or one pooled model), then
``predict(i, log_prices, horizon)`` for symbol ``i`` with the log prices up to an origin.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from nexafi_ai.usecases.base import NotFittedError

__all__ = [
    "MODEL_NAMES",
    "WINDOW",
    "AutoArimaForecaster",
    "AutoEtsForecaster",
    "DriftForecaster",
    "LightGbmForecaster",
    "PointForecaster",
    "RandomWalk",
    "ThetaForecaster",
    "lag_features",
    "make_forecaster",
]

FloatArray = NDArray[np.float64]

#: Trailing observations the statistical models are fitted on and rolled forward with.
WINDOW = 500
#: Every model name, cheapest first; ``random_walk`` is the baseline.
#: ``lstm`` needs the ``deep`` extra (PyTorch).
MODEL_NAMES = ("random_walk", "drift", "theta", "auto_ets", "auto_arima", "lightgbm", "lstm")
#: Lags of the daily log return and the windows of the rolling means and volatilities.
_LAGS = (1, 2, 3, 4, 5)
_WINDOWS = (5, 20, 60)
#: Returns a LightGBM feature row needs (the longest rolling window, plus one).
FEATURE_HISTORY = max(_WINDOWS) + 1


class PointForecaster(ABC):
    """Expected cumulative log return paths, fitted per symbol or pooled."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        """Fit on each symbol's log prices (all strictly before any origin predicted later)."""

    @abstractmethod
    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        """The path ``k = 1..horizon`` for symbol ``index`` (of ``fit``) after ``log_prices``."""


class RandomWalk(PointForecaster):
    """Tomorrow's price is today's: the honest baseline for daily prices."""

    name = "random_walk"

    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        return self

    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        return np.zeros(horizon)


class DriftForecaster(PointForecaster):
    """The random walk with drift: the trailing window's mean daily log return, compounded."""

    name = "drift"

    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        return self

    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        tail = log_prices[-(WINDOW + 1) :]
        slope = float(tail[-1] - tail[0]) / max(len(tail) - 1, 1)
        path: FloatArray = slope * np.arange(1, horizon + 1, dtype=np.float64)
        return path


class _StatsForecaster(PointForecaster):
    """A statsforecast model on the log price, one fitted model per symbol."""

    def __init__(self) -> None:
        self.models_: list[Any] | None = None

    @abstractmethod
    def _new(self) -> Any:
        """A fresh statsforecast model."""

    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        with warnings.catch_warnings():
            # statsforecast warns on every optimiser hiccup of a flat likelihood (daily prices
            # are nearly a random walk); the fitted model is still usable and is validated.
            warnings.simplefilter("ignore", UserWarning)
            self.models_ = [self._new().fit(y=np.asarray(h[-WINDOW:])) for h in histories]
        return self

    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        if self.models_ is None:
            raise NotFittedError(f"{self.name} is not fitted")
        tail = np.asarray(log_prices[-WINDOW:], dtype=np.float64)
        mean = np.asarray(self.models_[index].forward(y=tail, h=horizon)["mean"], dtype=np.float64)
        path = mean - tail[-1]
        # A model that fails numerically must not poison the comparison: it predicts no change.
        return np.where(np.isfinite(path), path, 0.0)


class AutoArimaForecaster(_StatsForecaster):
    """ARIMA(p, d, q) chosen by AICc (Hyndman-Khandakar), non-seasonal, p and q up to 2."""

    name = "auto_arima"

    def _new(self) -> Any:
        from statsforecast.models import AutoARIMA

        # Small orders and the CSS approximation while searching: the exact search costs
        # several times more per fit and, on daily log prices, settles on the same low orders.
        return AutoARIMA(season_length=1, seasonal=False, max_p=2, max_q=2, approximation=True)


class AutoEtsForecaster(_StatsForecaster):
    """Exponential smoothing (error, trend, no season) chosen by AICc."""

    name = "auto_ets"

    def _new(self) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=1)


class ThetaForecaster(_StatsForecaster):
    """The Theta method (Assimakopoulos and Nikolopoulos 2000): SES with half the drift."""

    name = "theta"

    def _new(self) -> Any:
        from statsforecast.models import Theta

        return Theta(season_length=1)


def lag_features(log_prices: FloatArray) -> FloatArray:
    """One feature row per observation ``t`` from the returns up to ``t`` (NaN while too short).

    Columns: the last five daily log returns, then the rolling mean and the rolling standard
    deviation of the returns over 5, 20 and 60 observations.

    >>> x = lag_features(np.log(np.array([100.0, 101.0, 100.0, 102.0, 103.0, 104.0, 103.0])))
    >>> x.shape
    (7, 11)
    >>> round(float(x[6, 0]), 5), bool(np.isnan(x[6, 6]))
    (-0.00966, True)
    """
    returns = np.full(len(log_prices), np.nan)
    returns[1:] = np.diff(log_prices)
    columns = []
    for lag in _LAGS:
        shifted = np.full(len(returns), np.nan)
        shifted[lag - 1 :] = returns[: len(returns) - lag + 1]
        columns.append(shifted)
    filled = np.nan_to_num(returns)
    sums = np.concatenate([[0.0], np.cumsum(filled)])
    squares = np.concatenate([[0.0], np.cumsum(filled**2)])
    for window in _WINDOWS:
        mean = np.full(len(returns), np.nan)
        var = np.full(len(returns), np.nan)
        # Observation t has returns 1..t; a full window needs t >= window.
        t = np.arange(window, len(returns))
        mean[t] = (sums[t + 1] - sums[t + 1 - window]) / window
        var[t] = (squares[t + 1] - squares[t + 1 - window]) / window - mean[t] ** 2
        columns.append(mean)
        columns.append(np.sqrt(np.maximum(var, 0.0)))
    means, stds = columns[len(_LAGS) :: 2], columns[len(_LAGS) + 1 :: 2]
    return np.column_stack([*columns[: len(_LAGS)], *means, *stds])


class LightGbmForecaster(PointForecaster):
    """Gradient-boosted trees pooled over symbols on lagged returns and rolling statistics.

    Strongly regularised (few shallow trees, large leaves, a slow learning rate): with daily
    returns the signal, if any, is tiny and an eager booster fits noise.
    """

    name = "lightgbm"

    def __init__(self, n_estimators: int = 150, max_rows: int = 200_000) -> None:
        self.n_estimators = n_estimators
        self.max_rows = max_rows
        self.booster_: Any = None
        self.horizon_: int | None = None

    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        import lightgbm as lgb

        rows, targets = [], []
        for log_prices in histories:
            x = lag_features(log_prices)
            n = len(log_prices) - horizon
            if n <= FEATURE_HISTORY:
                continue
            y = log_prices[horizon:] - log_prices[:-horizon]
            rows.append(x[FEATURE_HISTORY:n])
            targets.append(y[FEATURE_HISTORY:n])
        if not rows:
            raise ValueError(f"lightgbm needs series longer than {FEATURE_HISTORY + horizon}")
        x_all, y_all = np.concatenate(rows), np.concatenate(targets)
        if len(y_all) > self.max_rows:
            # The most recent rows of every symbol would be fairer, but a seeded subsample
            # keeps every regime represented and the cost bounded.
            keep = np.random.default_rng(seed).choice(len(y_all), self.max_rows, replace=False)
            x_all, y_all = x_all[np.sort(keep)], y_all[np.sort(keep)]
        params = {
            "objective": "regression",
            "learning_rate": 0.03,
            "num_leaves": 7,
            "min_data_in_leaf": max(50, len(y_all) // 200),
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 10.0,
            "seed": seed,
            "deterministic": True,
            "num_threads": 1,  # measured: 2 threads are ten times slower here
            "verbose": -1,
        }
        self.booster_ = lgb.train(params, lgb.Dataset(x_all, y_all), self.n_estimators)
        self.horizon_ = horizon
        return self

    @classmethod
    def from_text(cls, text: str, horizon: int) -> LightGbmForecaster:
        """A fitted forecaster from the text ``model_to_string`` wrote (never pickle)."""
        import lightgbm as lgb

        forecaster = cls()
        forecaster.booster_ = lgb.Booster(model_str=text)
        forecaster.horizon_ = horizon
        return forecaster

    def to_text(self) -> str:
        if self.booster_ is None:
            raise NotFittedError("lightgbm is not fitted")
        return str(self.booster_.model_to_string())

    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        row = lag_features(log_prices[-FEATURE_HISTORY:])[-1:]
        path: FloatArray = self.predict_rows(row, horizon)[0]
        return path

    def predict_rows(self, features: FloatArray, horizon: int) -> FloatArray:
        """Paths for many feature rows at once (cross-validation scores thousands of origins)."""
        if self.booster_ is None or self.horizon_ is None:
            raise NotFittedError("lightgbm is not fitted")
        total = np.asarray(self.booster_.predict(features), dtype=np.float64)
        steps = np.minimum(np.arange(1, horizon + 1), self.horizon_) / self.horizon_
        return np.nan_to_num(total)[:, None] * steps[None, :]


_FORECASTERS: dict[str, type[PointForecaster]] = {
    cls.name: cls
    for cls in (
        RandomWalk,
        DriftForecaster,
        ThetaForecaster,
        AutoEtsForecaster,
        AutoArimaForecaster,
        LightGbmForecaster,
    )
}


def make_forecaster(name: str) -> PointForecaster:
    """A new, unfitted forecaster by name (``MODEL_NAMES``).

    >>> make_forecaster("drift").name
    'drift'
    """
    if name == "lstm":
        # Imported here: the module needs nothing from torch until a model is fitted, but
        # it imports this one.
        from nexafi_ai.usecases.forecast.lstm import LstmForecaster, require_torch

        require_torch()
        return LstmForecaster()
    if name not in _FORECASTERS:
        raise ValueError(f"unknown forecast model {name!r}; known: {', '.join(MODEL_NAMES)}")
    return _FORECASTERS[name]()
