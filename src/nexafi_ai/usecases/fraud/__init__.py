"""Fraud detection: score a card transaction before it is processed, with reasons.

Built-in data comes from the transaction simulator of Le Borgne et al.'s handbook; users train
on their own CSV or Parquet exports. See ``train.py`` for the evaluation protocol, ``policy.py``
for decisions and ``router.py`` for the real-time path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from nexafi_ai.usecases.base import FitResult, LogFields, Model, UseCase, check_options
from nexafi_ai.usecases.fraud.data import OPTIONAL_FIELDS
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.schemas import FraudScoreOut, TransactionIn

if TYPE_CHECKING:
    from fastapi import APIRouter
    from numpy.typing import ArrayLike

    from nexafi_ai.serving.context import ServiceContext

__all__ = ["USE_CASE", "FraudUseCase"]

#: Label values meaning "this transaction was legitimate" (an analyst's or a dispute's verdict).
_NEGATIVE_LABELS = frozenset({"0", "false", "no", "legit", "legitimate", "genuine", "not_fraud"})


class FraudUseCase(UseCase):
    name = "fraud"
    model_name = "nexafi-fraud"
    summary = "Card-transaction fraud: probability, decision and reasons in real time"
    request_model = TransactionIn
    response_model = FraudScoreOut
    #: Batch features are point-in-time windows over the file's own earlier transactions, so
    #: a chunk alone would see a truncated history: the file is scored as one chunk.
    batch_chunkable = False
    #: Chargebacks arrive within weeks: a transaction with none after 45 days was legitimate.
    label_maturity_days = 45.0

    def builtin_data(self, *, size: str = "default", seed: int = 0) -> pd.DataFrame:
        from nexafi_ai.usecases.fraud.simulator import SimulatorConfig, simulate_transactions

        return simulate_transactions(SimulatorConfig.preset(size, seed=seed))

    def fit(
        self, data: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        from nexafi_ai.usecases.fraud.train import fit_fraud

        check_options(options, [])
        return fit_fraud(data, seed=seed)

    def load(self, directory: Path) -> FraudModel:
        return FraudModel.load(directory)

    def example_requests(self, data: pd.DataFrame, n: int) -> list[dict[str, Any]]:
        from nexafi_ai.usecases.fraud.train import feature_table, has_history

        rows = data.tail(n)
        features = None if has_history(data) else feature_table(rows)[0]
        bodies = []
        for i, (_, row) in enumerate(rows.iterrows()):
            body: dict[str, Any] = {
                "transaction_id": str(row.get("transaction_id", f"example-{i}")),
                "card_id": str(row.get("card_id", f"card-example-{i}")),
                "terminal_id": str(row.get("terminal_id", f"terminal-example-{i}")),
                "amount": float(row.get("amount", 0.0)),
                "timestamp": pd.Timestamp(row["timestamp"]).isoformat(),
            }
            for field in OPTIONAL_FIELDS:
                value = row.get(field)
                if isinstance(value, str):
                    body[field] = value
            if features is not None:
                body["features"] = {
                    k: float(v) for k, v in features.iloc[i].items() if not math.isnan(v)
                }
            bodies.append(body)
        return bodies

    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        good = {
            "transaction_id": "tx-1",
            "card_id": "card_000001",
            "terminal_id": "term_000001",
            "amount": 12.5,
            "timestamp": "2025-06-01T12:00:00Z",
        }
        return [
            ({**good, "amount": -1.0}, "amount"),
            ({**good, "amount": float("nan")}, "amount"),
            ({**good, "card_id": "4111111111111111"}, "card_id"),
            ({**good, "merchant_name": "shop 4111-1111-1111-1111"}, "merchant_name"),
            ({**good, "timestamp": "2025-06-01T12:00:00"}, "timestamp"),
            ({**good, "currency": "euro"}, "currency"),
            ({**good, "cvv": "123"}, "cvv"),
            ({k: v for k, v in good.items() if k != "terminal_id"}, "terminal_id"),
        ]

    def prepare_data(
        self,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        time_column: str | None = None,
        positive_label: str | None = None,
        mapping: Mapping[str, str] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        from nexafi_ai.usecases.fraud.data import standardise

        return standardise(
            frame,
            target=target,
            positive_label=positive_label,
            time_column=time_column,
            mapping=mapping,
        )

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        if not isinstance(model, FraudModel):
            raise TypeError(f"expected a FraudModel, got {type(model).__name__}")
        return model.score_frame(data)

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        assert isinstance(response, FraudScoreOut)
        return LogFields(
            entity_id=response.transaction_id,
            score=response.fraud_probability,
            decision=response.decision,
        )

    def label_value(self, text: str) -> float:
        """Fraud outcomes: the words the labels feed and the online windows read as fraud."""
        from nexafi_ai.usecases.fraud.state import POSITIVE_LABELS

        lowered = text.strip().lower()
        if lowered in POSITIVE_LABELS:
            return 1.0
        if lowered in _NEGATIVE_LABELS:
            return 0.0
        raise ValueError(f"cannot read {text!r} as a fraud outcome")

    def training_set_from_log(self, logged: pd.DataFrame) -> pd.DataFrame:
        """The transaction table rebuilt from the log (``relearn.py``: the maturity rule)."""
        from nexafi_ai.usecases.fraud.relearn import fraud_training_set

        return fraud_training_set(logged, maturity_days=self.label_maturity_days)

    def score_logged(self, model: Model, inputs: Sequence[Mapping[str, Any]]) -> ArrayLike | None:
        """Probabilities of logged requests from the features they were served with."""
        from nexafi_ai.usecases.fraud.relearn import logged_scores

        if not isinstance(model, FraudModel):
            raise TypeError(f"expected a FraudModel, got {type(model).__name__}")
        return logged_scores(model, inputs)

    def restore_state(self, service: ServiceContext) -> None:
        from nexafi_ai.usecases.fraud.state import restore_windows

        restore_windows(service)

    def router(self, service: ServiceContext) -> APIRouter:
        from nexafi_ai.usecases.fraud.router import fraud_router

        return fraud_router(self, service)


USE_CASE = FraudUseCase()
