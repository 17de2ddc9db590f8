"""The hybrid: ALS where a customer has history, their profile where they have little.

ALS scores and content log-odds live on different scales, so each is standardised per
customer over the whole catalog (a z-score: how much more this product suits them than their
average product) before blending. The ALS share grows with history,
``w(n) = als_max * n / (n + half_n)`` for a customer with ``n`` distinct products in their
history: one view says little about taste, twenty interactions say a lot. ``als_max`` and
``half_n`` are chosen on a validation slice carved from the training period (never the test
period), by NDCG over a small grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["BlendParams", "als_weight", "blend", "standardise_rows", "tune_blend"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

ALS_MAX_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
HALF_N_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass(frozen=True, slots=True)
class BlendParams:
    """``w(n) = als_max * n / (n + half_n)``: the ALS share for ``n`` history items."""

    als_max: float = 0.5
    half_n: float = 4.0

    def to_json(self) -> dict[str, float]:
        return {"als_max": self.als_max, "half_n": self.half_n}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BlendParams:
        return cls(als_max=float(raw["als_max"]), half_n=float(raw["half_n"]))


def als_weight(history: FloatArray, params: BlendParams) -> FloatArray:
    """The ALS share of the blend for customers with ``history`` distinct items each.

    >>> params = BlendParams(als_max=0.8, half_n=4.0)
    >>> als_weight(np.array([0.0, 4.0, 12.0]), params).round(3).tolist()
    [0.0, 0.4, 0.6]
    """
    n = np.asarray(history, dtype=np.float64)
    out: FloatArray = params.als_max * n / np.maximum(n + params.half_n, 1e-12)
    return out


def standardise_rows(scores: FloatArray) -> FloatArray:
    """Per-row z-scores; a constant row becomes zeros.

    >>> standardise_rows(np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])).round(3).tolist()
    [[-1.225, 0.0, 1.225], [0.0, 0.0, 0.0]]
    """
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    out: FloatArray = (scores - mean) / np.where(std > 1e-12, std, 1.0)
    return out


def blend(
    als: FloatArray, content: FloatArray | None, history: FloatArray, params: BlendParams
) -> FloatArray:
    """Blended scores (users x items); without a content model, ALS alone."""
    z_als = standardise_rows(als)
    if content is None:
        return z_als
    w = als_weight(history, params)[:, None]
    out: FloatArray = w * z_als + (1.0 - w) * standardise_rows(content)
    return out


def tune_blend(
    als: FloatArray,
    content: FloatArray,
    history: FloatArray,
    score: Callable[[FloatArray], float],
) -> tuple[BlendParams, list[dict[str, float]]]:
    """The grid point with the best ``score`` (e.g. validation NDCG@10) and the whole grid.

    Ties go to the simpler blend met first (less ALS, shorter half-life), so the choice is
    deterministic.
    """
    z_als, z_content = standardise_rows(als), standardise_rows(content)
    table: list[dict[str, float]] = []
    best: tuple[float, BlendParams] | None = None
    for als_max in ALS_MAX_GRID:
        for half_n in HALF_N_GRID:
            if als_max == 0.0 and half_n != HALF_N_GRID[0]:
                continue  # every half-life gives the same pure-content blend
            params = BlendParams(als_max=als_max, half_n=half_n)
            w = als_weight(history, params)[:, None]
            value = score(w * z_als + (1.0 - w) * z_content)
            table.append({**params.to_json(), "score": value})
            if best is None or value > best[0] + 1e-12:
                best = (value, params)
    assert best is not None
    return best[1], table
