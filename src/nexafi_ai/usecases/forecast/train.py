"""Training: validate every point model against the random walk, fit volatility, build the model.

1. **Selection** (``selection.py``): rolling-origin validation of each model over the last two
   years of every symbol, against the random walk on the same origins; the served method is
   the best model only when Diebold-Mariano finds it significantly better, else the random walk.
2. **Volatility** (``volatility.py``): GARCH(1,1) against constant volatility at rolling
   origins (QLIKE, MSE on squared returns) and the coverage of its return intervals.
3. **Final fit**: the served method on every symbol's full history (its trailing window),
   forecast paths precomputed up to the largest horizon; GARCH per symbol on recent returns.

The registry's metrics are the served model's validation figures, with the random walk's as
``baseline_*``: when the random walk is served, the two are equal, which is the point.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nexafi_ai.usecases.base import FitResult, check_options
from nexafi_ai.usecases.forecast.data import series_calendar
from nexafi_ai.usecases.forecast.lstm import INSTALL_HINT, LstmForecaster, torch_available
from nexafi_ai.usecases.forecast.model import (
    GARCH_RETURNS,
    HISTORY,
    MAX_HORIZON,
    ForecastModel,
)
from nexafi_ai.usecases.forecast.models import MODEL_NAMES, LightGbmForecaster, make_forecaster
from nexafi_ai.usecases.forecast.selection import (
    DEFAULT_MODELS,
    MIN_TRAIN,
    SelectionResult,
    select_model,
    validation_start,
)
from nexafi_ai.usecases.forecast.volatility import VolatilityReport, evaluate_volatility, fit_garch

__all__ = ["KNOWN_OPTIONS", "TrainOptions", "fit_forecast"]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

KNOWN_OPTIONS = ("horizon", "folds", "models")
#: Volatility validation: a GARCH refit every ``_VOL_STEP`` observations, at most
#: ``_VOL_FOLDS`` per symbol (each refit is a maximum-likelihood fit: tens of milliseconds).
_VOL_STEP = 63
_VOL_FOLDS = 8


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """The parsed ``--option`` values."""

    horizon: int = 5
    folds: int = 4
    models: tuple[str, ...] = DEFAULT_MODELS

    @classmethod
    def of(cls, options: Mapping[str, str] | None) -> TrainOptions:
        """Parse and check the options.

        >>> TrainOptions.of({"horizon": "10", "models": "theta, drift"})
        TrainOptions(horizon=10, folds=4, models=('theta', 'drift'))
        >>> TrainOptions.of({"models": "prophet"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: option models: unknown model 'prophet'; known: drift, theta, ...
        """
        raw = check_options(options, KNOWN_OPTIONS)
        try:
            horizon = int(raw.get("horizon", "5"))
            folds = int(raw.get("folds", "4"))
        except ValueError as exc:
            raise ValueError(f"bad forecast option: {exc}") from exc
        if not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(f"option horizon: expected 1 to {MAX_HORIZON}, got {horizon}")
        if not 2 <= folds <= 12:
            raise ValueError(f"option folds: expected 2 to 12, got {folds}")
        models: tuple[str, ...] = DEFAULT_MODELS
        if "models" in raw:
            names = tuple(n.strip() for n in raw["models"].split(",") if n.strip())
            candidates = [n for n in MODEL_NAMES if n != "random_walk"]
            for name in names:
                if name not in candidates:
                    raise ValueError(
                        f"option models: unknown model {name!r}; known: {', '.join(candidates)}"
                    )
                if name == "lstm" and not torch_available():
                    raise ValueError(f"option models: {INSTALL_HINT}")
            models = tuple(dict.fromkeys(names))
        return cls(horizon=horizon, folds=folds, models=models)

    def to_json(self) -> dict[str, Any]:
        return {"horizon": self.horizon, "folds": self.folds, "models": list(self.models)}


@dataclass(frozen=True, slots=True)
class _Panel:
    """The price table as per-symbol arrays."""

    symbols: list[str]
    log_prices: list[FloatArray]
    dates: list[NDArray[Any]]

    @classmethod
    def of(cls, prices: pd.DataFrame) -> _Panel:
        symbols, log_prices, dates = [], [], []
        for symbol, group in prices.sort_values(["symbol", "date"]).groupby("symbol", sort=True):
            symbols.append(str(symbol))
            log_prices.append(np.log(group["close"].to_numpy(dtype=np.float64)))
            dates.append(group["date"].to_numpy())
        return cls(symbols, log_prices, dates)


def _volatility(panel: _Panel, horizon: int) -> dict[str, Any]:
    reports: list[VolatilityReport] = []
    for log_prices in panel.log_prices:
        returns = np.diff(log_prices)
        # Origins over the same period as the point models' validation (return i ends at
        # price i + 1).
        initial = max(validation_start(len(log_prices)) - 1, MIN_TRAIN - 1)
        if len(returns) < initial + horizon:
            continue
        reports.append(
            evaluate_volatility(
                returns, initial=initial, step=_VOL_STEP, horizon=horizon, max_folds=_VOL_FOLDS
            )
        )
    if not reports:
        return {"skipped": "no symbol long enough"}
    return {
        **VolatilityReport.pool(reports).summary(),
        "refit_every": _VOL_STEP,
        "max_refits_per_symbol": _VOL_FOLDS,
    }


def _validation(selection: SelectionResult, volatility: Mapping[str, Any]) -> dict[str, Any]:
    """What every response carries about the version's validation (plain JSON values)."""
    served = selection.scores[selection.served]
    best = selection.scores[selection.best] if selection.best else None
    out: dict[str, float | str | bool | None] = {
        "method": "rolling-origin, Diebold-Mariano vs random walk",
        "validated_horizon": selection.horizon,
        "best_model": selection.best,
        "best_model_dm_p_value": best.dm_p_value if best else None,
        "best_model_rmse_ratio": best.rmse_ratio if best else None,
        "dm_threshold": selection.threshold,
        "mase": served.mase,
        "directional_accuracy": served.directional_accuracy,
        "baseline_mase": selection.scores["random_walk"].mase,
    }
    # The served price intervals: widened by the calibrated scale, coverage checked on folds
    # the scale was not fitted on.
    out["interval_scale"] = volatility.get("interval_scale")
    for level in (80, 95):
        value = volatility.get(f"coverage_cumulative_calibrated_{level}")
        out[f"interval_coverage_{level}"] = float(value) if value is not None else None
    return out


def fit_forecast(
    prices: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
) -> FitResult:
    """Validate, select, fit volatility and return the served :class:`ForecastModel`."""
    start = time.perf_counter()
    settings = TrainOptions.of(options)
    panel = _Panel.of(prices)
    if not panel.symbols:
        raise ValueError("no prices to learn from")

    selection = select_model(
        panel.log_prices,
        panel.dates,
        settings.horizon,
        models=settings.models,
        folds=settings.folds,
        seed=seed,
    )
    volatility = _volatility(panel, settings.horizon)
    evaluated_seconds = time.perf_counter() - start

    # Final fit on everything: the served method's paths up to the largest horizon.
    forecaster = make_forecaster(selection.served).fit(panel.log_prices, settings.horizon, seed)
    paths = np.stack(
        [forecaster.predict(i, h, MAX_HORIZON) for i, h in enumerate(panel.log_prices)]
    )
    garch = [fit_garch(np.diff(h)[-GARCH_RETURNS:]) for h in panel.log_prices]
    booster = forecaster.to_text() if isinstance(forecaster, LightGbmForecaster) else None
    lstm = forecaster.to_arrays() if isinstance(forecaster, LstmForecaster) else None
    model = ForecastModel(
        method=selection.served,
        horizon=settings.horizon,
        symbols=panel.symbols,
        histories=[h[-HISTORY:] for h in panel.log_prices],
        last_timestamps=[pd.Timestamp(d[-1]) for d in panel.dates],
        calendars=[series_calendar(pd.DatetimeIndex(d)) for d in panel.dates],
        paths=paths,
        garch=garch,
        explanation=selection.explanation(),
        validation=_validation(selection, volatility),
        booster_text=booster,
        lstm_weights=lstm,
        info={"seed": seed, "settings": settings.to_json()},
        interval_scale=float(volatility.get("interval_scale", 1.0)),
    )
    fit_seconds = time.perf_counter() - start

    served, baseline = selection.scores[selection.served], selection.scores["random_walk"]
    metrics: dict[str, float] = {
        "mase": served.mase,
        "rmse": served.rmse,
        "rmse_ratio_vs_random_walk": served.rmse_ratio,
        "directional_accuracy": served.directional_accuracy,
        "dm_p_value": served.dm_p_value,
        "baseline_mase": baseline.mase,
        "baseline_rmse": baseline.rmse,
        "baseline_directional_accuracy": baseline.directional_accuracy,
        "random_walk_fallback": float(selection.fallback),
        "fit_seconds": fit_seconds,
        "evaluation_seconds": evaluated_seconds,
    }
    if selection.best is not None:
        metrics["best_model_dm_p_value"] = selection.scores[selection.best].dm_p_value
    for key in (
        "qlike_garch",
        "qlike_constant",
        "mse_garch",
        "mse_constant",
        "coverage_cumulative_80",
        "coverage_cumulative_95",
        "coverage_cumulative_calibrated_80",
        "coverage_cumulative_calibrated_95",
        "interval_scale",
    ):
        if key in volatility:
            metrics[f"volatility_{key}"] = float(volatility[key])
    log.info(
        "forecast: served %s (best %s, DM p = %s), %d symbols, %.1f s",
        selection.served,
        selection.best,
        f"{selection.scores[selection.best].dm_p_value:.3g}" if selection.best else "-",
        len(panel.symbols),
        fit_seconds,
    )
    metadata = {
        "served": selection.served,
        "baseline": "random_walk",
        "symbols": len(panel.symbols),
        "observations": int(sum(len(h) for h in panel.log_prices)),
        "reports": {
            "models": {name: s.to_json() for name, s in selection.scores.items()},
            "volatility": volatility,
            "selection": selection.report(),
        },
    }
    return FitResult(
        model=model,
        metrics=metrics,
        params={"seed": seed, **settings.to_json(), "models": ",".join(settings.models)},
        metadata=metadata,
    )
