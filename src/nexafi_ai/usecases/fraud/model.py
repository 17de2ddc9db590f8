"""The fitted fraud model: LightGBM booster, feature list, decision policy, reason catalog.

One object answers both paths. Real time: a feature row from the online store, one TreeSHAP
call on LightGBM's single-row fast path (contributions plus bias sum to the raw margin, so the
probability and the reasons come from the same numbers). Batch: the same features computed
offline for a whole file, scored and explained vectorised. Saved as LightGBM's text format and
JSON, never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from nexafi_ai.features import InMemoryFeatureStore, OnlineFeatureStore
from nexafi_ai.models import FastBooster, top_reasons
from nexafi_ai.usecases.base import NotFittedError
from nexafi_ai.usecases.fraud.explain import reason_table
from nexafi_ai.usecases.fraud.features import WINDOWS, offline_features, online_features
from nexafi_ai.usecases.fraud.policy import DecisionPolicy
from nexafi_ai.usecases.fraud.schemas import Decision, FraudScoreOut, Reason, TransactionIn

__all__ = ["MODEL_FILE", "SPEC_FILE", "FraudModel", "MissingFeatureError"]

MODEL_FILE = "model.txt"
SPEC_FILE = "fraud_model.json"
UNREGISTERED = "unregistered"


class MissingFeatureError(ValueError):
    """A request lacks a feature the model needs; ``field`` names it for the 422."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: required by this model")
        self.field = field


class FraudModel:
    """A fitted fraud model.

    ``mode`` is ``"windows"`` (card and terminal history, computed from transactions) or
    ``"columns"`` (already engineered numeric features sent in ``features``).
    """

    def __init__(
        self,
        booster: FastBooster,
        feature_names: Sequence[str],
        policy: DecisionPolicy,
        *,
        mode: str = "windows",
        max_reasons: int = 3,
    ) -> None:
        self.booster = booster
        self.feature_names = list(feature_names)
        self.policy = policy
        self.mode = mode
        self.max_reasons = max_reasons
        self._reasons = reason_table(self.feature_names)
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        self._explainer = FastBooster(booster.booster)

    # ------------------------------------------------------------------ real time
    def feature_row(
        self, tx: TransactionIn, store: OnlineFeatureStore | None, *, record: bool = True
    ) -> list[float]:
        """The model's input for one request (windows from ``store``, or sent features)."""
        if self.mode == "windows":
            if store is None:
                raise NotFittedError("a windows-mode fraud model needs an online feature store")
            return online_features(tx, store, record=record)
        sent = tx.features or {}
        row = []
        for name in self.feature_names:
            if name == "amount" and name not in sent:
                row.append(tx.amount)
            elif name in sent:
                row.append(sent[name])
            else:
                raise MissingFeatureError(f"features.{name}")
        return row

    def score_row(self, tx: TransactionIn, row: Sequence[float], version: str) -> FraudScoreOut:
        """Probability, risk score, decision and, unless approved, the reasons."""
        proba, decision = self.assess(tx, row)
        reasons = [] if decision == "approve" else self.reasons(row)
        return self.answer(tx, proba, decision, reasons, version)

    def assess(self, tx: TransactionIn, row: Sequence[float]) -> tuple[float, Decision]:
        """Probability and decision: microseconds (LightGBM's single-row fast path).

        Exact TreeSHAP costs about a millisecond on a production-size model, so reasons are
        computed for the transactions someone acts on (review, decline), by :meth:`reasons`;
        approvals are explained on demand from the logged features.
        """
        proba = self.booster.proba_one(row)
        return proba, self.policy.decide(proba, tx.amount)

    def answer(
        self,
        tx: TransactionIn,
        proba: float,
        decision: Decision,
        reasons: list[Reason],
        version: str,
    ) -> FraudScoreOut:
        return FraudScoreOut(
            transaction_id=tx.transaction_id,
            fraud_probability=proba,
            risk_score=min(100, max(0, round(proba * 100))),
            decision=decision,
            reasons=reasons,
            model_version=version,
        )

    def reasons(self, row: Sequence[float]) -> list[Reason]:
        """The features that pushed this row's fraud score up most (exact TreeSHAP).

        Runs on its own fast-path handle, so a thread may compute it while the event loop
        keeps scoring with :meth:`assess`.
        """
        contrib = self._explainer.contrib_one(row)
        reasons = []
        for name, weight in top_reasons(contrib, self.feature_names, self.max_reasons):
            i = self._index[name]
            code, text = self._reasons[i]
            value = row[i]
            reasons.append(
                Reason(
                    code=code,
                    feature=name,
                    description=text,
                    value=None if value is None or math.isnan(value) else float(value),
                    contribution=weight,
                )
            )
        return reasons

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        """Score requests with no card or terminal history (a fresh, empty window store).

        Deterministic, so it serves as the warm-up golden check; the API scores with the
        service's live online store instead.
        """
        answers: list[BaseModel] = []
        for request in requests:
            if not isinstance(request, TransactionIn):
                raise TypeError(f"expected TransactionIn, got {type(request).__name__}")
            store = InMemoryFeatureStore(WINDOWS) if self.mode == "windows" else None
            row = self.feature_row(request, store, record=False)
            answers.append(self.score_row(request, row, UNREGISTERED))
        return answers

    # ------------------------------------------------------------------ batch
    def feature_frame(self, transactions: pd.DataFrame) -> pd.DataFrame:
        """Features for a whole file: point-in-time windows over the file's own history."""
        if self.mode == "windows":
            return offline_features(transactions)[self.feature_names]
        missing = [c for c in self.feature_names if c not in transactions]
        if missing:
            raise MissingFeatureError(missing[0])
        return transactions[self.feature_names].astype(float)

    def score_frame(self, transactions: pd.DataFrame) -> pd.DataFrame:
        """``fraud_probability``, ``risk_score``, ``decision`` and ``reasons`` per input row."""
        x = self.feature_frame(transactions).to_numpy(dtype=float)
        proba = self.booster.proba(x)
        decisions = self.policy.decide_many(proba, transactions["amount"].to_numpy(dtype=float))
        flagged = np.flatnonzero(decisions != "approve")
        reasons = np.full(len(x), "", dtype=object)
        if len(flagged):
            contrib = self.booster.contrib(x[flagged])
            codes = [r[0] for r in self._reasons]
            for k, i in enumerate(flagged):
                top = top_reasons(contrib[k], self.feature_names, self.max_reasons)
                reasons[i] = ";".join(codes[self._index[name]] for name, _ in top)
        return pd.DataFrame(
            {
                "fraud_probability": proba,
                "risk_score": np.clip(np.rint(proba * 100), 0, 100).astype(int),
                "decision": decisions,
                "reasons": reasons,
            },
            index=transactions.index,
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        self.booster.booster.save_model(str(directory / MODEL_FILE))
        spec: dict[str, Any] = {
            "format": 1,
            "mode": self.mode,
            "feature_names": self.feature_names,
            "max_reasons": self.max_reasons,
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        self.policy.save(directory)

    @classmethod
    def load(cls, directory: Path) -> FraudModel:
        spec = json.loads((directory / SPEC_FILE).read_text())
        booster = FastBooster.from_model_file(directory / MODEL_FILE)
        if list(booster.feature_names) != list(spec["feature_names"]):
            raise ValueError("model.txt and fraud_model.json disagree on the feature list")
        return cls(
            booster,
            spec["feature_names"],
            DecisionPolicy.load(directory),
            mode=spec["mode"],
            max_reasons=int(spec.get("max_reasons", 3)),
        )
