"""Personalised financial product recommendations: which products to offer which customer, why.

Built-in data comes from the seeded generator (``generator.py``): a catalog of ~30 products, user
profiles and an interaction funnel (view, click, apply, hold). Fintechs train on their own
interaction logs with optional user and item tables (``data.py``). ``train.py`` fits a
popularity baseline, implicit-feedback ALS, a profile-based content model and their hybrid,
and evaluates them side by side on a time-based holdout; ``model.py`` serves the hybrid to
known customers and the content model to new ones, with the business rules applied last.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pandas as pd
from pydantic import BaseModel

from nexafi_ai.monitoring.window import LoggedColumn
from nexafi_ai.usecases.base import FitResult, LogFields, Model, UseCase, check_options
from nexafi_ai.usecases.fields import request_value
from nexafi_ai.usecases.recommend.data import RecommendData
from nexafi_ai.usecases.recommend.model import (
    NAMED_PROFILE_FIELDS,
    SPEND_PREFIX,
    RecommendModel,
    UnknownUserError,
)
from nexafi_ai.usecases.recommend.schemas import (
    RecommendationsOut,
    RecommendRequest,
    RiskAppetite,
)

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexafi_ai.serving.context import ServiceContext

__all__ = ["USE_CASE", "RecommendModel", "RecommendUseCase", "UnknownUserError", "profile_body"]

_RISK_APPETITES = frozenset(get_args(RiskAppetite))
#: The fields of an interaction log a user's column can be mapped to (``--column``).
_LOG_FIELDS = ("user_id", "item_id", "weight", "event")
#: The most recommendations per customer a batch job writes (as ``RecommendRequest.k``).
_MAX_K = 50


def _id_text(values: pd.Series[Any]) -> pd.Series[Any]:
    """Ids as text, as training reads them: integer ids read as floats lose their ``.0``;
    blanks stay missing."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if bool((present == present.round()).all()):
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.astype(object).where(text.notna(), None)


def profile_body(row: Mapping[Any, Any]) -> dict[str, Any] | None:
    """A user table row as a request ``profile``; None without a usable age and income."""
    values = {str(k): request_value(v) for k, v in row.items() if str(k) != "user_id"}
    age, income = values.get("age"), values.get("income")
    if not isinstance(age, int | float) or not isinstance(income, int | float):
        return None
    if not 18 <= age <= 120 or not 0 <= income <= 100_000_000:
        return None
    body: dict[str, Any] = {"age": int(age), "income": float(income)}
    spending: dict[str, float] = {}
    attributes: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or name in ("age", "income"):
            continue
        if name == "risk_appetite":
            if value in _RISK_APPETITES:
                body[name] = value
        elif name == "savings_rate" and isinstance(value, int | float) and 0 <= value <= 1:
            body[name] = float(value)
        elif name == "goal" and isinstance(value, str):
            body[name] = value
        elif name in NAMED_PROFILE_FIELDS:
            continue  # out of the schema's range: left out rather than a refused request
        elif name.startswith(SPEND_PREFIX) and isinstance(value, int | float) and 0 <= value <= 1:
            spending[name.removeprefix(SPEND_PREFIX)] = float(value)
        else:
            attributes[name] = value
    if spending:
        body["spending"] = spending
    if attributes:
        body["attributes"] = attributes
    return body


