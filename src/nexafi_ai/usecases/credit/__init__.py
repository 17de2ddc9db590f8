"""Credit scoring: probability of default, points score, risk band, decision and reasons.

Built-in data comes from the seeded applicant generator (``generator.py``); lenders train on
their own CSV or Parquet exports (``data.py``). Two candidate models are fitted and registered
(``train.py``): a WoE scorecard exported as a JSON points table and LightGBM with monotone
constraints; the better on validation becomes the champion. ``model.py`` answers the real-time
route ``POST /v1/credit/score`` and the batch path with the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from nexafi_ai.usecases.base import FitResult, LogFields, Model, UseCase
from nexafi_ai.usecases.credit.data import NON_FEATURES, conform, standardise_applicants
from nexafi_ai.usecases.credit.model import NAMED_FIELDS, CreditModel
from nexafi_ai.usecases.credit.schemas import ApplicantIn, CreditScoreOut
from nexafi_ai.usecases.fields import request_value

if TYPE_CHECKING:
    from fastapi import APIRouter

    from nexafi_ai.serving.context import ServiceContext

__all__ = ["USE_CASE", "CreditUseCase"]


class CreditUseCase(UseCase):
    name = "credit"
    model_name = "nexafi-credit"
    summary = "Credit scoring: probability of default, score, risk band and reason codes"
    request_model = ApplicantIn
    response_model = CreditScoreOut

    def builtin_data(self, *, size: str = "default", seed: int = 0) -> pd.DataFrame:
        from nexafi_ai.usecases.credit.generator import ApplicantConfig, generate_applicants

        return generate_applicants(ApplicantConfig.preset(size, seed=seed))

    def fit(
        self, data: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        from nexafi_ai.usecases.credit.train import fit_credit

        return fit_credit(data, seed=seed, options=options)

    def load(self, directory: Path) -> CreditModel:
        return CreditModel.load(directory)

    def example_requests(self, data: pd.DataFrame, n: int) -> list[dict[str, Any]]:
        """The last ``n`` applicants as requests: their record, blanks and dates left out."""
        bodies = []
        for i, (_, row) in enumerate(data.tail(n).iterrows()):
            body: dict[str, Any] = {"applicant_id": str(row.get("applicant_id", f"example-{i}"))}
            attributes: dict[str, Any] = {}
            for column, raw in row.items():
                name = str(column)
                value = request_value(raw)
                if name in NON_FEATURES or value is None:
                    continue
                if name in NAMED_FIELDS:
                    body[name] = value
                else:
                    attributes[name] = value
            if attributes:
                body["attributes"] = attributes
            bodies.append(body)
        return bodies

    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        good = {
            "applicant_id": "app-1",
            "age": 35,
            "annual_income": 52_000.0,
            "debt_to_income": 0.3,
        }
        return [
            ({**good, "annual_income": -1.0}, "annual_income"),
            ({**good, "age": 12}, "age"),
            ({**good, "debt_to_income": float("nan")}, "debt_to_income"),
            ({**good, "applicant_id": "4111111111111111"}, "applicant_id"),
            ({**good, "purpose": "card 4111 1111 1111 1111"}, "purpose"),
            ({**good, "protected_group": "B"}, "protected_group"),
            ({**good, "application_date": "2026-01-01T10:00:00"}, "application_date"),
            ({k: v for k, v in good.items() if k != "applicant_id"}, "applicant_id"),
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
        return standardise_applicants(
            frame,
            target=target,
            positive_label=positive_label,
            time_column=time_column,
            mapping=mapping,
        )

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        if not isinstance(model, CreditModel):
            raise TypeError(f"expected a CreditModel, got {type(model).__name__}")
        # A chunk of a file may read a column differently from the training file (a few odd
        # values in few rows): score what the model learned from.
        return model.score_frame(conform(data, model.features))

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        assert isinstance(response, CreditScoreOut)
        return LogFields(
            entity_id=response.applicant_id,
            score=response.probability_of_default,
            decision=response.decision,
        )

    def training_set_from_log(self, logged: pd.DataFrame) -> pd.DataFrame:
        """The applicant table rebuilt from the log; unlabelled applicants are left out."""
        from nexafi_ai.usecases.credit.relearn import credit_training_set

        return credit_training_set(logged, outcomes=self.outcomes(logged["label"]))

    def label_value(self, text: str) -> float:
        """Repayment outcomes in the words lenders' exports use (``default``, ``repaid``, 0/1).

        Read like training targets (``labels.py``), so a word means the same in training and
        in live performance; a loan still running (``current``) has no outcome yet.
        """
        from nexafi_ai.usecases.credit.labels import _BAD, _GOOD, _outcome_text

        word = str(_outcome_text(pd.Series([text])).iloc[0])
        if word in _BAD:
            return 1.0
        if word in _GOOD:
            return 0.0
        raise ValueError(f"cannot read {text!r} as a credit outcome")

    def router(self, service: ServiceContext) -> APIRouter:
        from nexafi_ai.serving.routes.predict import predict_router

        return predict_router(
            self,
            service,
            path="/score",
            description=(
                "Probability of default, points score, risk band and approve/decline against "
                "the model version's cutoff; a decline carries up to four adverse-action "
                "reason codes from the version's catalog. Requires the `score` scope."
            ),
        )


USE_CASE = CreditUseCase()
