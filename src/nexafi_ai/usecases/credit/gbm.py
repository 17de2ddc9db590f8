"""The gradient-boosted credit model: LightGBM with monotone constraints, TreeSHAP reasons.

Where the direction of a feature's effect is known (more debt, more risk), the model is
constrained to respect it: a lender cannot tell an applicant that a *higher* income counted
against them, and the constraint costs little accuracy on data where the link really is
monotone. Categorical columns are coded to integers with the category list stored beside the
model (JSON); a category never seen in training, like a missing value, follows LightGBM's
missing-value branch. Training is unweighted on purpose: the output is a probability of
default that bands, cutoffs and pricing read as a probability, and reweighting classes would
bias it. Early stopping watches log-loss (calibration), not AUC, on a time-ordered validation
slice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nexafi_ai.models import FastBooster
from nexafi_ai.usecases.credit.scaling import FeatureSpec

__all__ = ["GBM_FILE", "GbmConfig", "GbmScorer", "Value"]

GBM_FILE = "model.txt"
ENCODING_FILE = "gbm_encoding.json"

#: One applicant's value for one feature as it arrives: a number, a category, or missing.
Value = float | int | str | None


@dataclass(frozen=True, slots=True)
class GbmConfig:
    """LightGBM settings for applicant tables of a few thousand to a few million rows."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_rounds: int = 3000
    early_stopping_rounds: int = 100

    def params(self, seed: int, monotone: Sequence[int], categorical: bool) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "monotone_constraints": list(monotone),
            "monotone_constraints_method": "advanced",
            "cat_smooth": 10.0,
            "max_cat_to_onehot": 8,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 2,
            "verbose": -1,
            **({"min_data_per_group": 50} if categorical else {}),
        }


class GbmScorer:
    """A fitted booster plus the coding of its categorical inputs."""

    def __init__(
        self,
        booster: FastBooster,
        features: Sequence[FeatureSpec],
        categories: Mapping[str, Sequence[str]],
    ) -> None:
        self.booster = booster
        self.features = list(features)
        self.names = [f.name for f in self.features]
        self.categories = {k: list(v) for k, v in categories.items()}
        self._codes = _code_tables(self.categories)
        # A second handle for TreeSHAP, so explaining never waits on scoring's lock.
        self._explainer = FastBooster(booster.booster)

    # ------------------------------------------------------------------ inputs
    def row(self, values: Mapping[str, Value]) -> list[float]:
        """One applicant's model input (pure Python: the real-time path)."""
        out = []
        for name in self.names:
            value = values.get(name)
            codes = self._codes.get(name)
            if codes is not None:
                out.append(codes.get(str(value), math.nan) if value is not None else math.nan)
            elif value is None or isinstance(value, str):
                out.append(math.nan)
            else:
                out.append(float(value))
        return out

    def matrix(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The model input of a whole table, vectorised; absent columns are all missing."""
        return _encode(frame, self.names, self._codes)

    # ------------------------------------------------------------------ scoring
    def probability_one(self, row: Sequence[float]) -> float:
        return self.booster.proba_one(row)

    def probability(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.booster.proba(x)

    def contributions_one(self, row: Sequence[float]) -> list[float]:
        """TreeSHAP log-odds contribution per feature (bias dropped)."""
        return self._explainer.contrib_one(row)[:-1]

    def contributions(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.booster.contrib(x)[:, :-1]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        y_train: NDArray[np.int8],
        valid: pd.DataFrame,
        y_valid: NDArray[np.int8],
        features: Sequence[FeatureSpec],
        *,
        seed: int = 0,
        config: GbmConfig = GbmConfig(),
    ) -> GbmScorer:
        """Fit on ``train``; stop when log-loss on the later ``valid`` slice stops improving."""
        categories = {
            f.name: sorted(train[f.name].dropna().astype(str).unique().tolist())
            for f in features
            if f.kind == "categorical"
        }
        names = [f.name for f in features]
        cat_index = [i for i, f in enumerate(features) if f.kind == "categorical"]
        params = config.params(seed, [f.monotone for f in features], bool(cat_index))
        codes = _code_tables(categories)
        dtrain = lgb.Dataset(
            _encode(train, names, codes),
            label=y_train,
            feature_name=names,
            categorical_feature=cat_index or "auto",
            free_raw_data=False,
        )
        dvalid = lgb.Dataset(_encode(valid, names, codes), label=y_valid, reference=dtrain)
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=config.max_rounds,
            valid_sets=[dvalid],
            callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
        # Keep exactly the trees that early stopping chose, in the saved text too.
        text = booster.model_to_string(num_iteration=booster.best_iteration)
        return cls(FastBooster.from_model_string(text), features, categories)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        self.booster.booster.save_model(str(directory / GBM_FILE))
        encoding = {
            "format": 1,
            "features": [f.to_json() for f in self.features],
            "categories": self.categories,
        }
        (directory / ENCODING_FILE).write_text(json.dumps(encoding, indent=2))

    @classmethod
    def load(cls, directory: Path) -> GbmScorer:
        encoding = json.loads((directory / ENCODING_FILE).read_text())
        features = [FeatureSpec.from_json(f) for f in encoding["features"]]
        booster = FastBooster.from_model_file(directory / GBM_FILE)
        if list(booster.feature_names) != [f.name for f in features]:
            raise ValueError(f"{GBM_FILE} and {ENCODING_FILE} disagree on the feature list")
        return cls(booster, features, encoding["categories"])


def _code_tables(categories: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    return {
        name: {c: float(i) for i, c in enumerate(values)} for name, values in categories.items()
    }


def _encode(
    frame: pd.DataFrame, names: Sequence[str], codes: Mapping[str, Mapping[str, float]]
) -> NDArray[np.float64]:
    """Numbers as floats, categories as their codes, anything else (or unseen) as NaN."""
    x = np.full((len(frame), len(names)), np.nan)
    for j, name in enumerate(names):
        if name not in frame:
            continue
        column = frame[name]
        if name in codes:
            lookup = pd.Series(dict(codes[name]), dtype=float)
            x[:, j] = column.astype("string").map(lookup).astype(float).to_numpy(na_value=np.nan)
        else:
            x[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    return x
