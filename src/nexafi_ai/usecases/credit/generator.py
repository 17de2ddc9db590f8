"""A seeded generator of loan applicants with a known default mechanism, for credit scoring.

Public credit data sets are either tiny (German credit), licence-bound (Lending Club dumps) or
stripped of the very columns a fintech must handle (dates for out-of-time validation, a
protected attribute for the fairness report, realistic missing values). This generator gives
all of them, at any size, and because the default mechanism is written down here a test can
check that a model learns what it should and nothing it should not.

**Applicants.** Each row is one application, dated uniformly over ``months`` months from
``start`` (rows are in date order so the built-in split is out-of-time, as a lender validates).
A latent *financial fragility* ``z ~ N(0, 1)`` drives debt-to-income, revolving utilisation,
delinquencies and recent inquiries together, so those features correlate as they do in bureau
data. Income is log-normal, rising and then flattening with age, and set by employment status
(itself drawn by age band: students are young, retirees old). Credit history never exceeds
``age - 18``; the loan amount scales with income and purpose, and long terms go with big loans.

**Default.** ``defaulted ~ Bernoulli(sigmoid(score))`` with a logistic ``score`` that is linear
in mostly monotone links of the *observed* features (:data:`MONOTONE_DIRECTIONS` lists them
and their signs; the credit model uses it for LightGBM monotone constraints), plus:

* purpose effects (small business and medical loans are riskier, car and home improvement
  safer) and home ownership (a mortgage or an owned home lowers risk);
* one non-linearity: utilisation above 0.9 (a maxed-out card) adds a jump on top of its
  linear effect, and a recent delinquency weighs more the more recent it is;
* a thin-file / over-extended U shape in ``open_accounts`` (so it is *not* monotone);
* ``_HIDDEN_WEIGHT * z``: part of the fragility no column reveals, which with the Bernoulli
  draw keeps a gradient-boosted model's out-of-time ROC-AUC around 0.82-0.85 (learnable, far
  from 1).

The intercept is a constant calibrated for a bad rate near 20% on the default preset (19.9% to
20.3% over seeds 0-4); it is not re-fitted per sample, so every size draws from the same law.

**Fairness.** ``protected_group`` (``"A"``/``"B"``, about 35% ``"B"``) never enters the score.
Group B has a slightly lower income and rents a little more often, so its bad rate can differ
by a point or so *through legitimate features only*: the fairness report should see a small
gap, and a model that uses the column directly has nothing to gain from it.

**Missing values.** ``annual_income`` is unreported for about 5% of applicants (more often for
the self-employed), ``employment_length_years`` for about 3% of everyone plus half of the
unemployed and students (no job to count), and ``months_since_last_delinquency`` is NaN for
anyone never delinquent (structural, the majority). The label is drawn from the true values,
as happens when an applicant leaves a field blank.

Every random step draws from its own child stream of ``np.random.default_rng(seed)``, so the
same config gives the identical frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "EMPLOYMENT_STATUSES",
    "HOME_OWNERSHIP",
    "MONOTONE_DIRECTIONS",
    "OUTPUT_COLUMNS",
    "PROTECTED",
    "PURPOSES",
    "TARGET",
    "ApplicantConfig",
    "generate_applicants",
]

#: The label column (``int8`` 0/1) and the protected attribute (fairness report only).
TARGET: Final = "defaulted"
PROTECTED: Final = "protected_group"

EMPLOYMENT_STATUSES: Final = ("employed", "self_employed", "unemployed", "retired", "student")
PURPOSES: Final = (
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "other",
)
HOME_OWNERSHIP: Final = ("rent", "mortgage", "own")

#: The columns of :func:`generate_applicants`, in order.
OUTPUT_COLUMNS: Final = (
    "applicant_id",
    "application_date",
    "age",
    "annual_income",
    "employment_status",
    "employment_length_years",
    "debt_to_income",
    "revolving_utilization",
    "delinquencies_2y",
    "months_since_last_delinquency",
    "credit_history_years",
    "open_accounts",
    "recent_inquiries_6m",
    "loan_amount",
    "term_months",
    "purpose",
    "home_ownership",
    PROTECTED,
    TARGET,
)

#: Numeric features whose link to default is monotone in the generator: +1 means a higher
#: value raises the default risk, -1 lowers it (other features held fixed). Missing values
#: (unreported, or never delinquent) are outside the constraint.
MONOTONE_DIRECTIONS: Final[dict[str, int]] = {
    "age": -1,
    "annual_income": -1,
    "employment_length_years": -1,
    "debt_to_income": 1,
    "revolving_utilization": 1,
    "delinquencies_2y": 1,
    "months_since_last_delinquency": -1,
    "credit_history_years": -1,
    "recent_inquiries_6m": 1,
    "loan_amount": 1,
    "term_months": 1,
}

_PRESETS: Final = {"default": 50_000, "small": 10_000, "tiny": 2_000}
# Child streams of the root generator, one per independent random step (order is the contract:
# appending is fine, reordering changes every generated frame).
_STREAMS: Final = (
    "dates",
    "demographics",
    "employment",
    "income",
    "bureau",
    "loan",
    "missing",
    "label",
)

# --- Population -----------------------------------------------------------------------------
_SHARE_GROUP_B: Final = 0.35
_GROUP_B_LOG_INCOME_SHIFT: Final = -0.08  # about 8% lower median income
_GROUP_B_OWNERSHIP_SHIFT: Final = -0.15  # a little more renting
# Employment status probabilities by age band (rows: < 25, 25-62, >= 63), columns in
# EMPLOYMENT_STATUSES order.
_EMPLOYMENT_BY_AGE: Final = np.array(
    [
        [0.52, 0.04, 0.09, 0.00, 0.35],
        [0.76, 0.14, 0.07, 0.01, 0.02],
        [0.22, 0.08, 0.05, 0.65, 0.00],
    ]
)
_MEDIAN_INCOME: Final = 42_000.0
# Log-income shift per employment status (EMPLOYMENT_STATUSES order) and its noise sd.
_STATUS_LOG_INCOME: Final = np.array([0.0, 0.05, -0.9, -0.35, -1.1])
_STATUS_LOG_INCOME_SD: Final = np.array([0.45, 0.65, 0.5, 0.4, 0.45])
# Loan purpose shares and typical amount, PURPOSES order.
_PURPOSE_SHARE: Final = np.array([0.32, 0.20, 0.12, 0.12, 0.06, 0.05, 0.13])
_PURPOSE_AMOUNT: Final = np.array([15_000, 9_000, 18_000, 20_000, 6_000, 25_000, 7_000.0])

# --- Default score ----------------------------------------------------------------------------
_INTERCEPT: Final = -3.79
_PURPOSE_EFFECT: Final = np.array([0.10, 0.0, -0.15, -0.20, 0.25, 0.50, 0.15])
_OWNERSHIP_EFFECT: Final = np.array([0.0, -0.25, -0.35])  # HOME_OWNERSHIP order
_HIDDEN_WEIGHT: Final = 0.5

# --- Missing values ---------------------------------------------------------------------------
_INCOME_UNREPORTED: Final = 0.04
_INCOME_UNREPORTED_SELF_EMPLOYED: Final = 0.12
_EMPLOYMENT_LENGTH_UNREPORTED: Final = 0.03
_EMPLOYMENT_LENGTH_NO_JOB: Final = 0.5  # share of unemployed and students with NaN, not 0

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ApplicantConfig:
    """What to generate: ``n_applicants`` applications over ``months`` months from ``start``."""

    n_applicants: int = 50_000
    start: str = "2023-01-01"
    months: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_applicants < 1:
            raise ValueError("n_applicants must be >= 1")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        self.start_timestamp()  # fail at construction on an unparsable date

    @classmethod
    def preset(cls, size: str, seed: int = 0) -> ApplicantConfig:
        """A named size: ``"default"`` (50k), ``"small"`` (10k) or ``"tiny"`` (2k, tests).

        >>> ApplicantConfig.preset("tiny").n_applicants
        2000
        """
        if size not in _PRESETS:
            raise ValueError(f"unknown size {size!r}; known: {sorted(_PRESETS)}")
        return cls(n_applicants=_PRESETS[size], seed=seed)

    def start_timestamp(self) -> pd.Timestamp:
        """Midnight of ``start`` in UTC; a naive ``start`` is read as UTC."""
        ts = pd.Timestamp(self.start)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _streams(seed: int) -> dict[str, np.random.Generator]:
    root = np.random.default_rng(seed)
    return dict(zip(_STREAMS, root.spawn(len(_STREAMS)), strict=True))


def _ids(prefix: str, n: int, digits: int) -> NDArray[np.str_]:
    """``prefix`` + zero-padded 1..n, built with numpy string ufuncs (no Python loop)."""
    numbers = np.arange(1, n + 1).astype(f"U{digits}")
    return np.char.add(prefix, np.char.zfill(numbers, digits))


def _draw_rows(rng: np.random.Generator, probabilities: FloatArray) -> IntArray:
    """One category index per row of an ``(n, k)`` probability matrix (rows sum to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    index: IntArray = np.minimum((u >= cumulative).sum(axis=1), probabilities.shape[1] - 1)
    return index.astype(np.int64)


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def _dates(config: ApplicantConfig, rng: np.random.Generator) -> pd.DatetimeIndex:
    """Uniform application times over ``[start, start + months)``, sorted."""
    start = config.start_timestamp()
    end = start + pd.DateOffset(months=config.months)
    ns = np.sort(rng.integers(start.value, end.value, config.n_applicants))
    return pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True))