class RecommendUseCase(UseCase):
    name = "recommend"
    model_name = "nexafi-recommend"
    summary = "Personalised product recommendations: hybrid ALS + profile model, with reasons"
    #: A label is the product the customer took up, graded against the logged list.
    performance_kind = "ranking"
    request_model = RecommendRequest
    response_model = RecommendationsOut
    needs_target = False
    batch_options = ("k",)

    def builtin_data(self, *, size: str = "default", seed: int = 0) -> RecommendData:
        from nexafi_ai.usecases.recommend.generator import (
            RecommendConfig,
            generate_recommend_data,
        )

        return generate_recommend_data(RecommendConfig.preset(size, seed=seed))

    def fit(
        self, data: RecommendData, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        from nexafi_ai.usecases.recommend.train import fit_recommend

        return fit_recommend(data, seed=seed, options=options)

    def load(self, directory: Path) -> RecommendModel:
        return RecommendModel.load(directory)

    def example_requests(self, data: RecommendData, n: int) -> list[dict[str, Any]]:
        """The ``n - 1`` most recently active customers by id, and one new customer's profile.

        The new customer is a user with no interactions when there is one (a real cold
        start), else the first user; their id is left out, so only the profile is sent.
        """
        if n < 1:
            return []
        active = pd.unique(data.interactions["user_id"].astype(str).iloc[::-1])
        known = [{"user_id": str(u), "k": 10} for u in active[: max(n - 1, 1)]]
        profile = None
        if n > 1 and len(data.users):
            users = data.users.assign(user_id=data.users["user_id"].astype(str))
            cold = users[~users["user_id"].isin(set(active))]
            for _, row in pd.concat([cold.head(20), users.head(20)]).iterrows():
                profile = profile_body(row.to_dict())
                if profile is not None:
                    break
        bodies: list[dict[str, Any]] = list(known)
        if profile is not None:
            bodies.append({"profile": profile, "k": 5})
        # Too few distinct customers or no usable profile: repeat the known ones.
        i = 0
        while len(bodies) < n and known:
            bodies.append({**known[i % len(known)], "k": 3 + i % 5})
            i += 1
        return bodies[:n]

    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        good = {"user_id": "U000001", "k": 10}
        return [
            ({**good, "k": 0}, "k"),
            ({**good, "k": 51}, "k"),
            ({"k": 10}, "user_id"),
            ({**good, "user_id": "4111111111111111"}, "user_id"),
            ({**good, "foo": 1}, "foo"),
            ({**good, "exclude": ["P01", "bad id!"]}, "exclude.1"),
            ({"profile": {"age": 12, "income": 1000.0}}, "profile.age"),
            ({"profile": {"age": 30, "income": -1.0}}, "profile.income"),
            ({"profile": {"age": 30, "income": 1.0, "savings_rate": 2.0}}, "profile.savings_rate"),
            ({"profile": {"age": 30, "income": float("nan")}}, "profile.income"),
        ]

    def monitored_columns(self) -> dict[str, LoggedColumn]:
        """How answers are made (cold-start share), what comes first, and how sure the model is.

        A jump in the cold-start share means requests arrive for customers the model has
        never seen (a new market, a broken id mapping); a shift in the top product or its
        score means the catalogue or behaviour moved since training.
        """
        return {
            "strategy": LoggedColumn(("decision",), "categorical"),
            "top_product": LoggedColumn(("outputs", "items", 0, "product_id"), "categorical"),
            "top_score": LoggedColumn(("score",)),
        }

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        assert isinstance(response, RecommendationsOut)
        return LogFields(
            entity_id=response.user_id,
            score=response.items[0].score if response.items else None,
            decision=response.strategy,
        )

    def prepare_data(
        self,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        time_column: str | None = None,
        positive_label: str | None = None,
        mapping: Mapping[str, str] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> RecommendData:
        """A fintech's interaction log and optional ``users`` / ``items`` tables, standardised.

        ``mapping`` names the log's columns for ``user_id``, ``item_id``, ``weight`` and
        ``event`` (found by the names exports use when not given). There is no label: what
        people did is the signal, so a ``target`` is refused rather than ignored.
        """
        from nexafi_ai.usecases.recommend.data import standardise_interactions

        if target is not None or positive_label is not None:
            raise ValueError(
                "recommendations learn from an interaction log, not a label: "
                "leave out --target and --positive-label"
            )
        columns = dict(mapping or {})
        unknown = sorted(set(columns) - set(_LOG_FIELDS))
        if unknown:
            raise ValueError(
                f"--column {unknown[0]}: not a field of an interaction log "
                f"(known: {', '.join(_LOG_FIELDS)})"
            )
        extra = dict(tables or {})
        if set(extra) - {"users", "items"}:
            raise ValueError(f"unknown tables {sorted(set(extra) - {'users', 'items'})}")
        return standardise_interactions(
            frame,
            user_column=columns.get("user_id"),
            item_column=columns.get("item_id"),
            weight_column=columns.get("weight"),
            event_column=columns.get("event"),
            time_column=time_column,
            users=extra.get("users"),
            items=extra.get("items"),
        )

    def prepare_batch(
        self,
        frame: pd.DataFrame,
        *,
        time_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Customers to recommend for: a ``user_id`` column, and profile columns if any.

        ``mapping`` renames the file's columns (``user_id=customer_no``, ``age=AGE``); other
        columns keep their names and those the model knows as profile columns (the user
        table's, e.g. ``income``, ``goal``, ``spend_travel``) describe the customer. Ids are
        read as text the way training read them, and a card number in them fails the file.
        """
        from nexafi_ai.tabular import refuse_pans

        renames = {column: field for field, column in (mapping or {}).items()}
        absent = sorted(set(renames) - {str(c) for c in frame.columns})
        if absent:
            raise ValueError(f"no column {absent[0]!r} in the file (given with --column)")
        out = frame.rename(columns=renames)
        if "user_id" not in out.columns:
            # Without ids, rows of known customers would silently get nothing.
            raise ValueError(
                "no user_id column (name yours with --column user_id=COLUMN); rows of new "
                "customers may leave it blank and give profile columns instead"
            )
        source = next((c for c, f in renames.items() if f == "user_id"), "user_id")
        refuse_pans(out["user_id"], source)
        out["user_id"] = _id_text(out["user_id"])
        return out

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """The top ``k`` (option, default 10) of every customer: one row per customer and rank.

        The ``_row`` column maps each output row to its customer's input row; a customer
        unknown to the model and without a profile gets no rows (the API would answer 404).
        """
        if not isinstance(model, RecommendModel):
            raise TypeError(f"expected a RecommendModel, got {type(model).__name__}")
        raw = check_options(options, self.batch_options).get("k", "10")
        k = int(raw) if raw.strip().isdigit() else 0
        if not 1 <= k <= _MAX_K:
            raise ValueError(f"option k: expected a whole number from 1 to {_MAX_K}, got {raw!r}")
        return model.recommend_frame(data, k=k)

    def router(self, service: ServiceContext) -> APIRouter:
        from nexafi_ai.usecases.recommend.router import recommend_router

        return recommend_router(self, service)


USE_CASE = RecommendUseCase()
