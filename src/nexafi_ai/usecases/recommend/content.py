"""Content-based model: which products customers with a given profile take up.

A customer's profile (age, income, goal, risk appetite, spending mix, or any columns of a
user table of your own) is encoded generically: numbers standardised (money-sized ones on a
log scale, a missing value as the mean plus a missing flag), categories one-hot over their
frequent levels. One logistic regression per product, fitted jointly, learns how the profile
relates to uptake (a click, application or holding). Because it needs nothing but the profile,
it also answers for a brand-new customer: the cold-start path.

Everything fitted is numbers and level names, so the encoder saves as JSON and the weights as
arrays; a request is encoded from plain values with the same numpy operations as a table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import minimize  # type: ignore[import-untyped]

from nexafi_ai.usecases.base import NotFittedError

__all__ = ["ContentModel", "ProfileColumn", "ProfileEncoder"]

FloatArray = NDArray[np.float64]

#: A number this large somewhere in a non-negative column is a money amount: log-scale it.
_LOG_SCALE_ABOVE = 1_000.0
#: At most this many one-hot levels per categorical column, each seen this many times.
_MAX_LEVELS = 30
_MIN_LEVEL_COUNT = 5
#: A text column with more distinct values than this share of rows is an id, not a profile.
_ID_LIKE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class ProfileColumn:
    """How one profile column becomes model inputs."""

    name: str
    kind: str  # "numeric" | "categorical"
    log: bool = False
    mean: float = 0.0
    std: float = 1.0
    missing_flag: bool = False
    levels: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        if self.kind == "numeric":
            return 1 + int(self.missing_flag)
        return len(self.levels)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "log": self.log,
            "mean": self.mean,
            "std": self.std,
            "missing_flag": self.missing_flag,
            "levels": list(self.levels),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ProfileColumn:
        return cls(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            log=bool(raw["log"]),
            mean=float(raw["mean"]),
            std=float(raw["std"]),
            missing_flag=bool(raw["missing_flag"]),
            levels=tuple(str(v) for v in raw["levels"]),
        )


def _text(value: Any) -> str | None:
    """A categorical cell as text; None when missing. 3 and 3.0 both read as '3'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(value)
    if pd.isna(value):
        return None
    return str(value)


