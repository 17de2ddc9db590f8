"""Disparate-impact report: hand-computed approval rates, small-group handling, JSON safety."""

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nexafi_ai.evaluation import fairness_report

GROUP_KEYS = {
    "count",
    "approval_rate",
    "default_rate",
    "mean_pd",
    "roc_auc",
    "default_rate_among_approved",
}


def _two_groups() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group "a": 50 rows, 40 approved (0.8); group "b": 50 rows, 30 approved (0.6).

    Defaults: rows 40..49 of "a" (all declined) plus rows 0..4 of "a" (approved);
    in "b" rows 30..44 (declined) and rows 0..2 (approved). PDs rise with default risk.
    """
    y_a = np.zeros(50, dtype=int)
    y_a[40:] = 1
    y_a[:5] = 1
    approved_a = np.arange(50) < 40
    y_b = np.zeros(50, dtype=int)
    y_b[30:45] = 1
    y_b[:3] = 1
    approved_b = np.arange(50) < 30
    rng = np.random.default_rng(0)
    proba = np.clip(0.1 + 0.5 * np.concatenate([y_a, y_b]) + rng.normal(0, 0.2, 100), 0, 1)
    y = np.concatenate([y_a, y_b])
    approved = np.concatenate([approved_a, approved_b])
    return y, proba, approved, np.array(["a"] * 50 + ["b"] * 50)


def test_known_two_group_example() -> None:
    y, proba, approved, groups = _two_groups()
    r = fairness_report(y, proba, approved, groups, attribute="sex")
    assert r["attribute"] == "sex"
    assert set(r["groups"]) == {"a", "b"}
    a, b = r["groups"]["a"], r["groups"]["b"]
    assert set(a) == GROUP_KEYS
    assert (a["count"], b["count"]) == (50, 50)
    assert a["approval_rate"] == pytest.approx(0.8)
    assert b["approval_rate"] == pytest.approx(0.6)
    assert a["default_rate"] == pytest.approx(15 / 50)
    assert b["default_rate"] == pytest.approx(18 / 50)
    assert a["default_rate_among_approved"] == pytest.approx(5 / 40)
    assert b["default_rate_among_approved"] == pytest.approx(3 / 30)
    assert a["mean_pd"] == pytest.approx(proba[:50].mean())
    assert r["adverse_impact_ratio"] == pytest.approx(0.75)
    assert r["passes_four_fifths"] is False
    assert r["reference_group"] == "a"
    assert r["lowest_group"] == "b"
    assert r["approval_rate_difference"] == pytest.approx(0.2)
    assert r["small_groups"] == []


def test_per_group_auc_matches_sklearn_on_the_same_rows() -> None:
    y, proba, approved, groups = _two_groups()
    r = fairness_report(y, proba, approved, groups)
    auc = {}
    for g in ("a", "b"):
        rows = groups == g
        auc[g] = roc_auc_score(y[rows], proba[rows])
        assert r["groups"][g]["roc_auc"] == pytest.approx(auc[g])
    assert r["auc_difference"] == pytest.approx(abs(auc["a"] - auc["b"]))


def test_four_fifths_threshold_is_inclusive_and_configurable() -> None:
    data = _two_groups()
    assert fairness_report(*data, four_fifths=0.75)["passes_four_fifths"] is True
    assert fairness_report(*data, four_fifths=0.76)["passes_four_fifths"] is False
    # Exactly 4/5 on paper (16/25 vs 20/25), 0.7999999999999999 in floating point: passes.
    groups = np.array(["x"] * 25 + ["y"] * 25)
    approved = np.concatenate([np.arange(25) < 20, np.arange(25) < 16])
    r = fairness_report(
        np.zeros(50, dtype=int), np.full(50, 0.1), approved, groups, min_group_size=25
    )
    assert r["adverse_impact_ratio"] == pytest.approx(0.8)
    assert r["passes_four_fifths"] is True


def test_small_groups_are_reported_but_excluded_from_the_ratio() -> None:
    y, proba, approved, groups = _two_groups()
    # Group "c": 5 rows, none approved. Included it would drive the ratio to 0.
    report = fairness_report(
        y_true=np.concatenate([y, [0, 1, 0, 1, 0]]),
        proba=np.concatenate([proba, [0.2, 0.9, 0.3, 0.8, 0.1]]),
        approved=np.concatenate([approved, [False] * 5]),
        groups=np.concatenate([groups, ["c"] * 5]),
    )
    assert report["small_groups"] == ["c"]
    assert report["groups"]["c"]["count"] == 5
    assert report["groups"]["c"]["approval_rate"] == 0.0
    assert report["groups"]["c"]["default_rate_among_approved"] is None
    assert report["adverse_impact_ratio"] == pytest.approx(0.75)
    assert report["lowest_group"] == "b"
    assert report["approval_rate_difference"] == pytest.approx(0.2)
    # With the size floor lowered, "c" counts and the ratio collapses to 0.
    low = fairness_report(
        y_true=np.concatenate([y, [0, 1, 0, 1, 0]]),
        proba=np.concatenate([proba, [0.2, 0.9, 0.3, 0.8, 0.1]]),
        approved=np.concatenate([approved, [False] * 5]),
        groups=np.concatenate([groups, ["c"] * 5]),
        min_group_size=5,
    )
    assert low["small_groups"] == []
    assert low["adverse_impact_ratio"] == 0.0
    assert low["lowest_group"] == "c"
    assert low["approval_rate_difference"] == pytest.approx(0.8)


def test_single_class_group_has_none_auc_and_report_is_strict_json() -> None:
    y = [0] * 40 + [0, 1] * 20
    proba = [0.1] * 40 + [0.2, 0.7] * 20
    approved = [True] * 30 + [False] * 10 + [True, False] * 20
    groups = ["a"] * 40 + ["b"] * 40
    r = fairness_report(y, proba, approved, groups)
    assert r["attribute"] is None
    assert r["groups"]["a"]["roc_auc"] is None
    assert r["groups"]["b"]["roc_auc"] == 1.0
    assert r["auc_difference"] is None  # only one eligible group has a defined AUC
    assert r["groups"]["a"]["default_rate_among_approved"] == 0.0
    assert r["adverse_impact_ratio"] == pytest.approx(0.5 / 0.75)
    text = json.dumps(r, allow_nan=False)  # raises on any NaN/inf
    assert json.loads(text) == r


def test_comparisons_need_two_eligible_groups() -> None:
    r = fairness_report([0, 1, 0], [0.1, 0.8, 0.3], [True, False, True], ["a", "a", "b"])
    assert r["small_groups"] == ["a", "b"]
    for key in (
        "adverse_impact_ratio",
        "reference_group",
        "lowest_group",
        "passes_four_fifths",
        "approval_rate_difference",
        "auc_difference",
    ):
        assert r[key] is None, key
    assert r["groups"]["a"]["approval_rate"] == 0.5
    json.dumps(r, allow_nan=False)


def test_no_approvals_anywhere_leaves_the_ratio_undefined() -> None:
    r = fairness_report(
        [0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [False] * 4, ["a", "a", "b", "b"], min_group_size=1
    )
    assert r["adverse_impact_ratio"] is None
    assert r["passes_four_fifths"] is None
    assert r["approval_rate_difference"] == 0.0


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        fairness_report([0, 1], [0.1, 0.2], [True, False], ["a"])
    with pytest.raises(ValueError, match="missing"):
        fairness_report([0, 1], [0.1, 0.2], [True, False], np.array(["a", None]))
    with pytest.raises(ValueError, match="approved"):
        fairness_report([0, 1], [0.1, 0.2], ["yes", "no"], ["a", "b"])
    with pytest.raises(ValueError, match="y_true"):
        fairness_report([0, 2], [0.1, 0.2], [True, False], ["a", "b"])
    with pytest.raises(ValueError, match="four_fifths"):
        fairness_report([0, 1], [0.1, 0.2], [True, False], ["a", "b"], four_fifths=1.5)


def test_equal_rates_give_ratio_one_and_distinct_reference_and_lowest() -> None:
    r = fairness_report(
        [0, 0, 0, 0],
        [0.1, 0.2, 0.1, 0.2],
        [True, False, True, False],
        ["b", "b", "a", "a"],
        min_group_size=2,
    )
    assert r["adverse_impact_ratio"] == 1.0
    assert r["passes_four_fifths"] is True
    assert (r["reference_group"], r["lowest_group"]) == ("a", "b")
    assert r["approval_rate_difference"] == 0.0
