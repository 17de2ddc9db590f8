"""Credit-scoring metrics: exact values on hand-computed samples, calibration on synthetic PDs."""

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp  # type: ignore[import-untyped]
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from nexafi_ai.evaluation import (
    brier_score,
    calibration_table,
    credit_metrics,
    expected_calibration_error,
    gini,
    ks_statistic,
)

SEPARATED_Y = [0, 0, 0, 1, 1]
SEPARATED_P = [0.05, 0.1, 0.2, 0.6, 0.9]


def test_gini_is_two_auc_minus_one() -> None:
    assert gini(SEPARATED_Y, SEPARATED_P) == 1.0
    # Reversed ranking: every bad scored below every good.
    assert gini([1, 1, 0, 0], [0.1, 0.2, 0.7, 0.9]) == -1.0
    # AUC 0.75 -> Gini 0.5 (one of the four good/bad pairs is misordered).
    assert gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)


def test_ks_is_one_on_perfect_separation_and_zero_on_identical_scores() -> None:
    assert ks_statistic(SEPARATED_Y, SEPARATED_P) == 1.0
    assert ks_statistic([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == 0.0


def test_ks_hand_computed_and_matches_scipy() -> None:
    # CDF gaps at 0.1, 0.35, 0.4, 0.8: 0.5, 0.0, 0.5, 0.0.
    assert ks_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.5
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.beta(2, 5, 500) + 0.1 * y, 2)  # rounding creates ties
    expected = ks_2samp(p[y == 1], p[y == 0]).statistic
    assert ks_statistic(y, p) == pytest.approx(expected)


def test_single_class_gives_nan_ranking_metrics_but_defined_calibration() -> None:
    y = [0, 0, 0, 0]
    p = [0.1, 0.2, 0.1, 0.2]
    assert math.isnan(gini(y, p))
    assert math.isnan(ks_statistic(y, p))
    assert math.isnan(ks_statistic([1, 1], [0.2, 0.4]))
    assert brier_score(y, p) == pytest.approx(0.025)
    m = credit_metrics(y, p)
    for key in ("roc_auc", "gini", "ks", "average_precision"):
        assert math.isnan(m[key]), key
    assert m["brier"] == pytest.approx(0.025)
    assert m["expected_calibration_error"] == pytest.approx(0.15)
    assert m["prevalence"] == 0.0
    assert m["rows"] == 4.0


def test_brier_hand_computed_and_matches_sklearn() -> None:
    assert brier_score([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    assert brier_score([0, 1], [0.0, 1.0]) == 0.0
    assert brier_score([0, 1, 1], [0.3, 0.8, 0.4]) == pytest.approx(
        brier_score_loss([0, 1, 1], [0.3, 0.8, 0.4])
    )
    assert math.isnan(brier_score([], []))


def test_calibration_table_hand_computed() -> None:
    rows = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2)
    assert len(rows) == 2
    assert [r["bin"] for r in rows] == [0, 1]
    assert [r["count"] for r in rows] == [2, 2]
    assert rows[0]["lower"] == pytest.approx(0.1)
    assert rows[0]["upper"] == pytest.approx(0.45)  # the median of the four predictions
    assert rows[1]["upper"] == pytest.approx(0.9)
    assert rows[0]["mean_predicted"] == pytest.approx(0.15)
    assert rows[1]["mean_predicted"] == pytest.approx(0.8)
    assert [r["observed_rate"] for r in rows] == [0.0, 1.0]
    assert set(rows[0]) == {"bin", "lower", "upper", "count", "mean_predicted", "observed_rate"}


def test_calibration_table_counts_sum_to_n_and_ties_leave_no_empty_bins() -> None:
    rng = np.random.default_rng(1)
    p = np.round(rng.beta(1, 9, 1000), 2)  # heavily tied, skewed PDs
    y = rng.binomial(1, p)
    for strategy in ("quantile", "uniform"):
        rows = calibration_table(y, p, bins=10, strategy=strategy)
        assert sum(r["count"] for r in rows) == len(p)
        assert all(r["count"] > 0 for r in rows)
        assert [r["bin"] for r in rows] == list(range(len(rows)))
        assert all(r["lower"] <= r["mean_predicted"] <= r["upper"] for r in rows)
    # 70% of the rows share one score: duplicate quantile edges collapse.
    tied = [0.02] * 70 + [0.5] * 30
    rows = calibration_table([0] * 100, tied, bins=10)
    assert sum(r["count"] for r in rows) == 100
    assert all(r["count"] > 0 for r in rows)
    assert rows[0]["count"] == 70
    # All predictions identical: one bin holding everything.
    assert [r["count"] for r in calibration_table([0, 1, 1], [0.4, 0.4, 0.4])] == [3]


def test_calibration_table_uniform_bins_hand_computed() -> None:
    rows = calibration_table([0, 1, 0, 1], [0.1, 0.3, 0.6, 1.0], bins=2, strategy="uniform")
    assert [(r["lower"], r["upper"], r["count"]) for r in rows] == [(0.0, 0.5, 2), (0.5, 1.0, 2)]
    assert [r["observed_rate"] for r in rows] == [0.5, 0.5]


def test_calibration_table_edge_cases_and_validation() -> None:
    assert calibration_table([], []) == []
    assert math.isnan(expected_calibration_error([], []))
    with pytest.raises(ValueError, match="bins"):
        calibration_table([0, 1], [0.1, 0.2], bins=0)
    with pytest.raises(ValueError, match="strategy"):
        calibration_table([0, 1], [0.1, 0.2], strategy="kmeans")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        calibration_table([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="rows"):
        calibration_table([0, 1, 1], [0.1, 0.2])


def test_ece_hand_computed() -> None:
    # Bins {0.1, 0.2} (observed 0) and {0.7, 0.9} (observed 1): (2 * 0.15 + 2 * 0.2) / 4.
    assert expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2) == (
        pytest.approx(0.175)
    )


def test_ece_separates_calibrated_from_doubled_pds() -> None:
    rng = np.random.default_rng(42)
    p = rng.uniform(0.01, 0.45, 50_000)
    y = rng.binomial(1, p)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, 2 * p) > 0.05


def test_credit_metrics_keys_and_agreement_with_sklearn() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.0, 1.0, 400)
    y = rng.binomial(1, p)
    m = credit_metrics(y, p)
    assert list(m) == [
        "roc_auc",
        "gini",
        "ks",
        "brier",
        "average_precision",
        "expected_calibration_error",
        "prevalence",
        "rows",
    ]
    auc = roc_auc_score(y, p)
    assert m["roc_auc"] == pytest.approx(auc)
    assert m["gini"] == pytest.approx(2 * auc - 1)
    assert m["ks"] == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p))
    assert m["expected_calibration_error"] == pytest.approx(expected_calibration_error(y, p))
    assert m["prevalence"] == pytest.approx(y.mean())
    assert m["rows"] == 400.0
    assert all(isinstance(v, float) for v in m.values())
