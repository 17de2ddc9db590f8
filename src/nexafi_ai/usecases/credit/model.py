"""The fitted credit model: a scorecard or LightGBM, the lending policy and the reason catalog.

One object answers both paths with the same numbers. Real time: the request's values go
straight into the scorecard's points table or LightGBM's single-row fast path (no pandas, no
numpy per request). Batch: the same computations vectorised over a whole table.

Reasons (up to four, only for a decline) are deterministic and never vague: each names a
feature the model scored, with a code and text from the version's catalog. For a scorecard, a
feature's weight is the points the applicant lost against that feature's best bin; for
LightGBM, its TreeSHAP contribution towards default. Ties go to the feature listed first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel

from nexafi_ai.models import top_reasons
from nexafi_ai.usecases.base import RequestFieldError
from nexafi_ai.usecases.credit.catalog import CATALOG_FILE, ReasonCatalog
from nexafi_ai.usecases.credit.data import parse_number
from nexafi_ai.usecases.credit.gbm import GbmScorer, Value
from nexafi_ai.usecases.credit.policy import CreditPolicy
from nexafi_ai.usecases.credit.scaling import FeatureSpec
from nexafi_ai.usecases.credit.schemas import ApplicantIn, CreditReason, CreditScoreOut
from nexafi_ai.usecases.credit.scorecard import Scorecard

__all__ = ["NAMED_FIELDS", "SCORE_COLUMNS", "CreditModel", "ModelKind"]

ModelKind = Literal["scorecard", "lightgbm"]
SPEC_FILE = "credit_model.json"
SCORECARD_FILE = "scorecard.json"
UNREGISTERED = "unregistered"
#: The built-in applicant fields a request names directly (the rest go in ``attributes``).
NAMED_FIELDS = frozenset(ApplicantIn.model_fields) - {
    "applicant_id",
    "application_date",
    "attributes",
}
#: What batch scoring adds to each input row.
SCORE_COLUMNS = ("probability_of_default", "score", "risk_band", "decision", "reasons")
#: A feature counts as a reason only if it cost more than this (points or log-odds).
_MIN_WEIGHT = 1e-9


class CreditModel:
    """A fitted credit model of either kind, with its policy and reason catalog."""

    def __init__(
        self,
        kind: ModelKind,
        features: Sequence[FeatureSpec],
        policy: CreditPolicy,
        catalog: ReasonCatalog,
        *,
        required: Sequence[str] = (),
        inputs: Sequence[str] = (),
        scorecard: Scorecard | None = None,
        gbm: GbmScorer | None = None,
    ) -> None:
        if (kind == "scorecard") != (scorecard is not None) or (kind == "lightgbm") != (
            gbm is not None
        ):
            raise ValueError(f"a {kind} credit model needs exactly its own fitted scorer")
        self.kind = kind
        self.features = list(features)
        self.names = [f.name for f in self.features]
        self.policy = policy
        self.catalog = catalog.covering(self.names)
        self.required = [n for n in required if n in self.names]
        #: Every column of the training table that could be a feature: a lender may send the
        #: whole record, including columns this version left out (a scorecard drops those
        #: without information value); only names outside this list are refused as typos.
        self.inputs = list(dict.fromkeys([*inputs, *self.names]))
        self.scorecard = scorecard
        self.gbm = gbm
        self._entries = [self.catalog.for_feature(n) for n in self.names]
        self._feature_set = frozenset(self.names)
        self._input_set = frozenset(self.inputs)
        self._categorical = frozenset(f.name for f in self.features if f.kind == "categorical")
        self._required = frozenset(self.required)

    # ------------------------------------------------------------------ real time
    def values_of(self, request: ApplicantIn) -> dict[str, Value]:
        """The model's inputs from a request, checked against what this version needs.

        Raises :class:`RequestFieldError` for an attribute the model does not know (a typo
        must not become a silently missing value), a value of the wrong kind, or a required
        feature left out (one that was never missing in training). A number sent as text
        (``"57.3%"``, ``"36 months"``) is read by the same rules as a batch file.
        """
        attributes = request.attributes
        for key in attributes:
            if key not in self._input_set:
                raise RequestFieldError(f"attributes.{key}", "not a feature of this model")
            if key in NAMED_FIELDS and getattr(request, key) is not None:
                raise RequestFieldError(f"attributes.{key}", f"given twice; use {key} only")
        values: dict[str, Value] = {}
        for name in self.names:
            where = name if name in NAMED_FIELDS else f"attributes.{name}"
            value = getattr(request, name) if name in NAMED_FIELDS else None
            if value is None:
                value = attributes.get(name)
            if value is None:
                if name in self._required:
                    raise RequestFieldError(where, "required by this model")
            elif name in self._categorical:
                value = value if isinstance(value, str) else _category_text(value)
            elif isinstance(value, str):
                number = parse_number(value)
                if number is None:
                    raise RequestFieldError(where, "expected a number")
                value = number
            values[name] = value
        return values

    def score_one(self, request: ApplicantIn, version: str) -> CreditScoreOut:
        """PD, score, band, decision and (declines only) reasons for one applicant."""
        values = self.values_of(request)
        if self.scorecard is not None:
            points = self.scorecard.points_one(values)
            pd_ = self.scorecard.scaling.pd_one(self.scorecard.total(points))
            weights: Sequence[float] | None = None
            decision = self.policy.decide_one(pd_)
            if decision == "decline":
                weights = [b - p for b, p in zip(self.scorecard.best_points, points, strict=True)]
        else:
            assert self.gbm is not None
            row = self.gbm.row(values)
            pd_ = self.gbm.probability_one(row)
            decision = self.policy.decide_one(pd_)
            weights = self.gbm.contributions_one(row) if decision == "decline" else None
        reasons = [] if weights is None else self._reasons(weights, values)
        return CreditScoreOut(
            applicant_id=request.applicant_id,
            probability_of_default=pd_,
            score=self.policy.score_one(pd_),
            risk_band=self.policy.band_one(pd_),
            decision=decision,
            reasons=reasons,
            reason_catalog_version=self.catalog.version,
            model_kind=self.kind,
            model_version=version,
        )

    def _reasons(self, weights: Sequence[float], values: Mapping[str, Value]) -> list[CreditReason]:
        out = []
        top = top_reasons(weights, self.names, self.policy.max_reasons, min_value=_MIN_WEIGHT)
        index = {name: i for i, name in enumerate(self.names)}
        for name, weight in top:
            entry = self._entries[index[name]]
            value = values.get(name)
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            out.append(
                CreditReason(
                    code=entry.code,
                    text=entry.wording(missing),
                    feature=name,
                    value=None if missing else value,
                    contribution=round(weight, 6),
                )
            )
        return out

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        """Score validated requests; the answers carry no registry version."""
        answers: list[BaseModel] = []
        for request in requests:
            if not isinstance(request, ApplicantIn):
                raise TypeError(f"expected ApplicantIn, got {type(request).__name__}")
            answers.append(self.score_one(request, UNREGISTERED))
        return answers

    # ------------------------------------------------------------------ batch
    def probabilities(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """PD for every row of a standard applicant table, vectorised."""
        if self.scorecard is not None:
            return self.scorecard.pd(frame)
        assert self.gbm is not None
        return self.gbm.probability(self.gbm.matrix(frame))

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """:data:`SCORE_COLUMNS` for every row; ``reasons`` joins codes with ``;``."""
        absent = [n for n in self.names if n not in frame]
        if absent:  # a whole column missing is a wrong file, not applicants with blanks
            raise RequestFieldError(absent[0], "column used by this model is missing")
        # Per-feature adverse weights of a row subset: points lost, or TreeSHAP contributions.
        if self.scorecard is not None:
            points = self.scorecard.points(frame)
            pd_ = self.scorecard.scaling.pd(self.scorecard.total(points))
            best = np.asarray(self.scorecard.best_points, dtype=float)

            def weights_of(rows: NDArray[np.int64]) -> NDArray[np.float64]:
                lost: NDArray[np.float64] = best[None, :] - points[rows]
                return lost
        else:
            gbm = self.gbm
            assert gbm is not None
            x = gbm.matrix(frame)
            pd_ = gbm.probability(x)

            def weights_of(rows: NDArray[np.int64]) -> NDArray[np.float64]:
                return gbm.contributions(x[rows])

        decisions = self.policy.decisions_of(pd_)
        declined = np.flatnonzero(decisions == "decline")
        reasons = np.full(len(frame), "", dtype=object)
        if len(declined):
            reasons[declined] = self._reason_codes(weights_of(declined))
        return pd.DataFrame(
            {
                "probability_of_default": pd_,
                "score": self.policy.scores_of(pd_),
                "risk_band": self.policy.bands_of(pd_),
                "decision": decisions,
                "reasons": reasons,
            },
            index=frame.index,
        )

    def _reason_codes(self, weights: NDArray[np.float64]) -> list[str]:
        """Top reason codes per row, vectorised: the same order as :meth:`_reasons`."""
        k = min(self.policy.max_reasons, weights.shape[1])
        order = np.argsort(-weights, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(weights, order, axis=1)
        codes = np.array([e.code for e in self._entries], dtype=object)
        picked = np.where(top > _MIN_WEIGHT, codes[order], "")
        return [";".join(c for c in row if c) for row in picked]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        spec: dict[str, Any] = {
            "format": 1,
            "kind": self.kind,
            "features": [f.to_json() for f in self.features],
            "required": self.required,
            "inputs": self.inputs,
            "policy": self.policy.to_json(),
        }
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        (directory / CATALOG_FILE).write_text(json.dumps(self.catalog.to_json(), indent=2))
        if self.scorecard is not None:
            (directory / SCORECARD_FILE).write_text(json.dumps(self.scorecard.to_json()))
        if self.gbm is not None:
            self.gbm.save(directory)

    @classmethod
    def load(cls, directory: Path) -> CreditModel:
        spec = json.loads((directory / SPEC_FILE).read_text())
        kind = spec["kind"]
        catalog = ReasonCatalog.from_json(json.loads((directory / CATALOG_FILE).read_text()))
        scorecard = gbm = None
        if kind == "scorecard":
            scorecard = Scorecard.from_json(json.loads((directory / SCORECARD_FILE).read_text()))
        elif kind == "lightgbm":
            gbm = GbmScorer.load(directory)
        else:
            raise ValueError(f"unknown credit model kind {kind!r}")
        return cls(
            kind,
            [FeatureSpec.from_json(f) for f in spec["features"]],
            CreditPolicy.from_json(spec["policy"]),
            catalog,
            required=spec["required"],
            inputs=spec.get("inputs", ()),
            scorecard=scorecard,
            gbm=gbm,
        )


def _category_text(value: float | int) -> str:
    """A number sent for a categorical feature, as the text pandas would have read: 3 -> '3'."""
    return str(int(value)) if float(value).is_integer() else str(value)
