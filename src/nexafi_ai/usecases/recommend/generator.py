"""A seeded generator of financial product interactions with known preference mechanisms.

Public recommendation data sets are about films, books and shops: none has a product catalog
with eligibility rules (minimum income, age limits, risk levels), user profiles a bank actually
holds, or a view -> click -> apply -> hold funnel. This generator gives all of them, at any size,
and because the mechanism is written down here a test can check that both kinds of signal a
hybrid recommender uses are really there.

**Catalog.** :data:`CATALOG` is a fixed list of 30 products (current and savings accounts,
cards, funds, pensions, insurance, loans, and "actions" such as setting up an emergency fund),
each with a category, a risk level 1..5, a minimum income, an age range, an annual fee, a target
segment and the goals it serves (``goals``, ";"-joined tags from :data:`GOALS`).

**Users.** Age is 18 + a gamma draw; income is log-normal, rising then flattening with age and
lower for students; the savings rate is a beta draw that rises with income; risk appetite is an
ordered logit on age (younger: bolder), income and savings rate. The stated goal is drawn by age
band (students: education and travel; 25-34: a home; 50+: retirement); spending shares (travel,
groceries, dining, shopping, bills) are Dirichlet around a mean set by the user's segment
(student, young professional, family, affluent, senior: derived from age and income).

**Preferences.** The fit of user ``u`` to product ``i`` is

* content: ``+1.3`` when ``i`` serves ``u``'s goal, ``+0.5`` when ``i`` targets ``u``'s segment,
  a spending match (travel spenders like travel cards and travel insurance, diners the dining
  card: ``6 x`` the share above the population mean), and a risk fit (bold users lean to the
  riskier products they may hold);
* collaborative: ``1.2 x taste_u . loading_i`` with a 4-dimensional taste (investing,
  lifestyle, protection, borrowing). Products load on these by design plus seeded noise; a
  user's taste is ``0.4 x`` a profile-driven part plus a unit-normal *hidden* part, so products
  are co-held in patterns the profile alone does not explain.

**Funnel and time.** The period (``months`` from ``start``) is cut into weekly steps. Each week a
user is active with their own probability (log-normal around 10%, at least 4%); 5% of users are
never active, and with those whose few active weeks never come about 8% have no interaction
(cold-start users, still in ``users``). An active user views one or two eligible,
not-held products drawn by Gumbel-max over ``popularity + fit + progression``, clicks with
``sigmoid(fit)``-driven probability, applies, and holds (approval). Timestamps fall in the week,
in funnel order. A hold adds a *progression* boost to related products for the following weeks
(savings -> investment plans, a mortgage -> home and life insurance, a travel card -> travel
insurance...), so the log also carries sequential signal. Held products are never shown again,
so no event on an item ever follows its hold. Users interact only with products they are
eligible for (:func:`eligible`).

**What a model can learn.** On a time holdout (the last 20% of the period; items already held
at the cutoff and ineligible ones excluded), nDCG@5 on the ``"small"`` preset is about 0.19 for
random eligible products, 0.28 for popularity, 0.34 for an item-item co-occurrence recommender
(collaborative signal only) and 0.35 for goal match with popularity ties (content signal only);
a hybrid should beat both. The tests assert floors under these figures.

Every random step draws from its own child stream of ``np.random.default_rng(seed)``, so the
same config gives identical tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nexafi_ai.usecases.recommend.data import EVENT_WEIGHTS, RecommendData

__all__ = [
    "CATALOG",
    "EVENTS",
    "EVENT_WEIGHTS",
    "GOALS",
    "ITEM_COLUMNS",
    "RISK_APPETITES",
    "RISK_LIMITS",
    "SEGMENTS",
    "SPENDING",
    "USER_COLUMNS",
    "ItemRules",
    "RecommendConfig",
    "catalog",
    "eligible",
    "eligible_items",
    "generate_recommend_data",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

GOALS: Final = ("retirement", "emergency_fund", "home", "travel", "education", "wealth")
RISK_APPETITES: Final = ("low", "medium", "high")
#: The highest product ``risk_level`` each risk appetite allows.
RISK_LIMITS: Final[dict[str, int]] = {"low": 2, "medium": 3, "high": 5}
SEGMENTS: Final = ("student", "young_professional", "family", "affluent", "senior")
#: Spending categories; the users table has one ``spend_<name>`` share column per entry.
SPENDING: Final = ("travel", "groceries", "dining", "shopping", "bills")
EVENTS: Final = tuple(EVENT_WEIGHTS)

USER_COLUMNS: Final = (
    "user_id",
    "age",
    "income",
    "savings_rate",
    "risk_appetite",
    "goal",
    *(f"spend_{s}" for s in SPENDING),
)
ITEM_COLUMNS: Final = (
    "item_id",
    "name",
    "category",
    "risk_level",
    "min_income",
    "min_age",
    "max_age",
    "annual_fee",
    "target_segment",
    "goals",
)

_NAN = math.nan
# name, category, risk level, min income, min age, max age, annual fee, target segment, goals.
# The ids are P01..P30 in this order (the order is the contract: append, never reorder).
CATALOG: Final = (
    ("Everyday Current Account", "savings", 1, 0.0, 18, _NAN, 0.0, "all", "emergency_fund"),
    ("Instant-Access Savings", "savings", 1, 0.0, 18, _NAN, 0.0, "all", "emergency_fund;home"),
    ("2-Year Fixed-Term Deposit", "savings", 1, 10_000.0, 18, _NAN, 0.0, "senior", "home;wealth"),
    ("Student Account", "savings", 1, 0.0, 18, 25.0, 0.0, "student", "education;emergency_fund"),
    ("First-Home Saver", "savings", 1, 12_000.0, 18, 45.0, 0.0, "young_professional", "home"),
    ("Cashback Credit Card", "card", 2, 18_000.0, 18, _NAN, 0.0, "family", ""),
    ("Travel Rewards Card", "card", 2, 25_000.0, 18, _NAN, 49.0, "young_professional", "travel"),
    ("Premium Metal Card", "card", 2, 90_000.0, 21, _NAN, 250.0, "affluent", "travel;wealth"),
    ("Student Credit Card", "card", 2, 0.0, 18, 25.0, 0.0, "student", "education"),
    ("Dining & Lifestyle Card", "card", 2, 30_000.0, 18, _NAN, 25.0, "young_professional", ""),
    ("Prepaid Travel Card", "card", 1, 0.0, 18, _NAN, 0.0, "all", "travel"),
    (
        "Robo-Advisor ETF Plan",
        "investment",
        3,
        15_000.0,
        18,
        _NAN,
        30.0,
        "all",
        "wealth;retirement",
    ),
    ("Global Equity ETF", "investment", 4, 20_000.0, 18, _NAN, 0.0, "young_professional", "wealth"),
    ("Bond Fund", "investment", 2, 20_000.0, 18, _NAN, 15.0, "senior", "retirement;wealth"),
    ("Sustainable Equity Fund", "investment", 4, 25_000.0, 18, _NAN, 20.0, "affluent", "wealth"),
    ("Crypto Basket", "investment", 5, 30_000.0, 21, _NAN, 0.0, "young_professional", "wealth"),
    ("Personal Pension Plan", "investment", 3, 18_000.0, 18, 67.0, 0.0, "all", "retirement"),
    ("Education Savings Plan", "investment", 2, 25_000.0, 25, _NAN, 0.0, "family", "education"),
    ("Term Life Insurance", "insurance", 1, 20_000.0, 21, 65.0, 120.0, "family", "home"),
    ("Annual Travel Insurance", "insurance", 1, 0.0, 18, 80.0, 60.0, "all", "travel"),
    ("Home Insurance", "insurance", 1, 20_000.0, 21, _NAN, 180.0, "family", "home"),
    ("Income Protection", "insurance", 1, 25_000.0, 21, 60.0, 150.0, "family", "emergency_fund"),
    ("Mortgage", "loan", 2, 35_000.0, 21, 70.0, 0.0, "family", "home"),
    ("Car Loan", "loan", 2, 20_000.0, 18, 75.0, 0.0, "family", ""),
    ("Personal Loan", "loan", 3, 15_000.0, 18, _NAN, 0.0, "young_professional", ""),
    ("Study Loan", "loan", 2, 0.0, 18, 30.0, 0.0, "student", "education"),
    ("Set Up an Emergency Fund", "action", 1, 0.0, 18, _NAN, 0.0, "all", "emergency_fund"),
    ("Round-Up Saving", "action", 1, 0.0, 18, _NAN, 0.0, "all", "emergency_fund;travel"),
    ("Budgeting Tool", "action", 1, 0.0, 18, _NAN, 0.0, "all", "emergency_fund;home"),
    ("Retirement Check-Up", "action", 1, 0.0, 40, _NAN, 0.0, "senior", "retirement"),
)

# Per product (CATALOG order): base log-popularity, the spending category it appeals to ("" for
# none), and its loadings on the taste dimensions (investing, lifestyle, protection, borrowing).
_ITEM_TRAITS: Final = (
    (1.4, "bills", (0.0, 0.2, 0.3, 0.2)),
    (1.2, "", (0.4, 0.0, 0.5, -0.3)),
    (0.2, "", (0.5, -0.3, 0.6, -0.4)),
    (0.6, "", (0.0, 0.5, 0.0, 0.3)),
    (0.3, "", (0.4, 0.0, 0.5, -0.2)),
    (0.9, "groceries", (-0.2, 0.3, 0.0, 0.8)),
    (0.5, "travel", (0.0, 1.0, -0.2, 0.4)),
    (-0.3, "travel", (0.4, 1.0, 0.0, 0.3)),
    (0.3, "shopping", (-0.2, 0.5, -0.2, 0.8)),
    (0.2, "dining", (-0.2, 1.0, -0.3, 0.5)),
    (0.4, "travel", (0.0, 0.8, 0.2, -0.2)),
    (0.8, "", (1.0, 0.0, 0.2, -0.3)),
    (0.4, "", (1.1, 0.2, -0.3, 0.0)),
    (0.0, "", (0.7, -0.4, 0.6, -0.3)),
    (-0.1, "", (1.0, 0.3, 0.0, -0.2)),
    (-0.4, "", (0.9, 0.6, -0.8, 0.3)),
    (0.4, "", (0.7, -0.3, 0.7, -0.3)),
    (-0.2, "", (0.5, -0.3, 0.8, -0.2)),
    (-0.1, "", (0.0, -0.4, 1.1, 0.2)),
    (0.3, "travel", (0.0, 0.9, 0.5, -0.2)),
    (0.0, "bills", (0.0, -0.3, 1.0, 0.3)),
    (-0.4, "bills", (0.0, -0.2, 1.0, 0.2)),
    (-0.2, "bills", (0.0, -0.2, 0.5, 1.0)),
    (0.0, "", (-0.2, 0.3, 0.0, 1.0)),
    (0.0, "shopping", (-0.4, 0.4, -0.3, 1.1)),
    (0.0, "", (0.0, 0.2, 0.0, 0.9)),
    (0.5, "", (0.3, -0.3, 0.8, -0.5)),
    (0.6, "shopping", (0.5, 0.3, 0.3, -0.4)),
    (0.7, "bills", (0.2, -0.2, 0.4, -0.3)),
    (-0.1, "", (0.6, -0.4, 0.6, -0.3)),
)

# Holding the first product makes the others likelier later (sequential signal), by name.
_PROGRESSION: Final = (
    ("Instant-Access Savings", ("Robo-Advisor ETF Plan", "Global Equity ETF", "Bond Fund"), 1.0),
    ("2-Year Fixed-Term Deposit", ("Bond Fund", "Personal Pension Plan"), 0.8),
    ("Set Up an Emergency Fund", ("Instant-Access Savings", "Robo-Advisor ETF Plan"), 0.9),
    ("Round-Up Saving", ("Instant-Access Savings", "Robo-Advisor ETF Plan"), 0.8),
    ("Robo-Advisor ETF Plan", ("Global Equity ETF", "Sustainable Equity Fund"), 1.0),
    ("Everyday Current Account", ("Cashback Credit Card", "Budgeting Tool"), 0.6),
    ("Mortgage", ("Home Insurance", "Term Life Insurance"), 1.6),
    ("First-Home Saver", ("Mortgage",), 1.2),
    ("Travel Rewards Card", ("Annual Travel Insurance",), 1.2),
    ("Premium Metal Card", ("Annual Travel Insurance", "Sustainable Equity Fund"), 0.8),
    ("Student Account", ("Student Credit Card", "Study Loan"), 0.7),
    ("Car Loan", ("Income Protection",), 0.6),
)

if len(_ITEM_TRAITS) != len(CATALOG):  # appending a product needs its traits too
    raise RuntimeError("_ITEM_TRAITS must have one entry per CATALOG product")

_PRESETS: Final = {"default": 20_000, "small": 5_000, "tiny": 800}
# Child streams of the root generator, one per independent random step (order is the contract:
# appending is fine, reordering changes every generated table).
_STREAMS: Final = (
    "catalog",
    "demographics",
    "income",
    "goals",
    "spending",
    "taste",
    "activity",
    "sessions",
    "funnel",
    "times",
)

# --- Users ----------------------------------------------------------------------------------
_MEDIAN_INCOME: Final = 40_000.0
_COLD_START_SHARE: Final = 0.05
# Goal probabilities by age band (< 25, 25-34, 35-49, 50-64, 65+), GOALS order.
_GOAL_BY_AGE: Final = np.array(
    [
        [0.02, 0.22, 0.10, 0.28, 0.33, 0.05],
        [0.06, 0.22, 0.34, 0.18, 0.05, 0.15],
        [0.18, 0.18, 0.22, 0.12, 0.14, 0.16],
        [0.45, 0.12, 0.06, 0.12, 0.03, 0.22],
        [0.52, 0.14, 0.02, 0.20, 0.00, 0.12],
    ]
)
# Mean spending shares by segment (SEGMENTS order; columns SPENDING order) and the Dirichlet
# concentration around them (lower: more varied households).
_SPEND_BY_SEGMENT: Final = np.array(
    [
        [0.12, 0.25, 0.25, 0.23, 0.15],
        [0.18, 0.20, 0.22, 0.20, 0.20],
        [0.08, 0.35, 0.10, 0.17, 0.30],
        [0.25, 0.18, 0.20, 0.17, 0.20],
        [0.15, 0.30, 0.10, 0.12, 0.33],
    ]
)
_SPEND_CONCENTRATION: Final = 14.0

# --- Preferences and funnel -----------------------------------------------------------------
_GOAL_WEIGHT: Final = 1.3
_SEGMENT_WEIGHT: Final = 0.5
_SPEND_WEIGHT: Final = 6.0
_RISK_WEIGHT: Final = 0.25
_TASTE_WEIGHT: Final = 1.2
_PROFILE_TASTE: Final = 0.4  # the profile-driven share of a user's taste; the rest is hidden
_LOADING_NOISE: Final = 0.25
_WEEKLY_ACTIVITY: Final = 0.10
_ACTIVITY_SD: Final = 0.6
_MIN_ACTIVITY: Final = 0.04  # an active user shows up at least every few months
_SECOND_VIEW: Final = 0.45  # probability an active week shows a second product
# Funnel: sigmoid(intercept + slope * (fit + progression)) per step.
_CLICK: Final = (-0.8, 0.6)
_APPLY: Final = (-0.9, 0.5)
_APPROVE: Final = (0.5, 0.3)

_NS_PER_MINUTE: Final = 60 * 10**9
_NS_PER_HOUR: Final = 60 * _NS_PER_MINUTE


@dataclass(frozen=True, slots=True)
class RecommendConfig:
    """What to generate: ``n_users`` users and their interactions over ``months`` from ``start``."""

    n_users: int = 20_000
    start: str = "2024-01-01"
    months: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_users < 1:
            raise ValueError("n_users must be >= 1")
        if self.months < 1:
            raise ValueError("months must be >= 1")
        self.start_timestamp()  # fail at construction on an unparsable date

    @classmethod
    def preset(cls, size: str, seed: int = 0) -> RecommendConfig:
        """A named size: ``"default"`` (20k users), ``"small"`` (5k) or ``"tiny"`` (800, tests).

        >>> RecommendConfig.preset("tiny").n_users
        800
        """
        if size not in _PRESETS:
            raise ValueError(f"unknown size {size!r}; known: {sorted(_PRESETS)}")
        return cls(n_users=_PRESETS[size], seed=seed)

    def start_timestamp(self) -> pd.Timestamp:
        """Midnight of ``start`` in UTC; a naive ``start`` is read as UTC."""
        ts = pd.Timestamp(self.start)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# ---------------------------------------------------------------------------- eligibility
@dataclass(frozen=True, slots=True)
class ItemRules:
    """The eligibility columns of an item table as float arrays (NaN: no rule), for serving.

    Build it once per model (:meth:`of`) and pass it to :func:`eligible_items` per request:
    a request then costs a few numpy comparisons over ~30 values, no pandas.
    """

    min_income: FloatArray
    min_age: FloatArray
    max_age: FloatArray
    risk_level: FloatArray

    @classmethod
    def of(cls, items: pd.DataFrame) -> ItemRules:
        """The rules of ``items``; a missing column means no such rule for any item."""
        n = len(items)

        def column(name: str) -> FloatArray:
            if name not in items:
                return np.full(n, np.nan)
            values = pd.to_numeric(items[name], errors="coerce")
            return np.asarray(values, dtype=np.float64)

        return cls(column("min_income"), column("min_age"), column("max_age"), column("risk_level"))


def _risk_limit(appetite: Any) -> float:
    """The highest risk level ``appetite`` allows; NaN (no rule) for a missing or unknown one."""
    if isinstance(appetite, str):
        return float(RISK_LIMITS.get(appetite.strip().lower(), np.nan))
    return np.nan


def _not_below(value: FloatArray | float, floor: FloatArray | float) -> BoolArray:
    """``value >= floor`` where both are known; NaN on either side: rule not applied."""
    with np.errstate(invalid="ignore"):
        out: BoolArray = ~np.less(value, floor)  # NaN compares False: not blocked
    return out


def eligible_items(profile: Mapping[str, Any], items: pd.DataFrame | ItemRules) -> BoolArray:
    """Which items one profile may be offered (bool per item), by the business rules.

    ``income >= min_income``, ``min_age <= age <= max_age`` and ``risk_level`` within
    :data:`RISK_LIMITS` of ``risk_appetite``. A missing profile field (absent, None or NaN)
    or item value means the rule is not applied. Held products are the caller's to exclude.
    Pass an :class:`ItemRules` when serving (no pandas per call).

    >>> rules = ItemRules(
    ...     min_income=np.array([0.0, 30_000.0, np.nan]),
    ...     min_age=np.array([18.0, 18.0, 18.0]),
    ...     max_age=np.array([25.0, np.nan, np.nan]),
    ...     risk_level=np.array([1.0, 2.0, 5.0]),
    ... )
    >>> eligible_items({"age": 30, "income": 20_000, "risk_appetite": "medium"}, rules).tolist()
    [False, False, False]
    >>> eligible_items({"age": 22, "income": None}, rules).tolist()
    [True, True, True]
    """
    rules = items if isinstance(items, ItemRules) else ItemRules.of(items)
    income = _as_float(profile.get("income"))
    age = _as_float(profile.get("age"))
    limit = _risk_limit(profile.get("risk_appetite"))
    ok = np.ones(len(rules.risk_level), dtype=bool)
    if not math.isnan(income):
        ok &= _not_below(income, rules.min_income)
    if not math.isnan(age):
        ok &= _not_below(age, rules.min_age) & _not_below(rules.max_age, age)
    if not math.isnan(limit):
        ok &= _not_below(limit, rules.risk_level)
    return ok


def _as_float(value: Any) -> float:
    if value is None or isinstance(value, str | bool):
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def eligible(users: pd.DataFrame, items: pd.DataFrame | ItemRules) -> BoolArray:
    """The eligibility matrix (users x items, bool) by the rules of :func:`eligible_items`.

    Missing columns or values mean the rule is not applied; held products are not known here.

    >>> users = pd.DataFrame({"age": [20, 40], "income": [10_000.0, 80_000.0],
    ...                       "risk_appetite": ["low", "high"]})
    >>> items = pd.DataFrame({"min_income": [0.0, 50_000.0], "min_age": [18, 21],
    ...                       "max_age": [25.0, np.nan], "risk_level": [1, 4]})
    >>> eligible(users, items).tolist()
    [[True, False], [False, True]]
    """
    rules = items if isinstance(items, ItemRules) else ItemRules.of(items)
    n = len(users)

    def column(name: str) -> FloatArray:
        if name not in users:
            return np.full(n, np.nan)
        return np.asarray(pd.to_numeric(users[name], errors="coerce"), dtype=np.float64)

    income = column("income")[:, None]
    age = column("age")[:, None]
    if "risk_appetite" in users:
        text = users["risk_appetite"].astype("string").str.strip().str.lower()
        limits = np.asarray(text.map(RISK_LIMITS).astype("Float64"), dtype=np.float64)
    else:
        limits = np.full(n, np.nan)
    ok = _not_below(income, rules.min_income[None, :])
    ok &= _not_below(age, rules.min_age[None, :]) & _not_below(rules.max_age[None, :], age)
    ok &= _not_below(limits[:, None], rules.risk_level[None, :])
    return ok


# ---------------------------------------------------------------------------- generation
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


def catalog() -> pd.DataFrame:
    """The built-in item table (:data:`ITEM_COLUMNS`), one row per :data:`CATALOG` entry."""
    columns = list(zip(*CATALOG, strict=True))
    frame = pd.DataFrame(dict(zip(ITEM_COLUMNS[1:], columns, strict=True)))
    frame.insert(0, "item_id", [f"P{i:02d}" for i in range(1, len(CATALOG) + 1)])
    frame = frame.astype(
        {
            "risk_level": np.int64,
            "min_income": np.float64,
            "min_age": np.int64,
            "max_age": np.float64,
            "annual_fee": np.float64,
        }
    )
    return frame


def _segments(age: IntArray, income: FloatArray) -> IntArray:
    """SEGMENTS index from age and income (affluent first, then by life stage)."""
    segment = np.where(
        age < 25, 0, np.where(age < 35, 1, np.where(age < 60, 2, 4))
    )  # student, young professional, family, senior
    segment = np.where((income >= 90_000.0) & (age < 70), 3, segment)
    return segment.astype(np.int64)


def _users(config: RecommendConfig, s: dict[str, np.random.Generator]) -> dict[str, Any]:
    """Profile columns plus the hidden quantities the interactions are drawn from."""
    n = config.n_users
    rng = s["demographics"]
    age = np.clip(np.rint(18.0 + rng.gamma(2.0, 10.0, n)), 18, 90).astype(np.int64)

    rng = s["income"]
    years = (age - 18).astype(np.float64)
    log_income = (
        np.log(_MEDIAN_INCOME)
        + 0.04 * years
        - 0.0008 * years**2
        - 0.6 * (age < 23)
        - 0.3 * (age >= 67)
        + rng.normal(0.0, 0.5, n)
    )
    income = np.round(np.clip(np.exp(log_income), 4_000.0, 2_000_000.0), -2)
    log_income_rel = np.log(income / _MEDIAN_INCOME)
    savings_rate = np.clip(rng.beta(2.0, 10.0, n) + 0.06 * log_income_rel, 0.0, 0.8)
    risk_score = (
        -0.035 * (age - 40.0)
        + 0.7 * log_income_rel
        + 3.0 * (savings_rate - 0.15)
        + rng.logistic(0.0, 0.8, n)
    )
    appetite = np.where(risk_score < -0.55, 0, np.where(risk_score < 1.3, 1, 2)).astype(np.int64)
    segment = _segments(age, income)

    rng = s["goals"]
    band = np.searchsorted(np.array([25, 35, 50, 65]), age, side="right")
    goal = _draw_rows(rng, _GOAL_BY_AGE[band])

    rng = s["spending"]
    gamma = rng.gamma(_SPEND_CONCENTRATION * _SPEND_BY_SEGMENT[segment])
    spend = gamma / gamma.sum(axis=1, keepdims=True)
    spend = np.round(spend, 4)
    spend[:, -1] = np.round(1.0 - spend[:, :-1].sum(axis=1), 4)  # shares sum to 1 as written

    rng = s["taste"]
    profile_taste = np.column_stack(
        [
            0.8 * (appetite - 1.0) + 6.0 * (savings_rate - 0.15),
            5.0 * (spend[:, 0] + spend[:, 2] - 0.38),
            0.9 * (segment == 2) + 0.02 * (age - 45.0),
            -6.0 * (savings_rate - 0.15) + 0.4 * (age < 30),
        ]
    )
    profile_taste = (profile_taste - profile_taste.mean(axis=0)) / (
        profile_taste.std(axis=0) + 1e-9
    )
    taste = _PROFILE_TASTE * profile_taste + rng.normal(0.0, 1.0, (n, 4))

    return {
        "age": age,
        "income": income,
        "savings_rate": np.round(savings_rate, 4),
        "appetite": appetite,
        "segment": segment,
        "goal": goal,
        "spend": spend,
        "taste": taste,
    }


def _fit(users: dict[str, Any], items: pd.DataFrame, rng: np.random.Generator) -> FloatArray:
    """The user x item fit (content + collaborative), as the module docstring says."""
    goal_names = np.asarray(GOALS)[users["goal"]]
    goal_match = np.column_stack(
        [np.isin(goal_names, tags.split(";")) for tags in items["goals"].tolist()]
    )
    segment_names = np.asarray(SEGMENTS)[users["segment"]]
    segment_match = segment_names[:, None] == items["target_segment"].to_numpy(dtype=str)[None, :]

    spend: FloatArray = users["spend"]
    spend_centred = spend - spend.mean(axis=0)
    spend_index = np.array([SPENDING.index(t[1]) if t[1] else -1 for t in _ITEM_TRAITS])
    spend_match = np.where(spend_index >= 0, spend_centred[:, np.maximum(spend_index, 0)], 0.0)

    risk = items["risk_level"].to_numpy(dtype=np.float64)
    risk_fit = (users["appetite"][:, None] - 1.0) * (risk[None, :] - 2.0)

    loadings = np.array([t[2] for t in _ITEM_TRAITS], dtype=np.float64)
    loadings = loadings + rng.normal(0.0, _LOADING_NOISE, loadings.shape)
    collaborative = users["taste"] @ loadings.T

    fit: FloatArray = (
        _GOAL_WEIGHT * goal_match
        + _SEGMENT_WEIGHT * segment_match
        + _SPEND_WEIGHT * spend_match
        + _RISK_WEIGHT * risk_fit
        + _TASTE_WEIGHT * collaborative
    )
    return fit


def _progression(names: list[str]) -> FloatArray:
    """Item x item boost: holding row ``i`` adds ``[i, j]`` to the later appeal of ``j``."""
    index = {name: k for k, name in enumerate(names)}
    boost = np.zeros((len(names), len(names)))
    for held, later, weight in _PROGRESSION:
        for name in later:
            boost[index[held], index[name]] = weight
    return boost


def generate_recommend_data(config: RecommendConfig = RecommendConfig()) -> RecommendData:
    """Generate a catalog, ``config.n_users`` users and their interaction funnel.

    ``interactions`` (``user_id``, ``item_id``, ``event``, ``weight``, ``timestamp`` UTC) is
    sorted by timestamp with a ``RangeIndex``; ``users`` has :data:`USER_COLUMNS` (about 7% of
    them never interact), ``items`` :data:`ITEM_COLUMNS`. See the module docstring for the
    mechanism.
    """
    s = _streams(config.seed)
    n = config.n_users
    items = catalog()
    n_items = len(items)
    u = _users(config, s)
    user_ids = _ids("U", n, max(6, len(str(n))))

    users = pd.DataFrame(
        {
            "user_id": user_ids,
            "age": u["age"],
            "income": u["income"],
            "savings_rate": u["savings_rate"],
            "risk_appetite": np.asarray(RISK_APPETITES)[u["appetite"]],
            "goal": np.asarray(GOALS)[u["goal"]],
            **{f"spend_{name}": u["spend"][:, k] for k, name in enumerate(SPENDING)},
        }
    )

    fit = _fit(u, items, s["catalog"])
    popularity = np.array([t[0] for t in _ITEM_TRAITS])
    allowed = eligible(users, items)
    progression = _progression(items["name"].tolist())

    rng = s["activity"]
    activity = np.clip(
        _WEEKLY_ACTIVITY * np.exp(rng.normal(-0.5 * _ACTIVITY_SD**2, _ACTIVITY_SD, n)),
        _MIN_ACTIVITY,
        0.9,
    )
    activity[rng.random(n) < _COLD_START_SHARE] = 0.0

    start = config.start_timestamp()
    end = start + pd.DateOffset(months=config.months)
    n_steps = max(1, round((end - start) / pd.Timedelta(days=7)))
    step_ns = (end.value - start.value) / n_steps

    held = np.zeros((n, n_items), dtype=bool)
    boost = np.zeros((n, n_items))
    rows: list[tuple[IntArray, IntArray, IntArray, IntArray]] = []  # user, item, event, time
    sessions, funnel, times = s["sessions"], s["funnel"], s["times"]
    for step in range(n_steps):
        active = np.flatnonzero(sessions.random(n) < activity)
        if not len(active):
            continue
        appeal = popularity + fit[active] + boost[active]
        open_ = allowed[active] & ~held[active]
        noisy = np.where(open_, appeal + sessions.gumbel(size=appeal.shape), -np.inf)
        first = noisy.argmax(axis=1)
        noisy[np.arange(len(active)), first] = -np.inf
        second = noisy.argmax(axis=1)
        has_second = np.isfinite(noisy[np.arange(len(active)), second]) & (
            sessions.random(len(active)) < _SECOND_VIEW
        )
        has_first = open_[np.arange(len(active)), first]
        who = np.concatenate([active[has_first], active[has_second]])
        what = np.concatenate([first[has_first], second[has_second]])
        if not len(who):
            continue

        drive = fit[who, what] + boost[who, what]
        clicked = funnel.random(len(who)) < _sigmoid(_CLICK[0] + _CLICK[1] * drive)
        applied = clicked & (funnel.random(len(who)) < _sigmoid(_APPLY[0] + _APPLY[1] * drive))
        holds = applied & (funnel.random(len(who)) < _sigmoid(_APPROVE[0] + _APPROVE[1] * drive))

        # Funnel times inside the week: view in the first 40%, then minutes to days apart.
        m = len(who)
        base = start.value + int(step * step_ns)
        view_t = base + (times.random(m) * 0.4 * step_ns).astype(np.int64)
        click_t = view_t + times.integers(_NS_PER_MINUTE // 6, 15 * _NS_PER_MINUTE, m)
        apply_t = click_t + times.integers(_NS_PER_MINUTE, 30 * _NS_PER_HOUR, m)
        hold_t = apply_t + times.integers(_NS_PER_HOUR, 60 * _NS_PER_HOUR, m)
        for k, (mask, when) in enumerate(
            ((None, view_t), (clicked, click_t), (applied, apply_t), (holds, hold_t))
        ):
            pick = slice(None) if mask is None else mask
            rows.append((who[pick], what[pick], np.full(int(np.size(who[pick])), k), when[pick]))

        held[who[holds], what[holds]] = True
        boost[who[holds]] += progression[what[holds]]

    interactions = _interaction_frame(rows, user_ids, items["item_id"].to_numpy(dtype=str))
    return RecommendData(interactions=interactions, users=users, items=items)


def _interaction_frame(
    rows: list[tuple[IntArray, IntArray, IntArray, IntArray]],
    user_ids: NDArray[np.str_],
    item_ids: NDArray[np.str_],
) -> pd.DataFrame:
    if rows:
        who, what, kind, when = (np.concatenate(parts) for parts in zip(*rows, strict=True))
    else:
        who = what = kind = when = np.zeros(0, dtype=np.int64)
    order = np.lexsort((kind, what, who, when))  # by time; ties in a stable, meaningful order
    events = np.asarray(EVENTS)
    weights = np.asarray([EVENT_WEIGHTS[e] for e in EVENTS], dtype=np.float64)
    return pd.DataFrame(
        {
            "user_id": user_ids[who[order]],
            "item_id": item_ids[what[order]],
            "event": events[kind[order]],
            "weight": weights[kind[order]],
            "timestamp": pd.to_datetime(when[order], unit="ns", utc=True),
        }
    )
