"""The fitted recommender: hybrid for known customers, profile-only for new ones, rules last.

Which model answers depends on what is known about the customer:

* ``hybrid``: a customer with history gets ALS (what customers with similar holdings took up)
  blended with the content model (what customers with a similar profile took up), ALS
  weighing more the longer their history (``hybrid.py``);
* ``cold_start``: a customer with no history (a new ``user_id`` with a ``profile``, or a known
  one who never interacted) gets the content model on their profile alone;
* ``popular``: when the model has no profile columns to learn from, the popularity baseline.

Whatever the strategy, the business rules are applied last to the ranked catalog: a product
the customer is not eligible for (income, age, risk appetite), already holds, or the caller
excluded is never returned. Each item carries a reason, from whichever part of the hybrid
added more to its score:

* ALS: ``CO_HOLDERS`` when the history item that drove the score most is one the customer
  holds (the ALS score decomposes over history items, Hu et al. 2008, section 5),
  ``SIMILAR_USERS`` otherwise (naming the product they looked at, when it is another one);
* the profile: ``GOAL_MATCH`` when the product serves the customer's goal, ``PROFILE_MATCH``
  otherwise; ``POPULAR`` for the baseline.

Everything a request touches is precomputed at load into small numpy arrays (30 products,
tens of factors): a request is a few dot products and comparisons, no pandas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel

from nexafi_ai.usecases.base import RequestFieldError
from nexafi_ai.usecases.fields import request_value
from nexafi_ai.usecases.recommend.als import AlsRecommender
from nexafi_ai.usecases.recommend.content import ContentModel, ProfileEncoder
from nexafi_ai.usecases.recommend.generator import ItemRules, eligible, eligible_items
from nexafi_ai.usecases.recommend.hybrid import BlendParams, als_weight, standardise_rows
from nexafi_ai.usecases.recommend.popularity import Popularity
from nexafi_ai.usecases.recommend.schemas import (
    ReasonCode,
    RecommendationsOut,
    RecommendedItem,
    RecommendRequest,
    Strategy,
    UserProfile,
)

__all__ = ["FRAME_COLUMNS", "Catalog", "KnownUsers", "RecommendModel", "UnknownUserError"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

SPEC_FILE = "recommend_model.json"
ARRAYS_FILE = "recommend_arrays.npz"
UNREGISTERED = "unregistered"
#: What :meth:`RecommendModel.recommend_frame` returns, one row per (input row, rank).
FRAME_COLUMNS = ("_row", "rank", "product_id", "score", "reason_code", "reason", "strategy")
#: Profile fields the eligibility rules read (the contract's column names).
RULE_FIELDS = ("age", "income", "risk_appetite")
#: The named fields of :class:`UserProfile` that map one to one onto user table columns.
NAMED_PROFILE_FIELDS = ("age", "income", "savings_rate", "risk_appetite", "goal")
SPEND_PREFIX = "spend_"


class UnknownUserError(LookupError):
    """A ``user_id`` the model has never seen and no profile to go on: the API answers 404."""

    field = "user_id"

    def __init__(self) -> None:
        # The id is not repeated: it is the caller's, and they have it.
        super().__init__("unknown user_id; send a profile to recommend for a new customer")


@dataclass(frozen=True, slots=True)
class Catalog:
    """The products: ids, display fields, goals served and eligibility rules (as arrays)."""

    item_ids: tuple[str, ...]
    names: tuple[str | None, ...]
    categories: tuple[str | None, ...]
    goals: tuple[frozenset[str], ...]
    rules: ItemRules

    @classmethod
    def of(cls, items: pd.DataFrame) -> Catalog:
        def texts(column: str) -> tuple[str | None, ...]:
            if column not in items:
                return tuple(None for _ in range(len(items)))
            return tuple(None if pd.isna(v) else str(v) for v in items[column])

        goals = tuple(
            frozenset(g.strip() for g in (text or "").split(";") if g.strip())
            for text in texts("goals")
        )
        return cls(
            item_ids=tuple(str(i) for i in items["item_id"]),
            names=texts("name"),
            categories=texts("category"),
            goals=goals,
            rules=ItemRules.of(items),
        )

    def __len__(self) -> int:
        return len(self.item_ids)

    def label(self, item: int) -> str:
        """How a product is named in a reason: its name, else its id."""
        return self.names[item] or self.item_ids[item]


@dataclass(frozen=True, slots=True)
class KnownUsers:
    """Customers seen in training: their history, holdings and stored profile.

    ``history`` and ``held`` are CSR rows (``indptr`` + item indices): summed event weights
    over every event, and the products held. ``profile`` holds the stored rule fields
    (``age``, ``income``, ``risk_appetite``) and ``goal``; ``x`` their encoded profile.
    """

    user_ids: tuple[str, ...]
    history_indptr: IntArray
    history_items: IntArray
    history_weights: FloatArray
    held_indptr: IntArray
    held_items: IntArray
    age: FloatArray
    income: FloatArray
    risk_appetite: tuple[str | None, ...]
    goal: tuple[str | None, ...]
    x: FloatArray

    def history(self, user: int) -> tuple[IntArray, FloatArray]:
        a, b = self.history_indptr[user], self.history_indptr[user + 1]
        return self.history_items[a:b], self.history_weights[a:b]

    def held(self, user: int) -> IntArray:
        return self.held_items[self.held_indptr[user] : self.held_indptr[user + 1]]

    def rule_profile(self, user: int) -> dict[str, Any]:
        return {
            "age": self.age[user],
            "income": self.income[user],
            "risk_appetite": self.risk_appetite[user],
        }


@dataclass(slots=True)
class _Who:
    """One request, resolved: a known user row (or -1) and the profile to use (or None)."""

    user: int
    profile: dict[str, Any] | None
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Ranked:
    strategy: Strategy
    items: list[tuple[int, float, ReasonCode, str]]  # item, score, code, reason


def profile_values(profile: UserProfile) -> dict[str, Any]:
    """A request profile as user table columns: named fields, ``spend_<k>``, attributes."""
    values: dict[str, Any] = {name: getattr(profile, name) for name in NAMED_PROFILE_FIELDS}
    for key, share in profile.spending.items():
        values[key if key.startswith(SPEND_PREFIX) else f"{SPEND_PREFIX}{key}"] = share
    for key, value in profile.attributes.items():
        if key in values:
            raise RequestFieldError(f"profile.attributes.{key}", f"given twice; use {key} only")
        values[key] = value
    return values


class RecommendModel:
    """A fitted recommender: popularity, ALS, content model, blend and the catalog's rules."""

    def __init__(
        self,
        catalog: Catalog,
        users: KnownUsers,
        popularity: Popularity,
        *,
        als: AlsRecommender | None = None,
        content: ContentModel | None = None,
        encoder: ProfileEncoder | None = None,
        blend: BlendParams | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        if (content is None) != (encoder is None):
            raise ValueError("a content model needs its profile encoder, and only then")
        self.catalog = catalog
        self.users = users
        self.popularity = popularity
        self.als = als
        self.content = content
        self.encoder = encoder
        self.blend = blend or BlendParams()
        self.info = dict(info or {})
        # Precomputed at load: everything a request needs that does not depend on it.
        self._user_index = {u: i for i, u in enumerate(users.user_ids)}
        self._item_index = {item: i for i, item in enumerate(catalog.item_ids)}
        self._history_n = np.diff(users.history_indptr).astype(np.float64)
        self._gram = als.gram() if als is not None else None
        self._profile_columns = frozenset(
            [*(encoder.names if encoder else ()), *RULE_FIELDS, "goal"]
        )
        self._eligible = eligible(
            pd.DataFrame(
                {
                    "age": users.age,
                    "income": users.income,
                    "risk_appetite": pd.Series(users.risk_appetite, dtype=object),
                }
            ),
            catalog.rules,
        )
        self._popular_order = np.argsort(-popularity.scores_, kind="stable")

    # ------------------------------------------------------------------ real time
    def _resolve(self, request: RecommendRequest) -> _Who:
        user = -1 if request.user_id is None else self._user_index.get(request.user_id, -1)
        profile = None
        if request.profile is not None:
            profile = profile_values(request.profile)
            for key in profile:
                if key in NAMED_PROFILE_FIELDS or key in self._profile_columns:
                    continue
                where = (
                    f"profile.spending.{key.removeprefix(SPEND_PREFIX)}"
                    if key.startswith(SPEND_PREFIX)
                    else f"profile.attributes.{key}"
                )
                raise RequestFieldError(where, "not a profile column of this model")
        if user < 0 and profile is None:
            raise UnknownUserError()
        return _Who(user=user, profile=profile, exclude=frozenset(request.exclude))

    def recommend(
        self, request: RecommendRequest, version: str = UNREGISTERED
    ) -> RecommendationsOut:
        """Up to ``request.k`` eligible, not-held, not-excluded products, best first.

        Raises :class:`UnknownUserError` for an unknown ``user_id`` without a profile and
        :class:`RequestFieldError` for a profile column the model does not know.
        """
        ranked = self._rank([self._resolve(request)], request.k)[0]
        return RecommendationsOut(
            user_id=request.user_id,
            strategy=ranked.strategy,
            k=request.k,
            items=[
                RecommendedItem(
                    product_id=self.catalog.item_ids[item],
                    name=self.catalog.names[item],
                    category=self.catalog.categories[item],
                    score=score,
                    rank=rank,
                    reason_code=code,
                    reason=reason,
                )
                for rank, (item, score, code, reason) in enumerate(ranked.items, start=1)
            ],
            model_version=version,
        )

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        """Recommend for validated requests; the answers carry no registry version."""
        answers: list[BaseModel] = []
        for request in requests:
            if not isinstance(request, RecommendRequest):
                raise TypeError(f"expected RecommendRequest, got {type(request).__name__}")
            answers.append(self.recommend(request))
        return answers

    # ------------------------------------------------------------------ the shared core
    def _rank(self, whos: Sequence[_Who], k: int) -> list[_Ranked]:
        """Rank the catalog for each resolved request: vectorised scoring, per-row rules."""
        n, m = len(whos), len(self.catalog)
        users = np.array([w.user for w in whos], dtype=np.int64)
        known = users >= 0
        history = np.where(known, self._history_n[np.maximum(users, 0)], 0.0)
        strategies: list[Strategy] = []
        for h in history:
            if h > 0 and self.als is not None:
                strategies.append("hybrid")
            elif self.content is not None:
                strategies.append("cold_start")
            else:
                strategies.append("popular")

        content_logits: FloatArray | None = None
        if self.content is not None and self.encoder is not None:
            x = np.empty((n, len(self.encoder.feature_names)))
            given = [i for i, w in enumerate(whos) if w.profile is not None]
            stored = [i for i, w in enumerate(whos) if w.profile is None]
            if given:
                profiles = [whos[i].profile or {} for i in given]
                columns = {name: [p.get(name) for p in profiles] for name in self.encoder.names}
                x[given] = self.encoder.encode_columns(columns, len(given))
            if stored:
                x[stored] = self.users.x[users[stored]]
            content_logits = self.content.scores(x)

        scores = np.empty((n, m))
        als_part = np.zeros((n, m))
        content_part = np.zeros((n, m))
        hybrid = np.array([s == "hybrid" for s in strategies])
        if hybrid.any():
            assert self.als is not None
            rows = np.flatnonzero(hybrid)
            z_als = standardise_rows(self.als.scores(users[rows]))
            if content_logits is None:
                als_part[rows] = z_als
            else:
                w = als_weight(history[rows], self.blend)[:, None]
                als_part[rows] = w * z_als
                content_part[rows] = (1.0 - w) * standardise_rows(content_logits[rows])
            scores[rows] = als_part[rows] + content_part[rows]
        cold = np.array([s == "cold_start" for s in strategies])
        if cold.any():
            assert content_logits is not None
            scores[cold] = 1.0 / (1.0 + np.exp(-content_logits[cold]))
        popular = np.array([s == "popular" for s in strategies])
        if popular.any():
            scores[popular] = self.popularity.scores_

        out = []
        for row, who in enumerate(whos):
            allowed = self._allowed(who)
            order = np.argsort(-scores[row], kind="stable")
            picked = [int(i) for i in order if allowed[i]][:k]
            strategy = strategies[row]
            reasons = self._reasons(
                strategy, who, picked, als_part[row], content_part[row], self._goal(who)
            )
            out.append(
                _Ranked(
                    strategy,
                    [
                        (i, float(scores[row, i]), code, text)
                        for i, (code, text) in zip(picked, reasons, strict=True)
                    ],
                )
            )
        return out

    def _allowed(self, who: _Who) -> BoolArray:
        """Eligible (by the profile sent, else the stored one), not held, not excluded."""
        if who.profile is not None:
            allowed = eligible_items(who.profile, self.catalog.rules).copy()
        elif who.user >= 0:
            allowed = self._eligible[who.user].copy()
        else:  # pragma: no cover - _resolve refuses this
            raise UnknownUserError()
        if who.user >= 0:
            allowed[self.users.held(who.user)] = False
        for item in who.exclude:
            index = self._item_index.get(item)
            if index is not None:
                allowed[index] = False
        return allowed

    def _goal(self, who: _Who) -> str | None:
        if who.profile is not None:
            goal = who.profile.get("goal")
        else:
            goal = self.users.goal[who.user] if who.user >= 0 else None
        return goal if isinstance(goal, str) and goal else None

    def _reasons(
        self,
        strategy: Strategy,
        who: _Who,
        items: list[int],
        als_part: FloatArray,
        content_part: FloatArray,
        goal: str | None,
    ) -> list[tuple[ReasonCode, str]]:
        if strategy == "popular":
            return [("POPULAR", "Popular with our customers") for _ in items]
        driver: dict[int, int] = {}
        if strategy == "hybrid" and items:
            by_als = [i for i in items if als_part[i] >= content_part[i]]
            if by_als:
                driver = self._drivers(who.user, by_als)
        held = set(self.users.held(who.user).tolist()) if who.user >= 0 else set()
        out: list[tuple[ReasonCode, str]] = []
        for item in items:
            if strategy == "hybrid" and als_part[item] >= content_part[item]:
                top = driver.get(item, -1)
                name = self.catalog.label(item)
                if top in held:
                    text = f"Holders of {self.catalog.label(top)} also hold {name}"
                    out.append(("CO_HOLDERS", text))
                elif top >= 0:
                    text = f"Customers interested in {self.catalog.label(top)} also chose {name}"
                    out.append(("SIMILAR_USERS", text))
                else:
                    out.append(("SIMILAR_USERS", "Chosen by customers with activity like yours"))
            elif goal is not None and goal in self.catalog.goals[item]:
                out.append(("GOAL_MATCH", f"Matches your goal: {goal.replace('_', ' ')}"))
            else:
                out.append(("PROFILE_MATCH", "Popular with customers like you"))
        return out

    def _drivers(self, user: int, items: list[int]) -> dict[int, int]:
        """For each item, the other history item that added most to its ALS score (-1: none).

        The item itself is left out: that a customer looked at a product before is no news to
        them; which product of theirs points to it is.
        """
        assert self.als is not None
        assert self._gram is not None
        history, weights = self.users.history(user)
        if not len(history):
            return {}
        asked = np.asarray(items, dtype=np.int64)
        contributions = self.als.drivers(self._gram, history, weights, asked)
        contributions[asked[:, None] == history[None, :]] = -np.inf
        best = contributions.argmax(axis=1)
        return {
            item: int(history[j]) if contributions[row, j] > 0 else -1
            for row, (item, j) in enumerate(zip(items, best, strict=True))
        }

    # ------------------------------------------------------------------ batch
    def recommend_frame(self, users: pd.DataFrame, k: int) -> pd.DataFrame:
        """Top ``k`` for every input row: :data:`FRAME_COLUMNS`, one row per (input, rank).

        Input rows carry ``user_id`` and/or profile columns (the user table's names:
        ``age``, ``income``, ``goal``, ``spend_travel``...). A row with any profile value is
        scored on that profile (as a request's ``profile``); other columns are ignored. A row
        with an unknown user and no profile gets no output rows (a request would be a 404).
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        present = [c for c in users.columns if str(c) in self._profile_columns]
        ids = users["user_id"].tolist() if "user_id" in users else [None] * len(users)
        profile_rows = (
            users[present].astype(object).where(users[present].notna(), None).to_dict("records")
            if present
            else [{} for _ in range(len(users))]
        )
        whos: list[_Who] = []
        positions: list[int] = []
        for position, (user_id, raw) in enumerate(zip(ids, profile_rows, strict=True)):
            values = {str(key): request_value(value) for key, value in raw.items()}
            has_profile = any(v is not None for v in values.values())
            user = self._user_index.get(str(user_id), -1) if _present(user_id) else -1
            if user < 0 and not has_profile:
                continue
            whos.append(_Who(user=user, profile=values if has_profile else None))
            positions.append(position)
        ranked = self._rank(whos, k) if whos else []
        records: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
        for position, result in zip(positions, ranked, strict=True):
            for rank, (item, score, code, reason) in enumerate(result.items, start=1):
                records["_row"].append(position)
                records["rank"].append(rank)
                records["product_id"].append(self.catalog.item_ids[item])
                records["score"].append(score)
                records["reason_code"].append(code)
                records["reason"].append(reason)
                records["strategy"].append(result.strategy)
        frame = pd.DataFrame(records)
        return frame.astype({"_row": "int64", "rank": "int64", "score": "float64"})

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """``recommend_model.json`` (catalog, encoder, blend) + ``recommend_arrays.npz``."""
        c, u = self.catalog, self.users
        spec: dict[str, Any] = {
            "format": 1,
            "items": {
                "item_ids": list(c.item_ids),
                "names": list(c.names),
                "categories": list(c.categories),
                "goals": [sorted(g) for g in c.goals],
            },
            "users": {
                "user_ids": list(u.user_ids),
                "risk_appetite": list(u.risk_appetite),
                "goal": list(u.goal),
            },
            "als": None
            if self.als is None
            else {"alpha": self.als.alpha, "regularization": self.als.regularization},
            "encoder": None if self.encoder is None else self.encoder.to_json(),
            "blend": self.blend.to_json(),
            "info": self.info,
        }
        arrays: dict[str, Any] = {
            "rules_min_income": c.rules.min_income,
            "rules_min_age": c.rules.min_age,
            "rules_max_age": c.rules.max_age,
            "rules_risk_level": c.rules.risk_level,
            "history_indptr": u.history_indptr,
            "history_items": u.history_items,
            "history_weights": u.history_weights,
            "held_indptr": u.held_indptr,
            "held_items": u.held_items,
            "age": u.age,
            "income": u.income,
            "x": u.x,
            "popularity": self.popularity.scores_,
        }
        if self.als is not None:
            arrays["user_factors"] = self.als.user_factors_
            arrays["item_factors"] = self.als.item_factors_
        if self.content is not None:
            arrays["content_coef"] = self.content.coef_
            arrays["content_intercept"] = self.content.intercept_
        (directory / SPEC_FILE).write_text(json.dumps(spec))
        with (directory / ARRAYS_FILE).open("wb") as f:
            np.savez(f, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, directory: Path) -> RecommendModel:
        spec = json.loads((directory / SPEC_FILE).read_text())
        if spec.get("format") != 1:
            raise ValueError(f"unknown recommend model format {spec.get('format')!r}")
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as npz:
            a = {name: npz[name] for name in npz.files}
        items, users = spec["items"], spec["users"]
        catalog = Catalog(
            item_ids=tuple(items["item_ids"]),
            names=tuple(items["names"]),
            categories=tuple(items["categories"]),
            goals=tuple(frozenset(g) for g in items["goals"]),
            rules=ItemRules(
                a["rules_min_income"], a["rules_min_age"], a["rules_max_age"], a["rules_risk_level"]
            ),
        )
        known = KnownUsers(
            user_ids=tuple(users["user_ids"]),
            history_indptr=a["history_indptr"],
            history_items=a["history_items"],
            history_weights=a["history_weights"],
            held_indptr=a["held_indptr"],
            held_items=a["held_items"],
            age=a["age"],
            income=a["income"],
            risk_appetite=tuple(users["risk_appetite"]),
            goal=tuple(users["goal"]),
            x=a["x"],
        )
        als = None
        if spec["als"] is not None:
            als = AlsRecommender.from_arrays(
                a["user_factors"],
                a["item_factors"],
                alpha=float(spec["als"]["alpha"]),
                reg=float(spec["als"]["regularization"]),
            )
        content = encoder = None
        if spec["encoder"] is not None:
            encoder = ProfileEncoder.from_json(spec["encoder"])
            content = ContentModel.from_arrays(a["content_coef"], a["content_intercept"])
        return cls(
            catalog,
            known,
            Popularity.from_array(a["popularity"]),
            als=als,
            content=content,
            encoder=encoder,
            blend=BlendParams.from_json(spec["blend"]),
            info=spec["info"],
        )


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) != ""
