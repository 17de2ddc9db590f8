"""Rolling-origin validation of every point model against the random walk, and the serving rule.

**Origins.** For each symbol, forecast origins move through the last ``cv_days`` observations
(about two years) every ``horizon`` steps, so the ``horizon``-step errors of one symbol do not
overlap. The validation period is cut into ``folds`` consecutive blocks; at the start of each
block every model is fitted on the data before it (statistical models on the trailing
``WINDOW`` observations, LightGBM pooled over every symbol's past) and then rolled forward
through the block's origins with its parameters fixed. Refitting at every origin would be
slightly fairer to the models and would cost ``folds``-times-hundreds of AutoARIMA fits per
symbol; a few refits bound the training time while no forecast ever sees its own future.

**Comparison.** Every model is scored on the same origins as the random walk, on the
``horizon``-step cumulative log return: MASE (scaled by the symbol's in-sample one-step naive
error, averaged over symbols), RMSE and its ratio to the random walk's, directional accuracy
(the random walk never calls a direction: 0.5) and the Diebold-Mariano test on squared errors.

**Pooling for the test.** Symbols share a market: on a crash day every model misses every
symbol together, so their errors are far from independent and a test that pooled them as
independent draws would find "significance" in noise. The loss differentials are therefore
averaged across symbols per origin date first, and the test runs on that time series (one
value per date, Newey-West variance), which keeps the cross-sectional correlation in the
variance where it belongs.

**Rule.** The served method is the model with the lowest pooled squared error, but only when
its one-sided Diebold-Mariano p-value is below ``alpha`` divided by the number of models
compared (Bonferroni: picking the best of several and testing only it would otherwise find a
winner in pure noise far more often than ``alpha``); else the random walk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nexafi_ai.evaluation.forecasting import (
    diebold_mariano,
    directional_accuracy,
    mase,
    rmse,
    rolling_origin_splits,
)
from nexafi_ai.usecases.forecast.lstm import LstmForecaster
from nexafi_ai.usecases.forecast.models import (
    LightGbmForecaster,
    PointForecaster,
    lag_features,
    make_forecaster,
)

__all__ = [
    "DEFAULT_MODELS",
    "MIN_TRAIN",
    "ModelScore",
    "SelectionResult",
    "cross_validate",
    "select_model",
    "validation_start",
]

FloatArray = NDArray[np.float64]

#: Models compared by default (the random walk is always added as the baseline). ``lstm``
#: (the ``deep`` extra) is compared only when asked for: a default that changed with what is
#: installed would make the same command select differently on different machines.
DEFAULT_MODELS = ("drift", "theta", "auto_ets", "auto_arima", "lightgbm")
#: Observations a symbol needs before its first validation origin.
MIN_TRAIN = 250
#: Observations validated per symbol at most: about two years of trading days.
CV_DAYS = 504


@dataclass(frozen=True, slots=True)
class ModelScore:
    """One model's pooled validation figures against the random walk on the same origins."""

    name: str
    mase: float
    rmse: float
    rmse_ratio: float
    directional_accuracy: float
    dm_statistic: float
    dm_p_value: float
    seconds: float

    def to_json(self) -> dict[str, float | str]:
        return {
            "mase": self.mase,
            "rmse": self.rmse,
            "rmse_ratio_vs_random_walk": self.rmse_ratio,
            "directional_accuracy": self.directional_accuracy,
            "dm_statistic": self.dm_statistic,
            "dm_p_value": self.dm_p_value,
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True)
class SelectionResult:
    """Every model's scores, the served method and why."""

    horizon: int
    scores: dict[str, ModelScore]
    served: str
    best: str | None
    threshold: float
    alpha: float
    origins: int
    symbols: int
    folds: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return self.served == "random_walk"

    def explanation(self) -> str:
        """The sentence a response carries about why this point model is served."""
        if self.best is None:
            return "Only the random walk was validated; serving the random walk."
        p = self.scores[self.best].dm_p_value
        if self.fallback:
            return (
                "No model beat the random walk significantly "
                f"(Diebold-Mariano p = {p:.2g} for {self.best}, needed < {self.threshold:.2g}); "
                "serving the random walk."
            )
        return (
            f"{self.served} beat the random walk in rolling-origin validation "
            f"(Diebold-Mariano p = {p:.2g} < {self.threshold:.2g}, RMSE ratio "
            f"{self.scores[self.served].rmse_ratio:.3f})."
        )

    def report(self) -> dict[str, Any]:
        return {
            "rule": (
                "serve the model with the lowest pooled squared error only if its one-sided "
                f"Diebold-Mariano p-value vs the random walk is below {self.alpha} / "
                f"{max(len(self.scores) - 1, 1)} models (Bonferroni) = {self.threshold:.4g}; "
                "else the random walk"
            ),
            "best": self.best,
            "served": self.served,
            "random_walk_fallback": self.fallback,
            "explanation": self.explanation(),
            "horizon": self.horizon,
            "folds": self.folds,
            "symbols": self.symbols,
            "origins": self.origins,
            **self.details,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """Validation origins of one symbol, grouped into folds."""

    symbol: int
    fold_starts: list[int]
    origins: list[NDArray[np.intp]]


def validation_start(n: int) -> int:
    """The first validation origin of a series of ``n`` observations.

    >>> validation_start(2016), validation_start(600)
    (1512, 250)
    """
    return n - max(min(CV_DAYS, n - MIN_TRAIN), 0)


def _plans(lengths: Sequence[int], horizon: int, folds: int) -> list[_Plan]:
    plans = []
    for i, n in enumerate(lengths):
        initial = validation_start(n)
        if n - initial < horizon * folds:
            continue  # too short to validate: still served, never scored
        origins = np.array(
            [
                o
                for o, _ in rolling_origin_splits(n, initial=initial, step=horizon, horizon=horizon)
            ],
            dtype=np.intp,
        )
        if len(origins) < folds:
            continue
        blocks = np.array_split(origins, folds)
        plans.append(_Plan(i, [int(b[0]) for b in blocks], list(blocks)))
    return plans


def cross_validate(
    histories: Sequence[FloatArray],
    horizon: int,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    folds: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Forecast paths of every model at every validation origin of every symbol.

    Returns ``{"plans": [...], "forecasts": {model: {symbol: (n_origins, horizon)}},
    "seconds": {model: s}}``.
    """
    plans = _plans([len(h) for h in histories], horizon, folds)
    forecasts: dict[str, dict[int, FloatArray]] = {}
    seconds: dict[str, float] = {}
    for name in ("random_walk", *models):
        start = time.perf_counter()
        out: dict[int, list[FloatArray]] = {p.symbol: [] for p in plans}
        for fold in range(folds):
            # Each model sees, per symbol, only what lies before this fold's first origin.
            pasts = [histories[p.symbol][: p.fold_starts[fold]] for p in plans]
            forecaster = make_forecaster(name).fit(pasts, horizon, seed=seed)
            for j, plan in enumerate(plans):
                origins = plan.origins[fold]
                out[plan.symbol].append(
                    _paths(forecaster, j, histories[plan.symbol], origins, horizon)
                )
        forecasts[name] = {s: np.concatenate(v) for s, v in out.items()}
        seconds[name] = time.perf_counter() - start
    return {"plans": plans, "forecasts": forecasts, "seconds": seconds}


def _paths(
    forecaster: PointForecaster,
    index: int,
    log_prices: FloatArray,
    origins: NDArray[np.intp],
    horizon: int,
) -> FloatArray:
    if isinstance(forecaster, LightGbmForecaster):
        # Feature rows of all origins in one call: the booster's per-call overhead dominates.
        features = lag_features(log_prices)[origins - 1]
        return forecaster.predict_rows(features, horizon)
    if isinstance(forecaster, LstmForecaster):
        return forecaster.predict_origins(log_prices, origins, horizon)
    return np.stack(
        [forecaster.predict(index, log_prices[: int(o)], horizon) for o in origins]
    ).reshape(len(origins), horizon)


def select_model(
    histories: Sequence[FloatArray],
    dates: Sequence[NDArray[Any]],
    horizon: int,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    folds: int = 4,
    seed: int = 0,
    alpha: float = 0.05,
) -> SelectionResult:
    """Validate every model against the random walk and apply the serving rule.

    ``histories`` are the symbols' log prices, ``dates`` their observation dates (any sortable
    values; origins of different symbols on the same date are averaged together for the test).
    """
    cv = cross_validate(histories, horizon, models=models, folds=folds, seed=seed)
    plans: list[_Plan] = cv["plans"]
    if not plans:
        raise ValueError(
            f"no symbol is long enough to validate: each needs at least "
            f"{MIN_TRAIN + horizon * folds} observations"
        )
    forecasts: dict[str, dict[int, FloatArray]] = cv["forecasts"]
    # Truth per symbol: the cumulative log return over the horizon from each origin.
    actual: dict[int, FloatArray] = {}
    origin_dates: list[Any] = []
    for plan in plans:
        log_prices = histories[plan.symbol]
        origins = np.concatenate(plan.origins)
        actual[plan.symbol] = log_prices[origins + horizon - 1] - log_prices[origins - 1]
        origin_dates.extend(np.asarray(dates[plan.symbol])[origins - 1].tolist())
    keys, groups = np.unique(np.array(origin_dates), return_inverse=True)
    truth = np.concatenate([actual[p.symbol] for p in plans])
    rw_errors = truth - np.concatenate([forecasts["random_walk"][p.symbol][:, -1] for p in plans])

    rw_rmse = max(float(np.sqrt(np.mean(rw_errors**2))), 1e-300)
    scores: dict[str, ModelScore] = {}
    for name, paths in forecasts.items():
        predicted = np.concatenate([paths[p.symbol][:, -1] for p in plans])
        errors = truth - predicted
        per_symbol = []
        for plan in plans:
            log_prices = histories[plan.symbol]
            origins = np.concatenate(plan.origins)
            per_symbol.append(
                mase(
                    log_prices[origins + horizon - 1],
                    log_prices[origins - 1] + paths[plan.symbol][:, -1],
                    log_prices[: plan.fold_starts[0]],
                )
            )
        if name == "random_walk":
            statistic, p_value = 0.0, 0.5
        else:
            statistic, p_value = _dm_by_date(errors, rw_errors, groups, len(keys))
        scores[name] = ModelScore(
            name=name,
            mase=float(np.mean(per_symbol)),
            rmse=rmse(truth, predicted),
            rmse_ratio=rmse(truth, predicted) / rw_rmse,
            directional_accuracy=directional_accuracy(truth, predicted),
            dm_statistic=statistic,
            dm_p_value=p_value,
            seconds=cv["seconds"][name],
        )
    candidates = [s for s in scores.values() if s.name != "random_walk"]
    threshold = alpha / max(len(candidates), 1)
    best = min(candidates, key=lambda s: s.rmse).name if candidates else None
    served = best if best is not None and scores[best].dm_p_value < threshold else "random_walk"
    return SelectionResult(
        horizon=horizon,
        scores=scores,
        served=served,
        best=best,
        threshold=threshold,
        alpha=alpha,
        origins=len(truth),
        symbols=len(plans),
        folds=folds,
        details={"test_dates": len(keys), "cv_days_max": CV_DAYS, "min_train": MIN_TRAIN},
    )


def _dm_by_date(
    errors: FloatArray, baseline: FloatArray, groups: NDArray[np.intp], n_groups: int
) -> tuple[float, float]:
    """Diebold-Mariano on the squared-loss differential averaged across symbols per date.

    :func:`diebold_mariano` takes errors, not differentials; the averaged differential ``d`` is
    passed as errors whose squares differ by exactly ``d`` (``sqrt(d+)`` against ``sqrt(d-)``),
    which gives the test on ``d`` itself.
    """
    differential = errors**2 - baseline**2
    sums = np.bincount(groups, weights=differential, minlength=n_groups)
    counts = np.bincount(groups, minlength=n_groups)
    mean = sums / np.maximum(counts, 1)
    if len(mean) < 2:
        return 0.0, 0.5
    statistic, p_value = diebold_mariano(
        np.sqrt(np.maximum(mean, 0.0)), np.sqrt(np.maximum(-mean, 0.0))
    )
    if not math.isfinite(statistic):
        statistic = math.copysign(1e6, statistic)
    return float(statistic), float(p_value)
