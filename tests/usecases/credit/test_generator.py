"""The applicant generator: deterministic, well-formed, and its default mechanism as documented.

Beyond the schema, the tests check the properties the credit use case relies on: a bad rate
near 20%, each monotone link visible in the data, a label that is learnable out of time but not
trivially, and a protected attribute that does not drive the label.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from nexafi_ai.usecases.credit.generator import (
    EMPLOYMENT_STATUSES,
    HOME_OWNERSHIP,
    MONOTONE_DIRECTIONS,
    OUTPUT_COLUMNS,
    PROTECTED,
    PURPOSES,
    TARGET,
    ApplicantConfig,
    generate_applicants,
)

TINY = ApplicantConfig.preset("tiny", seed=0)
SMALL = ApplicantConfig.preset("small", seed=0)

INT_COLUMNS = (
    "age",
    "delinquencies_2y",
    "open_accounts",
    "recent_inquiries_6m",
    "term_months",
)
FLOAT_COLUMNS = (
    "annual_income",
    "employment_length_years",
    "debt_to_income",
    "revolving_utilization",
    "months_since_last_delinquency",
    "credit_history_years",
    "loan_amount",
)
STRING_COLUMNS = ("applicant_id", "employment_status", "purpose", "home_ownership", PROTECTED)
# Share of NaN per column: (low, high). Columns not listed must have none.
NAN_BOUNDS = {
    "annual_income": (0.03, 0.08),
    "employment_length_years": (0.05, 0.14),  # 3% unreported + half of those with no job
    "months_since_last_delinquency": (0.55, 0.85),  # never delinquent
}


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_applicants(SMALL)


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return generate_applicants(TINY)


def test_same_seed_same_frame_other_seed_different(tiny: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate_applicants(TINY), tiny)
    other = generate_applicants(replace(TINY, seed=1))
    assert not other[TARGET].equals(tiny[TARGET])
    assert not other["annual_income"].equals(tiny["annual_income"])


def test_presets_and_validation() -> None:
    assert ApplicantConfig.preset("tiny").n_applicants == 2_000
    assert ApplicantConfig.preset("small").n_applicants == 10_000
    assert ApplicantConfig.preset("default") == ApplicantConfig()
    assert ApplicantConfig.preset("small", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown size"):
        ApplicantConfig.preset("huge")
    with pytest.raises(ValueError, match="n_applicants"):
        ApplicantConfig(n_applicants=0)
    with pytest.raises(ValueError, match="months"):
        ApplicantConfig(months=0)
    with pytest.raises(ValueError):  # noqa: PT011 (pandas' message varies by version)
        ApplicantConfig(start="not a date")


def test_schema_and_dtypes(tiny: pd.DataFrame) -> None:
    assert tuple(tiny.columns) == OUTPUT_COLUMNS
    assert len(tiny) == TINY.n_applicants
    pd.testing.assert_index_equal(tiny.index, pd.RangeIndex(len(tiny)))
    assert tiny["application_date"].dtype == "datetime64[ns, UTC]"
    assert tiny[TARGET].dtype == np.int8
    for column in INT_COLUMNS:
        assert pd.api.types.is_integer_dtype(tiny[column]), column
    for column in FLOAT_COLUMNS:
        assert tiny[column].dtype == np.float64, column
    for column in STRING_COLUMNS:
        assert pd.api.types.is_string_dtype(tiny[column]), column
        assert not isinstance(tiny[column].dtype, pd.CategoricalDtype), column
    assert set(MONOTONE_DIRECTIONS) <= set(INT_COLUMNS) | set(FLOAT_COLUMNS)
    assert set(MONOTONE_DIRECTIONS.values()) <= {-1, 1}


def test_ids_and_dates(tiny: pd.DataFrame) -> None:
    assert tiny["applicant_id"].iloc[0] == "app_0000001"
    assert tiny["applicant_id"].is_unique
    assert tiny["applicant_id"].str.fullmatch(r"app_\d{7}").all()
    dates = tiny["application_date"]
    assert dates.is_monotonic_increasing
    start = pd.Timestamp(TINY.start, tz="UTC")
    assert dates.min() >= start
    assert dates.max() < start + pd.DateOffset(months=TINY.months)
    # Spread over the whole window, not bunched: every month has applications.
    assert dates.dt.tz_localize(None).dt.to_period("M").nunique() == TINY.months
    shifted = generate_applicants(replace(TINY, start="2024-06-01", months=6))
    assert shifted["application_date"].min() >= pd.Timestamp("2024-06-01", tz="UTC")
    assert shifted["application_date"].max() < pd.Timestamp("2024-12-01", tz="UTC")


def test_value_ranges(small: pd.DataFrame) -> None:
    df = small
    assert df["age"].between(18, 80).all()
    assert (df["annual_income"].dropna() > 0).all()
    assert df["debt_to_income"].between(0.0, 1.5).all()
    assert df["revolving_utilization"].between(0.0, 1.2).all()
    assert (df["revolving_utilization"] > 1.0).any()  # some over the limit
    assert (df["delinquencies_2y"] >= 0).all()
    assert (df["open_accounts"] >= 0).all()
    assert (df["recent_inquiries_6m"] >= 0).all()
    assert (df["credit_history_years"] >= 0).all()
    assert (df["credit_history_years"] <= df["age"] - 18).all()
    tenure = df["employment_length_years"].dropna()
    assert (tenure >= 0).all()
    assert (tenure <= (df["age"] - 18)[tenure.index]).all()
    assert (df["loan_amount"] > 0).all()
    assert set(df["term_months"]) == {36, 60}
    assert set(df["employment_status"]) == set(EMPLOYMENT_STATUSES)
    assert set(df["purpose"]) == set(PURPOSES)
    assert set(df["home_ownership"]) == set(HOME_OWNERSHIP)
    assert set(df[PROTECTED]) == {"A", "B"}
    assert set(df[TARGET]) == {0, 1}
    # Plausible shapes: students are young, retirees old.
    by_status = df.groupby("employment_status")["age"].median()
    assert by_status["student"] < by_status["employed"] < by_status["retired"]


def test_delinquency_fields_agree(small: pd.DataFrame) -> None:
    since = small["months_since_last_delinquency"]
    recent = small["delinquencies_2y"] > 0
    # A delinquency in the last 2 years is at most 24 months old; none ever means NaN.
    assert since[recent].notna().all()
    assert (since[recent] < 24).all()
    assert (since[~recent].dropna() >= 24).all()
    assert (since.dropna() <= small["credit_history_years"][since.notna()] * 12).all()


def test_nan_shares(small: pd.DataFrame) -> None:
    shares = small.isna().mean()
    for column, share in shares.items():
        low, high = NAN_BOUNDS.get(str(column), (0.0, 0.0))
        assert low <= share <= high, (column, share)


def test_bad_rate_near_20_percent(small: pd.DataFrame) -> None:
    assert 0.15 <= small[TARGET].mean() <= 0.25


@pytest.mark.parametrize(("feature", "direction"), sorted(MONOTONE_DIRECTIONS.items()))
def test_monotone_features_move_default_rate(
    small: pd.DataFrame, feature: str, direction: int
) -> None:
    """Top vs bottom quintile moves the bad rate the stated way.

    Quintiles are taken on values, ties together: a discrete feature (``term_months``,
    ``delinquencies_2y``) compares whole groups, and when one value fills both the 20th and the
    80th percentile (no delinquency) the comparison is that value against everything above it.
    """
    x = small[feature].dropna()
    y = small.loc[x.index, TARGET]
    low, high = x.quantile([0.2, 0.8])
    bottom = y[x <= low].mean()
    top = y[x > low].mean() if low == high else y[x >= high].mean()
    assert direction * (top - bottom) > 0.02, (bottom, top)


def test_learnable_out_of_time_but_not_trivial(small: pd.DataFrame) -> None:
    features = small.drop(columns=["applicant_id", "application_date", PROTECTED, TARGET])
    for column in ("employment_status", "purpose", "home_ownership"):
        features[column] = features[column].astype("category")
    cut = int(len(small) * 0.7)  # rows are in date order: train on the past, test on the future
    model = HistGradientBoostingClassifier(
        categorical_features="from_dtype",
        max_iter=100,
        max_leaf_nodes=15,
        early_stopping=False,
        random_state=0,
    )
    # One thread: OpenMP on a busy shared CI machine can take 10x longer, not shorter.
    with threadpool_limits(1):
        model.fit(features.iloc[:cut], small[TARGET].iloc[:cut])
    auc = roc_auc_score(small[TARGET].iloc[cut:], model.predict_proba(features.iloc[cut:])[:, 1])
    assert 0.70 <= auc <= 0.90, auc


def test_protected_group_does_not_drive_the_label(small: pd.DataFrame) -> None:
    share_b = (small[PROTECTED] == "B").mean()
    assert 0.25 <= share_b <= 0.45
    rates = small.groupby(PROTECTED)[TARGET].mean()
    assert abs(rates["A"] - rates["B"]) < 0.05, rates.to_dict()
