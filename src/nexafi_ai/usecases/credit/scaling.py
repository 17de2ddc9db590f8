"""Points-to-double-odds scaling and the feature specs shared by both credit models.

A lender's score is a linear function of the log-odds of repaying: ``base_points`` at odds of
``base_odds`` to one (good to bad), and every ``pdo`` points more doubles the odds. The
scorecard adds its points up to that score directly; LightGBM's probability of default goes
through the same scale, so a risk band or a cutoff means the same thing whichever model is
the champion.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FeatureKind", "FeatureSpec", "ScoreScaling"]

FeatureKind = Literal["numeric", "categorical"]

#: Probabilities are clipped to this distance from 0 and 1 before taking log-odds.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ScoreScaling:
    """``score = offset + factor * ln(odds_good)`` with ``factor = pdo / ln 2``.

    >>> s = ScoreScaling(base_points=600, base_odds=50, pdo=20)
    >>> round(s.score_one(1 / 51), 6)  # odds 50:1 -> base points
    600.0
    >>> round(s.score_one(1 / 101), 6)  # odds 100:1, double -> +pdo
    620.0
    >>> round(s.pd_one(s.score_one(0.2)), 12)
    0.2
    """

    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (self.pdo > 0 and self.base_odds > 0 and math.isfinite(self.base_points)):
            raise ValueError("scaling needs pdo > 0, base_odds > 0 and finite base_points")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def score_one(self, pd: float) -> float:
        """The score of one probability of default (pure Python: the real-time path)."""
        p = min(max(pd, _EPS), 1.0 - _EPS)
        return self.offset + self.factor * math.log((1.0 - p) / p)

    def pd_one(self, score: float) -> float:
        """The probability of default a score stands for."""
        z = (score - self.offset) / self.factor
        if z >= 0:
            return math.exp(-z) / (1.0 + math.exp(-z))
        return 1.0 / (1.0 + math.exp(z))

    def score(self, pd: ArrayLike) -> NDArray[np.float64]:
        """Vectorised :meth:`score_one`."""
        p = np.clip(np.asarray(pd, dtype=np.float64), _EPS, 1.0 - _EPS)
        out: NDArray[np.float64] = self.offset + self.factor * np.log((1.0 - p) / p)
        return out

    def pd(self, score: ArrayLike) -> NDArray[np.float64]:
        """Vectorised :meth:`pd_one`."""
        z = (np.asarray(score, dtype=np.float64) - self.offset) / self.factor
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(z))
        return out

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreScaling:
        return cls(
            base_points=float(data["base_points"]),
            base_odds=float(data["base_odds"]),
            pdo=float(data["pdo"]),
        )


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One model input: its column name and whether it is numeric or categorical (strings).

    ``monotone`` is +1 when a higher value can only raise the risk, -1 when it can only lower
    it, 0 when unknown or not monotone; only numeric features carry a direction.
    """

    name: str
    kind: FeatureKind = "numeric"
    monotone: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical"):
            raise ValueError(f"{self.name}: kind must be numeric or categorical")
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"{self.name}: monotone must be -1, 0 or 1")
        if self.kind == "categorical" and self.monotone:
            raise ValueError(f"{self.name}: a categorical feature has no monotone direction")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "monotone": self.monotone}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(name=str(data["name"]), kind=data["kind"], monotone=int(data["monotone"]))
