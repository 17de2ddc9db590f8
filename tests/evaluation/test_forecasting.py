"""Forecast metrics: hand-computed values, the Diebold-Mariano test's behaviour on synthetic
errors, and rolling-origin folds that never let the model see its test window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from nexafi_ai.evaluation import (
    diebold_mariano,
    directional_accuracy,
    interval_coverage,
    mase,
    qlike,
    rmse,
    rolling_origin_splits,
)


def test_mase_hand_computed() -> None:
    # In-sample naive one-step changes: |12-10|, |11-12|, |14-11| -> mean 2.
    train = [10.0, 12.0, 11.0, 14.0]
    assert mase([15.0, 13.0], [14.0, 14.0], train) == pytest.approx(0.5)
    # Seasonal / multi-step scale, m=2: |11-10|, |14-12| -> mean 1.5.
    assert mase([15.0, 13.0], [14.0, 14.0], train, m=2) == pytest.approx(1 / 1.5)
    # The random walk's forecast scored on a path that keeps moving like its history: 1.
    assert mase([16.0], [14.0], train) == pytest.approx(1.0)


def test_mase_refuses_constant_or_short_history() -> None:
    with pytest.raises(ValueError, match="constant"):
        mase([1.0], [1.0], [3.0, 3.0, 3.0])
    with pytest.raises(ValueError, match="more than m=2"):
        mase([1.0], [1.0], [1.0, 2.0], m=2)


def test_rmse_hand_computed() -> None:
    assert rmse([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 1.0, 4.0]) == pytest.approx(math.sqrt(5 / 4))
    with pytest.raises(ValueError, match="differ in length"):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="missing"):
        rmse([1.0, float("nan")], [1.0, 2.0])


def test_directional_accuracy_counts_no_call_as_half() -> None:
    actual = [1.0, -1.0, 2.0, -3.0, 0.0, 1.0]
    predicted = [0.5, 0.2, 0.0, -1.0, 1.0, -2.0]
    # right, wrong, no call (0.5), right, flat day (0.5), wrong -> 3 / 6
    assert directional_accuracy(actual, predicted) == pytest.approx(0.5)
    assert directional_accuracy([1.0, -1.0], [2.0, -0.1]) == 1.0
    # A forecaster that never commits scores exactly a coin.
    assert directional_accuracy([1.0, -1.0, 3.0], [0.0, 0.0, 0.0]) == 0.5


def test_interval_coverage_counts_closed_intervals() -> None:
    y = [1.0, 2.0, 3.0, 4.0, 5.0]
    lower = [0.0, 2.0, 3.5, 4.0, 6.0]
    upper = [2.0, 3.0, 4.0, 4.0, 7.0]
    # inside, on the lower edge, below, on a zero-width interval, below
    assert interval_coverage(y, lower, upper) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="above their upper"):
        interval_coverage([1.0], [2.0], [0.0])


def test_qlike_is_minimised_by_the_true_variance() -> None:
    assert qlike([2.0], [2.0]) == pytest.approx(math.log(2.0) + 1.0)
    rng = np.random.default_rng(0)
    variance = rng.uniform(0.5, 2.0, size=20_000)
    realised = variance * rng.standard_normal(20_000) ** 2  # a noisy proxy, like r**2
    truth = qlike(realised, variance)
    assert truth < qlike(realised, variance * 1.3)
    assert truth < qlike(realised, variance * 0.7)
    assert truth < qlike(realised, np.full_like(variance, variance.mean()))
    assert np.isfinite(qlike([0.0, 1.0], [1.0, 1.0]))  # a flat day is fine
    with pytest.raises(ValueError, match="positive"):
        qlike([1.0], [0.0])


def test_diebold_mariano_identical_errors() -> None:
    errors = np.random.default_rng(1).standard_normal(100)
    assert diebold_mariano(errors, errors) == (0.0, 0.5)
    assert diebold_mariano(errors, errors, horizon=5, loss="absolute") == (0.0, 0.5)


def test_diebold_mariano_hand_computed_with_overlap() -> None:
    # Absolute loss differentials d = [1, -1, 2, 0]: mean 0.5, gamma0 = 1.25,
    # gamma1 = -0.9375; horizon 2 -> Bartlett weight 1/2: V = 1.25 - 0.9375 = 0.3125.
    statistic, p_value = diebold_mariano(
        [2.0, 0.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0], horizon=2, loss="absolute"
    )
    dm = 0.5 / math.sqrt(0.3125 / 4)
    hln = math.sqrt((4 + 1 - 2 * 2 + 2 * 1 / 4) / 4)
    assert statistic == pytest.approx(dm * hln)
    assert p_value == pytest.approx(stats.t.cdf(dm * hln, df=3))


def test_diebold_mariano_detects_better_and_worse_models() -> None:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(250)
    baseline = noise + rng.standard_normal(250)  # the model explains part of the error
    model = noise
    statistic, p_value = diebold_mariano(model, baseline)
    assert statistic < 0
    assert p_value < 0.01
    _, p_worse = diebold_mariano(baseline, model)
    assert p_worse > 0.9
    _, p_abs = diebold_mariano(model, baseline, horizon=5, loss="absolute")
    assert p_abs < 0.01


def test_diebold_mariano_false_positive_rate_is_near_nominal() -> None:
    # Equal-accuracy forecasts: the test should reject about 5% of the time at 0.05.
    rng = np.random.default_rng(3)
    rejections = [diebold_mariano(*rng.standard_normal((2, 120)))[1] < 0.05 for _ in range(400)]
    assert 0.02 <= np.mean(rejections) <= 0.09


def test_diebold_mariano_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="loss"):
        diebold_mariano([1.0, 2.0], [1.0, 3.0], loss="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least two"):
        diebold_mariano([1.0], [2.0])


def test_rolling_origin_splits_never_leak() -> None:
    folds = list(rolling_origin_splits(100, initial=40, step=15, horizon=10))
    assert [end for end, _ in folds] == [40, 55, 70, 85]
    for end, test in folds:
        assert test.tolist() == list(range(end, end + 10))
        assert test.min() >= end
        assert test.max() < 100
    latest = list(rolling_origin_splits(100, initial=40, step=15, horizon=10, max_folds=2))
    assert [end for end, _ in latest] == [70, 85]
    assert list(rolling_origin_splits(10, initial=8, step=1, horizon=5)) == []
    with pytest.raises(ValueError, match="at least 1"):
        list(rolling_origin_splits(10, initial=0, step=1, horizon=1))
