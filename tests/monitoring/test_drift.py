"""Drift references and report: flags real shifts, stays quiet on resamples, exact maths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nexafi_ai.monitoring import (
    CategoricalReference,
    NumericReference,
    build_references,
    chi_square,
    counts_for,
    drift_report,
    ks_statistic_against,
    psi,
    reference_for,
    reference_from_json,
)

N = 20_000


def _frame(rng: np.random.Generator, n: int = N) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(0.0, 1.0, n),
            "age": rng.normal(0.0, 1.0, n),
            "channel": rng.choice(["web", "branch", "phone"], size=n, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(["north", "south", "east", "west"], size=n),
            "score": rng.uniform(0.0, 1.0, n),
        }
    )


@pytest.fixture(scope="module")
def references() -> dict[str, NumericReference | CategoricalReference]:
    return build_references(_frame(np.random.default_rng(1)))


def test_kinds_chosen_by_dtype(references) -> None:
    assert isinstance(references["income"], NumericReference)
    assert isinstance(references["score"], NumericReference)
    assert isinstance(references["channel"], CategoricalReference)
    assert len(references["income"].edges) == 9  # 10 quantile bins
    assert len(references["income"].shares) == 11  # + missing
    assert references["income"].shares[-1] == 0.0
    assert np.allclose(references["income"].shares[:-1], 0.1, atol=1e-3)
    assert len(references["income"].sample) == 2000
    assert list(references["income"].sample) == sorted(references["income"].sample)
    assert set(references["channel"].categories) == {"web", "branch", "phone"}


def test_unshifted_sample_is_ok(references) -> None:
    report = drift_report(references, _frame(np.random.default_rng(2)))
    assert report["status"] == "ok"
    assert report["n"] == N
    for name, entry in report["features"].items():
        assert entry["status"] == "ok", name
        assert entry["psi"] < 0.01, name
    assert report["features"]["income"]["ks"] < 0.03
    assert report["features"]["channel"]["p_value"] > 1e-4


def test_shifted_features_alert_others_ok(references) -> None:
    rng = np.random.default_rng(3)
    current = _frame(rng)
    current["income"] = current["income"] + 1.0
    current["channel"] = rng.choice(["web", "branch", "phone"], size=N, p=[0.2, 0.3, 0.5])
    report = drift_report(references, current)
    assert report["status"] == "alert"
    features = report["features"]
    assert features["income"]["status"] == "alert"
    assert features["income"]["psi"] > 0.25
    assert features["income"]["ks"] > 0.3  # Phi(0.5) - Phi(-0.5) = 0.383
    assert features["channel"]["status"] == "alert"
    assert features["channel"]["psi"] > 0.25
    assert features["channel"]["p_value"] < 1e-12
    for name in ("age", "region", "score"):
        assert features[name]["status"] == "ok", name
        assert features[name]["psi"] < 0.1, name


def test_moderate_shift_warns_and_thresholds_configurable(references) -> None:
    current = _frame(np.random.default_rng(4))
    current["age"] = current["age"] + 0.4
    report = drift_report(references, current)
    assert 0.1 < report["features"]["age"]["psi"] < 0.25
    assert report["features"]["age"]["status"] == "warn"
    assert report["status"] == "warn"
    strict = drift_report(references, current, psi_warn=0.02, psi_alert=0.05)
    assert strict["features"]["age"]["status"] == "alert"
    assert strict["thresholds"] == {"psi_warn": 0.02, "psi_alert": 0.05}


def test_missing_values_counted_and_jump_flagged() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=N)
    train[:200] = np.nan  # 1% missing at training
    ref = reference_for(train)
    assert isinstance(ref, NumericReference)
    assert ref.shares[-1] == pytest.approx(0.01)

    current = rng.normal(size=N)
    current[: N // 5] = np.nan  # 20% missing now
    current[N // 5] = np.inf  # a non-finite value is a missing value too
    counts = counts_for(ref, current)
    assert counts[-1] == N // 5 + 1
    assert counts.sum() == N
    report = drift_report({"x": ref}, pd.DataFrame({"x": current}))
    assert report["features"]["x"]["missing_share"] == pytest.approx(0.2 + 1 / N)
    assert report["features"]["x"]["status"] == "alert"

    cat_ref = reference_for(pd.Series(["a", "b", None, "a"] * 100))
    assert isinstance(cat_ref, CategoricalReference)
    assert cat_ref.shares[-1] == pytest.approx(0.25)
    assert counts_for(cat_ref, pd.Series(["a", None, None, np.nan])).tolist() == [1, 0, 0, 3]


def test_unseen_and_rare_categories_go_to_other() -> None:
    train = pd.Series(["a"] * 600 + ["b"] * 395 + ["rare"] * 5)  # rare = 0.5% < 1%
    ref = reference_for(train)
    assert isinstance(ref, CategoricalReference)
    assert ref.categories == ("a", "b")
    assert ref.shares == (0.6, 0.395, 0.005, 0.0)
    counts = counts_for(ref, pd.Series(["a", "b", "rare", "zzz", "new", "b"]))
    assert counts.tolist() == [1, 2, 3, 0]
    # Category dtype and non-string values map through their string form.
    ints = reference_for(pd.Series([1, 2, 2], dtype="category"))
    assert isinstance(ints, CategoricalReference)
    assert counts_for(ints, pd.Series([2, 3], dtype="category")).tolist() == [1, 0, 1, 0]


def test_json_round_trip_exact(references) -> None:
    for ref in references.values():
        text = ref.to_json()
        back = reference_from_json(text)
        assert back == ref
        assert type(back) is type(ref)
        assert back.to_json() == text
    with pytest.raises(ValueError, match="kind"):
        reference_from_json('{"kind": "histogram"}')


def test_psi_hand_computed() -> None:
    expected = (0.3 - 0.5) * math.log(0.3 / 0.5) + (0.7 - 0.5) * math.log(0.7 / 0.5)
    assert psi([0.5, 0.5], [30, 70]) == pytest.approx(expected, rel=1e-12)
    assert psi([0.5, 0.5], [30, 70]) == pytest.approx(0.1694595, abs=1e-7)
    assert psi([0.25, 0.25, 0.5], [25, 25, 50]) == 0.0
    # An empty slot is floored at eps, not infinite: (1e-4 - 0.5) * ln(1e-4 / 0.5) + ...
    floored = psi([0.5, 0.5], [10, 0])
    assert floored == pytest.approx(
        (1.0 - 0.5) * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5), rel=1e-12
    )


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_matches_scipy(discrete: bool) -> None:
    rng = np.random.default_rng(6)
    if discrete:  # ties in both samples and shared values
        ref = rng.integers(0, 20, 2000).astype(float)
        cur = rng.integers(2, 25, 50_000).astype(float)
    else:
        ref = rng.normal(size=2000)
        cur = rng.normal(0.3, 1.2, 50_000)
    ours = ks_statistic_against(ref, cur)
    theirs = stats.ks_2samp(ref, cur).statistic
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert ks_statistic_against(ref, ref) == 0.0
    assert ks_statistic_against(ref, np.array([np.nan, 1e9])) == 1.0


def test_chi_square_matches_scipy_and_survives_empty_slots() -> None:
    stat, p = chi_square([0.5, 0.3, 0.2], [480, 320, 200])
    expected = stats.chisquare([480, 320, 200], [500, 300, 200])
    assert stat == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    stat, p = chi_square([0.6, 0.4, 0.0], [60, 30, 10])  # unseen slot at training
    assert math.isfinite(stat)
    assert p < 1e-10


def test_report_errors() -> None:
    ref = {"x": reference_for(np.arange(10.0))}
    with pytest.raises(KeyError, match="x"):
        drift_report(ref, pd.DataFrame({"y": [1.0]}))
    with pytest.raises(ValueError, match="empty"):
        drift_report(ref, pd.DataFrame({"x": np.array([], dtype=float)}))
