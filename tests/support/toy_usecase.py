"""A tiny test-only use case: logistic regression on two numbers, saved as JSON.

It exercises every seam a real use case plugs into (schemas, fit, save/load, warm-up, the
generic predict route, the registry) while training in milliseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import roc_auc_score

from nexafi_ai.usecases.base import (
    FitResult,
    LogFields,
    Model,
    NotFittedError,
    UseCase,
    check_options,
)


class ToyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=64)
    x1: float
    x2: float


class ToyOut(BaseModel):
    id: str
    score: float
    decision: str


class ToyModel:
    def __init__(self, learning_rate: float = 0.5, epochs: int = 300) -> None:
        self.learning_rate = learning_rate
        self.epochs = epochs

    def fit(self, x: np.ndarray, y: np.ndarray) -> ToyModel:
        w = np.zeros(x.shape[1] + 1)
        xb = np.hstack([x, np.ones((len(x), 1))])
        for _ in range(self.epochs):
            p = 1.0 / (1.0 + np.exp(-(xb @ w)))
            w -= self.learning_rate * xb.T @ (p - y) / len(y)
        self.weights_ = w
        return self

    def proba(self, x: np.ndarray) -> np.ndarray:
        if not hasattr(self, "weights_"):
            raise NotFittedError("ToyModel is not fitted")
        return 1.0 / (1.0 + np.exp(-(x @ self.weights_[:-1] + self.weights_[-1])))

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        rows = [r for r in requests if isinstance(r, ToyIn)]
        x = np.array([[r.x1, r.x2] for r in rows], dtype=float)
        p = self.proba(x)
        return [
            ToyOut(id=r.id, score=float(s), decision="review" if s >= 0.5 else "approve")
            for r, s in zip(rows, p, strict=True)
        ]

    def save(self, directory: Path) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError("ToyModel is not fitted")
        (directory / "weights.json").write_text(json.dumps({"weights": self.weights_.tolist()}))

    @classmethod
    def load(cls, directory: Path) -> ToyModel:
        model = cls()
        model.weights_ = np.array(json.loads((directory / "weights.json").read_text())["weights"])
        return model


class ToyUseCase(UseCase):
    name = "toy"
    model_name = "nexafi-toy"
    summary = "Test-only logistic regression on two numbers"
    request_model = ToyIn
    response_model = ToyOut

    def builtin_data(self, *, size: str = "default", seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        n = 300 if size == "tiny" else 5000
        x = rng.normal(size=(n, 2))
        y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype(int)
        return pd.DataFrame(
            {"id": [f"r{i}" for i in range(n)], "x1": x[:, 0], "x2": x[:, 1], "y": y}
        )

    def fit(
        self, data: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        check_options(options, [])
        cut = int(len(data) * 0.75)
        train, test = data.iloc[:cut], data.iloc[cut:]
        model = ToyModel().fit(train[["x1", "x2"]].to_numpy(), train["y"].to_numpy())
        p = model.proba(test[["x1", "x2"]].to_numpy())
        auc = float(roc_auc_score(test["y"], p))
        acc = float(((p >= 0.5).astype(int) == test["y"].to_numpy()).mean())
        return FitResult(
            model=model,
            metrics={"roc_auc": auc, "accuracy": acc},
            params={"learning_rate": model.learning_rate, "epochs": model.epochs},
            metadata={"features": ["x1", "x2"]},
        )

    def load(self, directory: Path) -> ToyModel:
        return ToyModel.load(directory)

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
        renamed = frame.rename(columns={column: field for field, column in (mapping or {}).items()})
        missing = sorted({"id", "x1", "x2"} - set(renamed.columns))
        if missing:
            raise ValueError(f"missing columns {missing}")
        out = pd.DataFrame(
            {
                "id": renamed["id"].astype(str),
                "x1": renamed["x1"].astype(float),
                "x2": renamed["x2"].astype(float),
            }
        )
        if target is not None:
            out["y"] = (renamed[target].astype(str) == (positive_label or "1")).astype(int)
        return out

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        assert isinstance(model, ToyModel)
        p = model.proba(data[["x1", "x2"]].to_numpy(dtype=float))
        return pd.DataFrame(
            {"score": p, "decision": np.where(p >= 0.5, "review", "approve")}, index=data.index
        )

    def example_requests(self, data: pd.DataFrame, n: int) -> list[dict[str, Any]]:
        rows = data.head(n)
        return [{"id": str(r.id), "x1": float(r.x1), "x2": float(r.x2)} for r in rows.itertuples()]

    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        return [
            ({"id": "a", "x1": "not a number", "x2": 0.0}, "x1"),
            ({"id": "a", "x1": 1.0}, "x2"),
            ({"id": "a", "x1": 1.0, "x2": 0.0, "pan": "4111111111111111"}, "pan"),
            ({"id": "", "x1": 1.0, "x2": 0.0}, "id"),
        ]

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        assert isinstance(response, ToyOut)
        return LogFields(entity_id=response.id, score=response.score, decision=response.decision)


USE_CASE = ToyUseCase()
