"""Forecast metrics and the test that decides whether a model beats the random walk.

Daily returns are close to unpredictable, so a price forecaster has to be judged against the
naive forecast (tomorrow's price is today's: the random walk) on data it never saw, in time
order. The pieces:

* :func:`rolling_origin_splits`: forecast origins moving forward through the series; at each,
  the model sees only the past and is scored on the next ``horizon`` steps;
* point errors: :func:`mase` (error relative to the in-sample naive forecast, scale-free so
  symbols can be averaged; below 1 beats the naive one-step forecast), :func:`rmse`;
* :func:`directional_accuracy`: share of correctly called up / down moves, to compare with the
  50% of a coin;
* :func:`interval_coverage`: share of outcomes inside the prediction intervals, to compare with
  their nominal level (an 80% interval that covers 60% is overconfident);
* :func:`qlike`: the loss for variance forecasts that stays consistent when the realised
  variance is a noisy proxy such as a squared return (Patton 2011);
* :func:`diebold_mariano`: is the model's loss lower than the baseline's by more than chance,
  with the Harvey-Leybourne-Newbold small-sample correction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats  # type: ignore[import-untyped]

__all__ = [
    "diebold_mariano",
    "directional_accuracy",
    "interval_coverage",
    "mase",
    "qlike",
    "rmse",
    "rolling_origin_splits",
]


def _floats(values: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds missing or infinite values")
    return array


def _pair(a: ArrayLike, b: ArrayLike, names: str) -> tuple[NDArray[np.float64], ...]:
    first, second = (_floats(v, n) for v, n in zip((a, b), names.split(), strict=True))
    if first.shape != second.shape:
        raise ValueError(f"{names.replace(' ', ' and ')} differ in length")
    if first.size == 0:
        raise ValueError("no values to score")
    return first, second


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, m: int = 1) -> float:
    """Mean absolute error scaled by the in-sample mean absolute ``m``-step naive change.

    Scale-free, so errors on a $20 and a $800 stock can be averaged. A value below 1 means the
    forecast beats what the naive forecast did in-sample one step ahead; a multi-step random
    walk usually scores above 1, which is why the comparison that matters is against the random
    walk on the same origins (:func:`diebold_mariano`).

    >>> mase([3.0, 5.0], [2.0, 5.0], y_train=[1.0, 2.0, 4.0])
    0.3333333333333333
    """
    truth, pred = _pair(y_true, y_pred, "y_true y_pred")
    train = _floats(y_train, "y_train")
    if m < 1 or train.size <= m:
        raise ValueError(f"y_train needs more than m={m} values")
    scale = float(np.mean(np.abs(train[m:] - train[:-m])))
    if scale == 0.0:
        raise ValueError("y_train is constant: MASE is undefined")
    return float(np.mean(np.abs(truth - pred)) / scale)


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error.

    >>> rmse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.1547005383792515
    """
    truth, pred = _pair(y_true, y_pred, "y_true y_pred")
    return float(np.sqrt(np.mean((truth - pred) ** 2)))


def directional_accuracy(actual_change: ArrayLike, predicted_change: ArrayLike) -> float:
    """Share of moves whose direction was called right; to compare with a coin's 50%.

    A zero predicted change (no call) or a zero actual change (nothing to call) counts as half
    right: a forecaster that never commits cannot score above a coin, and one that calls a
    flat day is neither right nor wrong.

    >>> directional_accuracy([1.0, -2.0, 0.5, 3.0], [0.2, 0.1, 0.0, 1.0])
    0.625
    """
    actual, predicted = _pair(actual_change, predicted_change, "actual_change predicted_change")
    product = np.sign(actual) * np.sign(predicted)
    score = np.where(product > 0, 1.0, np.where(product < 0, 0.0, 0.5))
    return float(np.mean(score))


