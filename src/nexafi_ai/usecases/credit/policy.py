"""The lending policy a model version carries: score scaling, risk bands and the cutoff.

It is saved with the version (not read from the environment at scoring time) so that any
past decision can be reproduced exactly from the version that made it. Change it by training
with other options (``--option cutoff_pd=0.25``, ``--option bands=A:0.03,B:0.08,...``); the
registry and the audit log then show when the policy changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nexafi_ai.usecases.credit.scaling import ScoreScaling
from nexafi_ai.usecases.credit.schemas import CreditDecision

__all__ = ["DEFAULT_BANDS", "MAX_REASONS", "CreditPolicy"]

#: Risk bands by probability of default: a band applies below its upper bound; the last band
#: takes everything above the previous bound.
DEFAULT_BANDS: tuple[tuple[str, float], ...] = (
    ("A", 0.05),
    ("B", 0.10),
    ("C", 0.20),
    ("D", 0.35),
    ("E", 1.0),
)
#: Regulation B asks for the principal reasons; more than four is no longer "principal".
MAX_REASONS = 4


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    """Decline at or above ``cutoff_pd``; band by PD; at most ``max_reasons`` reasons.

    >>> p = CreditPolicy(cutoff_pd=0.3)
    >>> p.band_one(0.04), p.band_one(0.05), p.band_one(0.9)
    ('A', 'B', 'E')
    >>> p.decide_one(0.29), p.decide_one(0.3)
    ('approve', 'decline')
    """

    cutoff_pd: float = 0.30
    bands: tuple[tuple[str, float], ...] = DEFAULT_BANDS
    scaling: ScoreScaling = field(default_factory=ScoreScaling)
    max_reasons: int = MAX_REASONS

    def __post_init__(self) -> None:
        if not 0.0 < self.cutoff_pd < 1.0:
            raise ValueError("cutoff_pd must be between 0 and 1")
        if not 1 <= self.max_reasons <= MAX_REASONS:
            raise ValueError(f"max_reasons must be 1..{MAX_REASONS}")
        bounds = [b for _, b in self.bands]
        if not self.bands or bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError("bands need strictly increasing upper PD bounds")
        if len({name for name, _ in self.bands}) != len(self.bands):
            raise ValueError("band names must be unique")

    def band_one(self, pd: float) -> str:
        for name, upper in self.bands[:-1]:
            if pd < upper:
                return name
        return self.bands[-1][0]

    def decide_one(self, pd: float) -> CreditDecision:
        return "decline" if pd >= self.cutoff_pd else "approve"

    def score_one(self, pd: float) -> int:
        return round(self.scaling.score_one(pd))

    def bands_of(self, pd: ArrayLike) -> NDArray[np.str_]:
        p = np.asarray(pd, dtype=float)
        uppers = np.array([b for _, b in self.bands[:-1]])
        names = np.array([n for n, _ in self.bands])
        return names[np.searchsorted(uppers, p, side="right")]

    def decisions_of(self, pd: ArrayLike) -> NDArray[np.str_]:
        return np.where(np.asarray(pd, dtype=float) >= self.cutoff_pd, "decline", "approve")

    def scores_of(self, pd: ArrayLike) -> NDArray[np.int64]:
        return np.rint(self.scaling.score(pd)).astype(np.int64)

    def to_json(self) -> dict[str, Any]:
        return {
            "cutoff_pd": self.cutoff_pd,
            "bands": [[n, b] for n, b in self.bands],
            "scaling": self.scaling.to_json(),
            "max_reasons": self.max_reasons,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CreditPolicy:
        return cls(
            cutoff_pd=float(data["cutoff_pd"]),
            bands=tuple((str(n), float(b)) for n, b in data["bands"]),
            scaling=ScoreScaling.from_json(data["scaling"]),
            max_reasons=int(data["max_reasons"]),
        )

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> CreditPolicy:
        """Build from ``--option`` strings; unknown keys are the caller's business."""
        scaling = ScoreScaling(
            base_points=float(options.get("base_points", 600)),
            base_odds=float(options.get("base_odds", 50)),
            pdo=float(options.get("pdo", 20)),
        )
        bands: Sequence[tuple[str, float]] = DEFAULT_BANDS
        if "bands" in options:
            bands = _parse_bands(options["bands"])
        return cls(
            cutoff_pd=float(options.get("cutoff_pd", 0.30)),
            bands=tuple(bands),
            scaling=scaling,
            max_reasons=int(options.get("max_reasons", MAX_REASONS)),
        )


def _parse_bands(text: str) -> list[tuple[str, float]]:
    """``"A:0.05,B:0.1,C:0.2,D"``: the last band may omit its bound (it takes the rest).

    >>> _parse_bands("A:0.05,B:0.1,C")
    [('A', 0.05), ('B', 0.1), ('C', 1.0)]
    """
    bands = []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    for i, part in enumerate(parts):
        name, sep, bound = part.partition(":")
        if not sep:
            if i != len(parts) - 1:
                raise ValueError(f"bands: {part!r} needs NAME:UPPER_PD")
            bands.append((name.strip(), 1.0))
        else:
            bands.append((name.strip(), float(bound)))
    if not bands or bands[-1][1] < 1.0:
        raise ValueError("bands: the last band takes the rest; write it without a bound")
    return bands