def _number(value: Any) -> float:
    """A numeric cell as float; NaN when missing or not a number."""
    if value is None or isinstance(value, str):
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return math.nan
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class ProfileEncoder:
    """Turns profile columns into a standardised numeric matrix.

    >>> users = pd.DataFrame({"user_id": ["a", "b", "c"], "age": [20, 40, 60],
    ...                       "goal": ["home", "home", "travel"]})
    >>> enc = ProfileEncoder(min_level_count=1).fit(users)
    >>> enc.feature_names
    ['age', 'goal=home', 'goal=travel']
    >>> enc.encode_one({"age": 40, "goal": "travel"}).tolist()
    [0.0, 0.0, 1.0]
    """

    def __init__(
        self, *, exclude: Sequence[str] = ("user_id",), min_level_count: int = _MIN_LEVEL_COUNT
    ) -> None:
        self.exclude = tuple(exclude)
        self.min_level_count = min_level_count

    def fit(self, users: pd.DataFrame) -> Self:
        columns: list[ProfileColumn] = []
        for raw_name in users.columns:
            name = str(raw_name)
            if name in self.exclude:
                continue
            column = self._fit_column(name, users[raw_name])
            if column is not None and column.width:
                columns.append(column)
        self.columns_ = columns
        return self

    def _fit_column(self, name: str, series: pd.Series) -> ProfileColumn | None:
        if pd.api.types.is_bool_dtype(series):
            series = series.astype("float64")
        if pd.api.types.is_datetime64_any_dtype(series):
            return None  # a date is not a profile trait the model can generalise over
        if pd.api.types.is_numeric_dtype(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            present = values[~np.isnan(values)]
            if len(present) == 0:
                return None
            log = bool(present.min() >= 0 and present.max() >= _LOG_SCALE_ABOVE)
            if log:
                present = np.log1p(present)
            std = float(present.std())
            return ProfileColumn(
                name=name,
                kind="numeric",
                log=log,
                mean=float(present.mean()),
                std=std if std > 1e-12 else 1.0,
                missing_flag=bool(np.isnan(values).any()),
            )
        texts = series.map(_text).dropna()
        if len(texts) == 0 or texts.nunique() > max(_MAX_LEVELS, _ID_LIKE_SHARE * len(texts)):
            return None
        counts = texts.value_counts()
        counts = counts[counts >= self.min_level_count].head(_MAX_LEVELS)
        levels = tuple(sorted(str(v) for v in counts.index))
        return ProfileColumn(name=name, kind="categorical", levels=levels)

    def _check(self) -> None:
        if not hasattr(self, "columns_"):
            raise NotFittedError("the profile encoder is not fitted")

    @property
    def feature_names(self) -> list[str]:
        self._check()
        names: list[str] = []
        for c in self.columns_:
            if c.kind == "numeric":
                names.append(c.name)
                if c.missing_flag:
                    names.append(f"{c.name}:missing")
            else:
                names.extend(f"{c.name}={level}" for level in c.levels)
        return names

    @property
    def names(self) -> list[str]:
        """The profile columns the encoder reads."""
        self._check()
        return [c.name for c in self.columns_]

    def encode_columns(self, values: Mapping[str, Sequence[Any]], n: int) -> FloatArray:
        """Encode ``n`` rows given as columns (a missing column: every row missing)."""
        self._check()
        out = np.zeros((n, len(self.feature_names)), dtype=np.float64)
        at = 0
        for c in self.columns_:
            raw = values.get(c.name)
            if c.kind == "numeric":
                x = (
                    np.full(n, np.nan)
                    if raw is None
                    else np.array([_number(v) for v in raw], dtype=np.float64)
                )
                missing = np.isnan(x)
                if c.log:
                    x = np.log1p(np.clip(x, 0.0, None))
                z = (x - c.mean) / c.std
                out[:, at] = np.where(missing, 0.0, z)
                if c.missing_flag:
                    out[:, at + 1] = missing
            elif raw is not None:
                index = {level: i for i, level in enumerate(c.levels)}
                for row, value in enumerate(raw):
                    hit = index.get(_text(value) or "")
                    if hit is not None:
                        out[row, at + hit] = 1.0
            at += c.width
        return out

    def encode_frame(self, frame: pd.DataFrame) -> FloatArray:
        """Encode every row of a user table (columns it lacks count as missing)."""
        columns = {c.name: frame[c.name].tolist() for c in self.columns_ if c.name in frame}
        return self.encode_columns(columns, len(frame))

    def encode_one(self, values: Mapping[str, Any]) -> FloatArray:
        """Encode one profile given as ``{column: value}``: the per-request path."""
        self._check()
        out: FloatArray = self.encode_columns({k: [v] for k, v in values.items()}, 1)[0]
        return out

    def to_json(self) -> list[dict[str, Any]]:
        self._check()
        return [c.to_json() for c in self.columns_]

    @classmethod
    def from_json(cls, raw: Sequence[Mapping[str, Any]]) -> ProfileEncoder:
        encoder = cls()
        encoder.columns_ = [ProfileColumn.from_json(c) for c in raw]
        return encoder


class ContentModel:
    """One L2-regularised logistic regression per product over the encoded profile.

    ``scores`` are log-odds of uptake; they rank products for a customer by their profile
    alone. Fitted jointly with L-BFGS (the products share nothing but the inputs, so the joint
    optimum is each product's own).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2))
    >>> y = np.stack([x[:, 0] > 0, x[:, 0] < 0], axis=1).astype(float)
    >>> model = ContentModel(l2=0.01).fit(x, y)
    >>> bool(model.scores(np.array([[2.0, 0.0]]))[0, 0] > 0)
    True
    """

    def __init__(self, *, l2: float = 1.0, max_iter: int = 50) -> None:
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, x: FloatArray, y: FloatArray) -> Self:
        """``x``: users x features; ``y``: users x items, 1 where the user took the item up."""
        n, d = x.shape
        m = y.shape[1]
        xb = np.hstack([x, np.ones((n, 1))])
        # Penalise weights, not the intercepts (they carry each product's base rate).
        penalty = np.ones((d + 1, 1))
        penalty[-1] = 0.0
        l2 = self.l2 / max(n, 1)

        def loss(flat: FloatArray) -> tuple[float, FloatArray]:
            w = flat.reshape(d + 1, m)
            z = xb @ w
            # log(1 + e^z) - y z, stable for large |z|.
            value = float((np.logaddexp(0.0, z) - y * z).sum()) / max(n, 1)
            value += 0.5 * l2 * float((penalty * w * w).sum())
            p = 0.5 * (1.0 + np.tanh(0.5 * z))
            grad = xb.T @ (p - y) / max(n, 1) + l2 * penalty * w
            return value, grad.ravel()

        base = np.clip(y.mean(axis=0) if n else np.full(m, 0.5), 1e-4, 1 - 1e-4)
        start = np.zeros((d + 1, m))
        start[-1] = np.log(base / (1 - base))
        result = minimize(
            loss,
            start.ravel(),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter},
        )
        w = np.asarray(result.x, dtype=np.float64).reshape(d + 1, m)
        self.coef_: FloatArray = w[:-1]
        self.intercept_: FloatArray = w[-1]
        return self

    @classmethod
    def from_arrays(cls, coef: FloatArray, intercept: FloatArray) -> ContentModel:
        model = cls()
        model.coef_ = np.asarray(coef, dtype=np.float64)
        model.intercept_ = np.asarray(intercept, dtype=np.float64)
        return model

    def scores(self, x: FloatArray) -> FloatArray:
        """Log-odds of uptake, users x items."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("the content model is not fitted")
        out: FloatArray = x @ self.coef_ + self.intercept_
        return out
