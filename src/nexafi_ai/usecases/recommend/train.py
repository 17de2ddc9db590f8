"""Training and honest evaluation of the recommenders side by side on a time-based holdout.

**Split.** The last ``test_share`` (20%) of the log's time span is the test period. What a
customer newly clicked, applied for or took up there (weight >= a click's) and did not already
hold is what a recommender should have shown them; every model ranks only products the
customer was eligible for and did not hold at the cutoff, the same rules as serving. Models see
only the training period. The blend of ALS and content is tuned on a validation slice carved
from the end of the training period the same way, never on the test period. A log without
timestamps falls back to a seeded random holdout of each customer's products (said so in the
metadata).

**Models.** Popularity (the baseline), ALS alone, the content model alone and the hybrid (the
served model) on *warm* customers (history before the cutoff); popularity against the content
model on *cold-start* customers (none before the cutoff, some after: only their profile is
known), which is how a new customer is served.

**Served model.** After evaluation the models are refitted with the same settings on the
whole log (option ``refit``), so the served model knows every customer's latest holdings; the
figures are those of the training-period fit, which never saw the test period.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp  # type: ignore[import-untyped]
from numpy.typing import NDArray

from nexafi_ai.evaluation.ranking import ranking_metrics
from nexafi_ai.usecases.base import FitResult, check_options
from nexafi_ai.usecases.recommend.als import AlsRecommender
from nexafi_ai.usecases.recommend.content import ContentModel, ProfileEncoder
from nexafi_ai.usecases.recommend.data import EVENT_WEIGHTS, RecommendData
from nexafi_ai.usecases.recommend.generator import ItemRules, eligible
from nexafi_ai.usecases.recommend.hybrid import BlendParams, blend, tune_blend
from nexafi_ai.usecases.recommend.model import Catalog, KnownUsers, RecommendModel
from nexafi_ai.usecases.recommend.popularity import Popularity

__all__ = ["DEFAULTS", "KNOWN_OPTIONS", "fit_recommend", "metric_name"]

log = logging.getLogger(__name__)

#: Training options (``--option KEY=VALUE``) and their defaults.
DEFAULTS: dict[str, str] = {
    "factors": "8",
    "iterations": "15",
    "regularization": "10",
    "alpha": "2.0",
    "l2": "1.0",
    "k": "10",
    "test_share": "0.2",
    "refit": "true",
}
KNOWN_OPTIONS = tuple(DEFAULTS)
#: An event counts as "wanted" (relevant in evaluation, uptake for content and popularity)
#: from a click up: a view alone is browsing.
RELEVANT_WEIGHT = EVENT_WEIGHTS["click"]
_MIN_INTERACTIONS = 50
_MAX_TUNE_USERS = 20_000

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """The parsed options."""

    factors: int
    iterations: int
    regularization: float
    alpha: float
    l2: float
    k: int
    test_share: float
    refit: bool

    @classmethod
    def of(cls, options: Mapping[str, str] | None) -> TrainOptions:
        raw = {**DEFAULTS, **check_options(options, KNOWN_OPTIONS)}
        try:
            settings = cls(
                factors=int(raw["factors"]),
                iterations=int(raw["iterations"]),
                regularization=float(raw["regularization"]),
                alpha=float(raw["alpha"]),
                l2=float(raw["l2"]),
                k=int(raw["k"]),
                test_share=float(raw["test_share"]),
                refit=raw["refit"].strip().lower() in {"1", "true", "yes"},
            )
        except ValueError as exc:
            raise ValueError(f"bad recommend option: {exc}") from exc
        if settings.factors < 1 or settings.iterations < 1 or settings.k < 1:
            raise ValueError("factors, iterations and k must be at least 1")
        if not 0.05 <= settings.test_share <= 0.5:
            raise ValueError("test_share must be between 0.05 and 0.5")
        if settings.regularization < 0 or settings.alpha < 0 or settings.l2 < 0:
            raise ValueError("regularization, alpha and l2 must not be negative")
        return settings

    def to_json(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "iterations": self.iterations,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "l2": self.l2,
            "k": self.k,
            "test_share": self.test_share,
            "refit": self.refit,
        }


@dataclass(frozen=True, slots=True)
class Log:
    """The interaction log as integer codes over the known users and the catalog."""

    user_ids: tuple[str, ...]
    items: pd.DataFrame  # the catalog, in item index order
    user: IntArray
    item: IntArray
    weight: FloatArray
    hold: BoolArray
    users: pd.DataFrame  # one row per user index: user_id + profile columns (NaN if unknown)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(self.items["item_id"])


def index_log(data: RecommendData) -> Log:
    """Codes for users (the user table's, then any only in the log) and items (likewise)."""
    inter = data.interactions
    missing = [c for c in ("user_id", "item_id", "weight") if c not in inter]
    if missing:
        raise ValueError(f"the interactions table lacks {', '.join(missing)}")
    user_col = inter["user_id"].astype(str)
    item_col = inter["item_id"].astype(str)
    # A log alone (no user or item table, or one without ids) is enough: ids come from it.
    item_table = data.items if "item_id" in data.items else pd.DataFrame({"item_id": []})
    user_table = data.users if "user_id" in data.users else pd.DataFrame({"user_id": []})
    table_items = item_table.assign(item_id=item_table["item_id"].astype(str))
    extra_items = sorted(set(item_col) - set(table_items["item_id"]))
    items = pd.concat(
        [table_items, pd.DataFrame({"item_id": extra_items})], ignore_index=True
    ).drop_duplicates("item_id")
    table_users = user_table.assign(user_id=user_table["user_id"].astype(str))
    table_users = table_users.drop_duplicates("user_id")
    extra_users = sorted(set(user_col) - set(table_users["user_id"]))
    users = pd.concat(
        [table_users, pd.DataFrame({"user_id": extra_users})], ignore_index=True
    ).reset_index(drop=True)
    user_codes = pd.Index(users["user_id"]).get_indexer(user_col)
    item_codes = pd.Index(items["item_id"]).get_indexer(item_col)
    weight = pd.to_numeric(inter["weight"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(weight).all() or (weight <= 0).any():
        raise ValueError("interaction weights must be positive numbers")
    hold = (
        (inter["event"].astype(str) == "hold").to_numpy()
        if "event" in inter
        else np.zeros(len(inter), dtype=bool)
    )
    return Log(
        user_ids=tuple(users["user_id"]),
        items=items.reset_index(drop=True),
        user=user_codes.astype(np.int64),
        item=item_codes.astype(np.int64),
        weight=weight,
        hold=hold,
        users=users,
    )


# ---------------------------------------------------------------------------- split
@dataclass(frozen=True, slots=True)
class Split:
    """Which interactions fit the models, tune the blend, and test them."""

    fit: BoolArray  # the fitting part of the training period
    valid: BoolArray  # the end of the training period: tunes the blend
    test: BoolArray
    description: dict[str, Any]

    @property
    def train(self) -> BoolArray:
        out: BoolArray = self.fit | self.valid
        return out


def split_log(data: RecommendData, log_: Log, share: float, seed: int) -> Split:
    """Time-based when the log has timestamps, else a seeded random holdout per (user, item)."""
    stamps = data.interactions.get("timestamp")
    times = (
        pd.to_datetime(stamps, utc=True, errors="coerce")
        if stamps is not None
        else pd.Series(pd.NaT, index=data.interactions.index)
    )
    dated = times.notna().to_numpy()
    if dated.sum() >= 2 and times.min() < times.max():
        ns = times.astype("int64").to_numpy()  # NaT rows are masked out below
        t0, t1 = int(ns[dated].min()), int(ns[dated].max())
        cut = t0 + int((1 - share) * (t1 - t0))
        valid_cut = t0 + int((1 - share) * (cut - t0))
        test = dated & (ns >= cut)
        valid = dated & (ns >= valid_cut) & ~test
        fit = ~test & ~valid  # undated events count as old: training

        def when(value: int) -> str:
            return str(pd.Timestamp(value, tz="UTC"))

        description: dict[str, Any] = {
            "kind": "time",
            "test_share_of_span": share,
            "fit": {"from": when(t0), "to": when(valid_cut), "interactions": int(fit.sum())},
            "valid": {"from": when(valid_cut), "to": when(cut), "interactions": int(valid.sum())},
            "test": {"from": when(cut), "to": when(t1), "interactions": int(test.sum())},
            "undated_interactions": int((~dated).sum()),
        }
        return Split(fit, valid, test, description)
    # No time: hold out a random share of each customer's products (all events of a pair
    # on one side, so a product's funnel is never split).
    pair = log_.user * log_.n_items + log_.item
    unique, inverse = np.unique(pair, return_inverse=True)
    draw = np.random.default_rng(seed).random(len(unique))[inverse]
    test = draw < share
    valid = (draw >= share) & (draw < share + share * (1 - share))
    fit = ~test & ~valid
    description = {
        "kind": "random_per_user",
        "why": "no timestamps: a time-based holdout was not possible",
        "test_share_of_pairs": share,
        "fit": {"interactions": int(fit.sum())},
        "valid": {"interactions": int(valid.sum())},
        "test": {"interactions": int(test.sum())},
    }
    return Split(fit, valid, test, description)


# ---------------------------------------------------------------------------- fitting
@dataclass(frozen=True, slots=True)
class State:
    """Per-user matrices of a set of interactions (users x items)."""

    weights: sp.csr_matrix  # summed event weights
    uptake: BoolArray  # an event from a click up
    held: BoolArray
    history: FloatArray  # distinct items interacted with

    @classmethod
    def of(cls, log_: Log, mask: BoolArray) -> State:
        shape = (log_.n_users, log_.n_items)
        u, i, w = log_.user[mask], log_.item[mask], log_.weight[mask]
        weights = sp.csr_matrix((w, (u, i)), shape=shape, dtype=np.float64)
        weights.sum_duplicates()
        uptake = np.zeros(shape, dtype=bool)
        strong = w >= RELEVANT_WEIGHT
        uptake[u[strong], i[strong]] = True
        held = np.zeros(shape, dtype=bool)
        h = log_.hold[mask]
        held[u[h], i[h]] = True
        history = np.diff(weights.indptr).astype(np.float64)
        return cls(weights, uptake, held, history)


@dataclass(frozen=True, slots=True)
class Fitted:
    popularity: Popularity
    als: AlsRecommender
    content: ContentModel | None


def fit_models(state: State, x: FloatArray | None, settings: TrainOptions, seed: int) -> Fitted:
    """Popularity, ALS and (with profile features) the content model on one period."""
    active = state.history > 0
    popularity = Popularity().fit(state.uptake[active].astype(np.float64))
    als = AlsRecommender(
        factors=settings.factors,
        iterations=settings.iterations,
        regularization=settings.regularization,
        alpha=settings.alpha,
        seed=seed,
    ).fit(state.weights)
    content = None
    if x is not None:
        content = ContentModel(l2=settings.l2).fit(
            x[active], state.uptake[active].astype(np.float64)
        )
    return Fitted(popularity, als, content)


def model_scores(
    fitted: Fitted, users: IntArray, x: FloatArray | None, history: FloatArray, params: BlendParams
) -> dict[str, FloatArray]:
    """Every model's scores for ``users`` (rows x items)."""
    out = {"popularity": fitted.popularity.scores(len(users)), "als": fitted.als.scores(users)}
    if fitted.content is not None and x is not None:
        out["content"] = fitted.content.scores(x[users])
        out["hybrid"] = blend(out["als"], out["content"], history[users], params)
    else:
        out["hybrid"] = blend(out["als"], None, history[users], params)
    return out


# ---------------------------------------------------------------------------- evaluation
def top_k(scores: FloatArray, allowed: BoolArray, k: int) -> IntArray:
    """Item indices of each row's top ``k`` allowed items (-1 pads short rows)."""
    masked = np.where(allowed, scores, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    ok = np.take_along_axis(allowed, order, axis=1)
    out: IntArray = np.where(ok, order, -1)
    return out


def fast_ndcg(top: IntArray, relevant: BoolArray) -> float:
    """Mean NDCG of ranked lists against boolean relevance (the conventions of
    :func:`nexafi_ai.evaluation.ranking.ranking_metrics`, vectorised for the blend search)."""
    k = top.shape[1]
    hits = np.where(top >= 0, np.take_along_axis(relevant, np.maximum(top, 0), axis=1), False)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    n_rel = np.minimum(relevant.sum(axis=1), k)
    ideal = np.cumsum(discounts)[np.maximum(n_rel, 1) - 1]
    return float(np.mean(hits @ discounts / ideal)) if len(top) else float("nan")


@dataclass(frozen=True, slots=True)
class Target:
    """Who is evaluated on a period and against what."""

    users: IntArray
    allowed: BoolArray  # eligible and not held at the cutoff (rows of ``users``)
    relevant: BoolArray  # wanted in the period, among the allowed


def target(
    log_: Log, before: State, period: BoolArray, eligibility: BoolArray, warm: bool
) -> Target:
    """Users with something newly wanted in ``period``: warm (history before) or cold."""
    wanted = State.of(log_, period).uptake
    allowed = eligibility & ~before.held
    relevant = wanted & allowed
    has_history = before.history > 0
    users = np.flatnonzero(relevant.any(axis=1) & (has_history if warm else ~has_history))
    return Target(users, allowed[users], relevant[users])


def evaluate(scores: FloatArray, t: Target, k: int, item_ids: tuple[str, ...]) -> dict[str, float]:
    """The shared ranking metrics of one model's scores for a target."""
    top = top_k(scores, t.allowed, k)
    names = np.asarray(item_ids, dtype=object)
    recommendations = {
        str(u): [str(names[i]) for i in row if i >= 0] for u, row in zip(t.users, top, strict=True)
    }
    relevant = {
        str(u): {str(names[i]) for i in np.flatnonzero(row)}
        for u, row in zip(t.users, t.relevant, strict=True)
    }
    return ranking_metrics(recommendations, relevant, k, len(item_ids))


def metric_name(key: str) -> str:
    """A metric's name as the registry accepts it.

    >>> metric_name("ndcg@10")
    'ndcg_at_10'
    """
    return key.replace("@", "_at_")


# ---------------------------------------------------------------------------- the pipeline
def _profiles(log_: Log) -> tuple[ProfileEncoder | None, FloatArray | None]:
    encoder = ProfileEncoder().fit(log_.users)
    if not encoder.columns_:
        return None, None
    return encoder, encoder.encode_frame(log_.users)


def _tune(
    log_: Log,
    split: Split,
    eligibility: BoolArray,
    x: FloatArray | None,
    settings: TrainOptions,
    seed: int,
) -> tuple[BlendParams, dict[str, Any]]:
    """The blend that ranks the validation slice best, fitted on the slice before it."""
    if x is None:
        return BlendParams(als_max=1.0, half_n=0.0), {"why": "no profile columns: ALS alone"}
    before = State.of(log_, split.fit)
    t = target(log_, before, split.valid, eligibility, warm=True)
    if len(t.users) < 10:
        return BlendParams(), {"why": f"{len(t.users)} validation users: default blend"}
    if len(t.users) > _MAX_TUNE_USERS:
        keep = np.sort(
            np.random.default_rng(seed).choice(len(t.users), _MAX_TUNE_USERS, replace=False)
        )
        t = Target(t.users[keep], t.allowed[keep], t.relevant[keep])
    fitted = fit_models(before, x, settings, seed)
    assert fitted.content is not None
    als = fitted.als.scores(t.users)
    content = fitted.content.scores(x[t.users])

    def score(blended: FloatArray) -> float:
        return fast_ndcg(top_k(blended, t.allowed, settings.k), t.relevant)

    params, grid = tune_blend(als, content, before.history[t.users], score)
    best = max(grid, key=lambda g: g["score"])
    return params, {
        "metric": f"ndcg@{settings.k}",
        "validation_users": len(t.users),
        "chosen": params.to_json(),
        "validation_ndcg": best["score"],
        "pure_content_ndcg": grid[0]["score"],
        "pure_als_ndcg": next(
            g["score"] for g in grid if g["als_max"] == 1.0 and g["half_n"] == 0.0
        ),
    }


def build_model(
    log_: Log,
    state: State,
    fitted: Fitted,
    encoder: ProfileEncoder | None,
    x: FloatArray | None,
    params: BlendParams,
    info: Mapping[str, Any],
) -> RecommendModel:
    """The servable model of fitted parts and the users' state they were fitted on."""
    weights = state.weights
    held = sp.csr_matrix(state.held)
    users = log_.users

    def column(name: str) -> FloatArray:
        if name not in users:
            return np.full(len(users), np.nan)
        return np.asarray(pd.to_numeric(users[name], errors="coerce"), dtype=np.float64)

    def texts(name: str) -> tuple[str | None, ...]:
        if name not in users:
            return tuple(None for _ in range(len(users)))
        return tuple(None if pd.isna(v) else str(v) for v in users[name])

    known = KnownUsers(
        user_ids=log_.user_ids,
        history_indptr=weights.indptr.astype(np.int64),
        history_items=weights.indices.astype(np.int64),
        history_weights=weights.data.astype(np.float64),
        held_indptr=held.indptr.astype(np.int64),
        held_items=held.indices.astype(np.int64),
        age=column("age"),
        income=column("income"),
        risk_appetite=texts("risk_appetite"),
        goal=texts("goal"),
        x=x if x is not None else np.zeros((len(users), 0)),
    )
    return RecommendModel(
        Catalog.of(log_.items),
        known,
        fitted.popularity,
        als=fitted.als,
        content=fitted.content,
        encoder=encoder if fitted.content is not None else None,
        blend=params,
        info=info,
    )


def fit_recommend(
    data: RecommendData, *, seed: int = 0, options: Mapping[str, str] | None = None
) -> FitResult:
    """Fit, evaluate side by side on the held-out period, and return the served hybrid."""
    start = time.perf_counter()
    settings = TrainOptions.of(options)
    if len(data) < _MIN_INTERACTIONS:
        raise ValueError(
            f"{len(data)} interactions: recommenders need at least {_MIN_INTERACTIONS}"
        )
    log_ = index_log(data)
    split = split_log(data, log_, settings.test_share, seed)
    encoder, x = _profiles(log_)
    eligibility = eligible(log_.users, ItemRules.of(log_.items))

    params, tuning = _tune(log_, split, eligibility, x, settings, seed)

    train = State.of(log_, split.train)
    fitted = fit_models(train, x, settings, seed)
    k = settings.k
    warm = target(log_, train, split.test, eligibility, warm=True)
    if not len(warm.users):
        raise ValueError("no customer with history wanted anything new in the test period")
    scores = model_scores(fitted, warm.users, x, train.history, params)
    models = {name: evaluate(s, warm, k, log_.item_ids) for name, s in scores.items()}
    cold = target(log_, train, split.test, eligibility, warm=False)
    cold_report: dict[str, Any] = {"users": len(cold.users)}
    if len(cold.users):
        cold_scores = {"popularity": fitted.popularity.scores(len(cold.users))}
        if fitted.content is not None and x is not None:
            cold_scores["content"] = fitted.content.scores(x[cold.users])
        cold_report["models"] = {
            name: evaluate(s, cold, k, log_.item_ids) for name, s in cold_scores.items()
        }
    evaluated_seconds = time.perf_counter() - start

    if settings.refit:
        final_state = State.of(log_, np.ones(len(log_.user), dtype=bool))
        final = fit_models(final_state, x, settings, seed)
    else:
        final_state, final = train, fitted
    info = {"settings": settings.to_json(), "seed": seed, "refit": settings.refit}
    model = build_model(log_, final_state, final, encoder, x, params, info)
    fit_seconds = time.perf_counter() - start

    served = "hybrid"
    # Registry metric names cannot hold "@" (MLflow): "ndcg@10" is logged as "ndcg_at_10";
    # the reports keep the metric functions' own names.
    metrics: dict[str, float] = {metric_name(key): v for key, v in models[served].items()}
    metrics.update({f"baseline_{metric_name(key)}": v for key, v in models["popularity"].items()})
    ndcg = f"ndcg@{k}"
    for name in ("als", "content"):
        if name in models:
            metrics[f"{name}_{metric_name(ndcg)}"] = models[name][ndcg]
    cold_models = cold_report.get("models", {})
    if "content" in cold_models:
        metrics[f"cold_start_{metric_name(ndcg)}"] = cold_models["content"][ndcg]
        metrics[f"cold_start_baseline_{metric_name(ndcg)}"] = cold_models["popularity"][ndcg]
    metrics["fit_seconds"] = fit_seconds
    metrics["evaluation_seconds"] = evaluated_seconds
    log.info(
        "recommend: hybrid %s %.4f, popularity %.4f (%d warm users)",
        ndcg,
        models[served][ndcg],
        models["popularity"][ndcg],
        len(warm.users),
    )
    split_report = {
        **split.description,
        "warm_test_users": len(warm.users),
        "cold_start_test_users": len(cold.users),
        "relevant": f"events weighing >= {RELEVANT_WEIGHT} (a click) in the test period, "
        "on products eligible and not held at the cutoff",
    }
    metadata = {
        "served": served,
        "baseline": "popularity",
        "catalog_size": log_.n_items,
        "users": log_.n_users,
        "profile_features": encoder.feature_names if encoder is not None else [],
        "split": split.description,
        "blend": {**params.to_json(), "tuning": tuning},
        "reports": {"models": models, "cold_start": cold_report, "split": split_report},
        "refit": "all interactions, same settings" if settings.refit else "no",
    }
    params_out = {
        "served": served,
        "baseline": "popularity",
        **{key: value for key, value in settings.to_json().items()},
        "als_max": params.als_max,
        "half_n": params.half_n,
    }
    return FitResult(model=model, metrics=metrics, params=params_out, metadata=metadata)
