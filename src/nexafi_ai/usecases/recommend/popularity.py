"""The baseline every recommender must beat: the products most customers took up.

Popularity is the share of active customers who clicked, applied for or hold each product in
the training period. It knows nothing about the customer, so it is also the fallback when a
model has no profile to go on. The business rules still apply on top (eligibility, holdings).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray

from nexafi_ai.usecases.base import NotFittedError

__all__ = ["Popularity"]

FloatArray = NDArray[np.float64]


class Popularity:
    """Scores every product by its uptake share; the same ranking for everyone.

    >>> Popularity().fit(np.array([[1.0, 0.0], [1.0, 1.0]])).scores_.tolist()
    [1.0, 0.5]
    """

    def fit(self, uptake: FloatArray) -> Self:
        """``uptake``: users x items, 1 where the user took the item up (0 elsewhere)."""
        users = max(uptake.shape[0], 1)
        self.scores_: FloatArray = np.asarray(uptake, dtype=np.float64).sum(axis=0) / users
        return self

    @classmethod
    def from_array(cls, scores: FloatArray) -> Popularity:
        model = cls()
        model.scores_ = np.asarray(scores, dtype=np.float64)
        return model

    def scores(self, n: int) -> FloatArray:
        """The popularity row repeated for ``n`` users."""
        if not hasattr(self, "scores_"):
            raise NotFittedError("the popularity model is not fitted")
        return np.broadcast_to(self.scores_, (n, len(self.scores_))).copy()