def generate_applicants(config: ApplicantConfig = ApplicantConfig()) -> pd.DataFrame:
    """Generate ``config.n_applicants`` labelled loan applications.

    Rows are in ``application_date`` order with a ``RangeIndex`` and ``applicant_id`` numbered
    in that order; the columns are :data:`OUTPUT_COLUMNS`. String columns use pandas' default
    string dtype, integer columns ``int64`` (``defaulted``: ``int8``), ``application_date`` is
    ``datetime64[ns, UTC]``.
    """
    s = _streams(config.seed)
    n = config.n_applicants

    # Demographics.
    rng = s["demographics"]
    group_b = rng.random(n) < _SHARE_GROUP_B
    age = np.clip(np.rint(18.0 + rng.gamma(2.2, 9.5, n)), 18, 80).astype(np.int64)
    ownership_noise = rng.logistic(0.0, 1.0, n)

    # Employment status by age band, and years in the current job (or the last one).
    rng = s["employment"]
    band = np.where(age < 25, 0, np.where(age < 63, 1, 2))
    status = _draw_rows(rng, _EMPLOYMENT_BY_AGE[band])
    working_years = (age - 18).astype(np.float64)
    tenure = np.minimum(rng.exponential(6.0, n), working_years)
    no_job = (status == 2) | (status == 4)
    tenure[no_job] = 0.0
    retired = status == 3
    tenure[retired] = np.minimum(10.0 + rng.exponential(12.0, int(retired.sum())), 45.0)
    tenure = np.minimum(tenure, working_years)
    tenure = np.round(tenure, 1)

    # Income: concave in age, set by status, mildly lower in group B.
    rng = s["income"]
    years = working_years
    log_income = (
        np.log(_MEDIAN_INCOME)
        + 0.035 * years
        - 0.0006 * years**2
        + _STATUS_LOG_INCOME[status]
        + _GROUP_B_LOG_INCOME_SHIFT * group_b
        + rng.normal(0.0, 1.0, n) * _STATUS_LOG_INCOME_SD[status]
    )
    income = np.round(np.clip(np.exp(log_income), 3_000.0, 1_500_000.0), -2)
    log_income_rel = np.log(income / 50_000.0)

    # Home ownership: an ordered logit on age and income (rent < mortgage < own).
    ownership_score = (
        0.07 * (age - 40.0)
        + 0.9 * log_income_rel
        + _GROUP_B_OWNERSHIP_SHIFT * group_b
        + ownership_noise
    )
    ownership = np.where(ownership_score < -0.3, 0, np.where(ownership_score < 2.0, 1, 2))

    # Bureau data, tied together by the latent fragility z.
    rng = s["bureau"]
    z = rng.normal(0.0, 1.0, n)
    dti = np.clip(
        np.exp(np.log(0.26) + 0.35 * z + 0.35 * rng.normal(0.0, 1.0, n)),
        0.0,
        1.5,
    )
    utilization = np.clip(1.25 * _sigmoid(-0.7 + 0.9 * z + 0.9 * rng.normal(0.0, 1.0, n)), 0, 1.2)
    delinquencies = rng.poisson(0.18 * np.exp(0.8 * z)).astype(np.int64)
    inquiries = rng.poisson(0.9 * np.exp(0.45 * z)).astype(np.int64)
    history = np.round(working_years * rng.beta(3.0, 1.6, n), 1)
    delinquencies[history < 0.5] = 0  # too new to the bureau to have missed a payment
    open_accounts = rng.poisson(1.0 + 0.25 * np.minimum(history, 30.0) + 0.5 * (z > 1.0))
    open_accounts = open_accounts.astype(np.int64)
    # Last delinquency: within 2 years if any there, else maybe older, else never (NaN).
    older_only = (delinquencies == 0) & (rng.random(n) < 0.12 * np.exp(0.5 * z)) & (history >= 2.5)
    since = np.full(n, np.nan)
    recent = delinquencies > 0
    window = np.minimum(24.0, history[recent] * 12.0)  # within 2 years and the credit history
    since[recent] = np.floor(rng.random(int(recent.sum())) * window)
    upper = np.minimum(history * 12.0, 120.0)
    since_older = 24.0 + rng.random(n) * (upper - 24.0)
    since[older_only] = np.floor(since_older[older_only])

    # The loan: amount by purpose and income, long terms for big loans.
    rng = s["loan"]
    purpose = rng.choice(len(PURPOSES), size=n, p=_PURPOSE_SHARE / _PURPOSE_SHARE.sum())
    amount = (
        _PURPOSE_AMOUNT[purpose] * np.exp(0.3 * log_income_rel) * np.exp(rng.normal(0.0, 0.45, n))
    )
    amount = np.round(np.clip(amount, 1_000.0, 40_000.0) / 25.0) * 25.0  # to 25 units
    p_long = _sigmoid(1.5 * np.log(amount / 15_000.0) - 0.5)
    term = np.where(rng.random(n) < p_long, 60, 36).astype(np.int64)

    # The default score: see the module docstring.
    loan_to_income = amount / income
    recency = np.where(np.isnan(since), 0.0, np.exp(-np.nan_to_num(since) / 12.0))
    score = (
        _INTERCEPT
        + 1.6 * dti
        + 1.5 * utilization
        + 0.6 * (utilization > 0.9)
        + 0.45 * np.minimum(delinquencies, 4)
        + 0.7 * recency
        + 0.3 * older_only
        + 0.14 * np.minimum(inquiries, 6)
        + 2.0 * np.minimum(loan_to_income, 1.5)
        + 0.5 * (term == 60)
        - 0.45 * log_income_rel
        - 0.04 * np.minimum(tenure, 15.0)
        - 0.03 * np.minimum(history, 25.0)
        - 0.008 * (age - 40.0)
        + _OWNERSHIP_EFFECT[ownership]
        + _PURPOSE_EFFECT[purpose]
        + 0.35 * (open_accounts <= 1)
        + 0.04 * np.maximum(open_accounts - 12, 0)
        + _HIDDEN_WEIGHT * z
    )
    defaulted = (s["label"].random(n) < _sigmoid(score)).astype(np.int8)

    # Missing values, drawn after the label (which uses the true values).
    rng = s["missing"]
    p_unreported = np.where(status == 1, _INCOME_UNREPORTED_SELF_EMPLOYED, _INCOME_UNREPORTED)
    reported_income = np.where(rng.random(n) < p_unreported, np.nan, income)
    tenure_out = np.where(rng.random(n) < _EMPLOYMENT_LENGTH_UNREPORTED, np.nan, tenure)
    tenure_out[no_job & (rng.random(n) < _EMPLOYMENT_LENGTH_NO_JOB)] = np.nan

    dates = _dates(config, s["dates"])
    frame = pd.DataFrame(
        {
            "applicant_id": _ids("app_", n, max(7, len(str(n)))),
            "application_date": dates,
            "age": age,
            "annual_income": reported_income,
            "employment_status": np.asarray(EMPLOYMENT_STATUSES)[status],
            "employment_length_years": tenure_out,
            "debt_to_income": np.round(dti, 4),
            "revolving_utilization": np.round(utilization, 4),
            "delinquencies_2y": delinquencies,
            "months_since_last_delinquency": since,
            "credit_history_years": history,
            "open_accounts": open_accounts,
            "recent_inquiries_6m": inquiries,
            "loan_amount": amount.astype(np.float64),
            "term_months": term,
            "purpose": np.asarray(PURPOSES)[purpose],
            "home_ownership": np.asarray(HOME_OWNERSHIP)[ownership],
            PROTECTED: np.where(group_b, "B", "A"),
            TARGET: defaulted,
        }
    )
    return frame