def interval_coverage(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of outcomes inside their closed prediction interval ``[lower, upper]``.

    >>> interval_coverage([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 3.5, 0.0], [2.0, 2.5, 4.0, 3.0])
    0.5
    """
    values, low = _pair(y, lower, "y lower")
    _, high = _pair(y, upper, "y upper")
    if (low > high).any():
        raise ValueError("some lower bounds are above their upper bounds")
    return float(np.mean((values >= low) & (values <= high)))


def qlike(realised_var: ArrayLike, forecast_var: ArrayLike) -> float:
    """Mean QLIKE loss ``log(f) + r / f`` of variance forecasts ``f`` against realised ``r``.

    QLIKE ranks variance forecasts correctly even when the realised variance is a noisy proxy
    (a squared daily return), and punishes under-prediction more than over-prediction, like a
    risk manager would (Patton 2011). This form differs from ``r/f - log(r/f) - 1`` only by a
    term that depends on ``r`` alone, so comparisons are identical, and it accepts a realised
    variance of zero (a flat day). Lower is better.

    >>> round(qlike([1.0, 4.0], [1.0, 2.0]), 6)
    1.846574
    """
    realised, forecast = _pair(realised_var, forecast_var, "realised_var forecast_var")
    if (forecast <= 0).any():
        raise ValueError("forecast variances must be positive")
    if (realised < 0).any():
        raise ValueError("realised variances cannot be negative")
    return float(np.mean(np.log(forecast) + realised / forecast))


def diebold_mariano(
    errors_model: ArrayLike,
    errors_baseline: ArrayLike,
    horizon: int = 1,
    loss: Literal["squared", "absolute"] = "squared",
) -> tuple[float, float]:
    """One-sided Diebold-Mariano test that the model's expected loss is below the baseline's.

    The loss differential ``d = loss(e_model) - loss(e_baseline)`` is averaged; its variance is
    the Newey-West long-run variance with ``horizon - 1`` lags (h-step errors overlap, so they
    are autocorrelated up to that lag; Bartlett weights keep it positive). The statistic carries
    the Harvey-Leybourne-Newbold (1997) small-sample correction and is compared with a Student-t
    with ``n - 1`` degrees of freedom.

    Returns ``(statistic, p_value)``: a **negative** statistic means the model's loss is lower;
    a small p-value (say below 0.05) means it is lower by more than chance. Identical losses
    give ``(0.0, 0.5)``.

    >>> stat, p = diebold_mariano([0.5, -0.4, 0.6, -0.5], [1.0, -1.2, 0.9, -1.1])
    >>> round(stat, 2), round(p, 4)
    (-4.92, 0.008)
    >>> diebold_mariano([1.0, 2.0], [1.0, 2.0])
    (0.0, 0.5)
    """
    model, baseline = _pair(errors_model, errors_baseline, "errors_model errors_baseline")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if loss == "squared":
        differential = model**2 - baseline**2
    elif loss == "absolute":
        differential = np.abs(model) - np.abs(baseline)
    else:
        raise ValueError(f"loss must be 'squared' or 'absolute', got {loss!r}")
    n = differential.size
    if n < 2:
        raise ValueError("the Diebold-Mariano test needs at least two forecast errors")
    mean = float(differential.mean())
    centred = differential - mean
    variance = float(centred @ centred) / n
    for lag in range(1, min(horizon, n)):
        weight = 1.0 - lag / horizon
        variance += 2.0 * weight * float(centred[lag:] @ centred[:-lag]) / n
    if variance <= 0.0:
        # Every differential the same: no uncertainty left; the sign alone decides.
        statistic = 0.0 if mean == 0.0 else float(np.copysign(np.inf, mean))
    else:
        correction = np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
        statistic = float(mean / np.sqrt(variance / n) * correction)
    p_value = float(stats.t.cdf(statistic, df=n - 1))
    return statistic, p_value


def rolling_origin_splits(
    n: int, *, initial: int, step: int, horizon: int, max_folds: int | None = None
) -> Iterator[tuple[int, NDArray[np.intp]]]:
    """Forecast origins through a series of ``n`` observations, oldest first.

    Each fold yields ``(train_end, test_indices)``: the model may use positions
    ``[0, train_end)`` and is scored on ``train_end .. train_end + horizon - 1``. Origins start
    at ``initial`` and move by ``step``; only folds with a full horizon are kept. With
    ``max_folds``, the most recent folds are kept (they say most about the model's next use).

    >>> [(end, test.tolist()) for end, test in rolling_origin_splits(10, initial=4, step=3,
    ...                                                                horizon=2)]
    [(4, [4, 5]), (7, [7, 8])]
    >>> [end for end, _ in rolling_origin_splits(20, initial=5, step=2, horizon=1, max_folds=3)]
    [15, 17, 19]
    """
    if initial < 1 or step < 1 or horizon < 1:
        raise ValueError("initial, step and horizon must be at least 1")
    if max_folds is not None and max_folds < 1:
        raise ValueError(f"max_folds must be at least 1, got {max_folds}")
    origins = list(range(initial, n - horizon + 1, step))
    if max_folds is not None:
        origins = origins[-max_folds:]
    for origin in origins:
        yield origin, np.arange(origin, origin + horizon, dtype=np.intp)
