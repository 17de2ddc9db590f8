"""Collaborative filtering: implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit``.

Interactions are implicit feedback: a view says little, a held product says a lot, and no
event says "dislike". Each (user, item) pair's summed event weight becomes a confidence
``1 + alpha * log1p(weight)`` (the paper's log scaling: a tenth view adds little), and ALS
factorises the preference matrix under those confidences.

The fitted state is two float arrays (user and item factors), so it saves as ``.npz`` and
scores a user with one dot product. Why an item was recommended comes from the same model: the
paper's section 5 writes a user's score for item ``i`` as a sum over the items ``j`` in their
history, ``s_ij * c_uj`` with ``s_ij = y_i' W_u y_j`` and ``W_u = (Y'C_uY + lambda I)^-1``, so
the item that contributed most is the honest answer to "why" ("holders of X also hold Y").
"""

from __future__ import annotations

import os
from typing import Self

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from numpy.typing import NDArray

from nexafi_ai.usecases.base import NotFittedError

__all__ = ["AlsRecommender", "confidence"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def confidence(weights: FloatArray, alpha: float) -> FloatArray:
    """ALS confidence of summed event weights: ``1 + alpha * log1p(weight)``.

    >>> confidence(np.array([0.0, 1.0, 15.0]), alpha=2.0).round(3).tolist()
    [1.0, 2.386, 6.545]
    """
    out: FloatArray = 1.0 + alpha * np.log1p(np.asarray(weights, dtype=np.float64))
    return out


class AlsRecommender:
    """Implicit ALS over a users x items matrix of summed event weights.

    >>> weights = sp.csr_matrix(np.array([[8.0, 8.0, 0.0], [8.0, 8.0, 0.0], [0.0, 0.0, 8.0]]))
    >>> als = AlsRecommender(factors=2, iterations=10, seed=0).fit(weights)
    >>> als.user_factors_.shape, als.item_factors_.shape
    ((3, 2), (3, 2))
    >>> bool(als.scores(np.array([0]))[0, 1] > als.scores(np.array([0]))[0, 2])
    True
    """

    def __init__(
        self,
        *,
        factors: int = 8,
        iterations: int = 15,
        regularization: float = 10.0,
        alpha: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.seed = seed

    def fit(self, weights: sp.csr_matrix) -> Self:
        """Factorise ``weights`` (users x items, summed event weights, zero = no interaction)."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        matrix = sp.csr_matrix(weights, dtype=np.float64)
        matrix.eliminate_zeros()
        matrix.data = confidence(matrix.data, self.alpha)
        # implicit runs its own threads; a multi-threaded BLAS underneath oversubscribes the
        # cores (and implicit warns about it), so BLAS gets one thread while it fits.
        with threadpool_limits(limits=1, user_api="blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # the confidence is already scaled above
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=min(os.cpu_count() or 1, 8),
                dtype=np.float32,
            )
            model.fit(matrix.astype(np.float32), show_progress=False)
        self.user_factors_: FloatArray = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_: FloatArray = np.asarray(model.item_factors, dtype=np.float64)
        return self

    @classmethod
    def from_arrays(
        cls, user_factors: FloatArray, item_factors: FloatArray, *, alpha: float, reg: float
    ) -> AlsRecommender:
        """A fitted recommender from saved factors."""
        als = cls(factors=item_factors.shape[1], alpha=alpha, regularization=reg)
        als.user_factors_ = np.asarray(user_factors, dtype=np.float64)
        als.item_factors_ = np.asarray(item_factors, dtype=np.float64)
        return als

    def _check(self) -> None:
        if not hasattr(self, "item_factors_"):
            raise NotFittedError("the ALS model is not fitted")

    def scores(self, users: IntArray) -> FloatArray:
        """Preference scores of the given user rows for every item (rows x items)."""
        self._check()
        out: FloatArray = self.user_factors_[users] @ self.item_factors_.T
        return out

    def gram(self) -> FloatArray:
        """``Y'Y + lambda I``: the part of every user's ``W_u`` shared by all users."""
        self._check()
        y = self.item_factors_
        out: FloatArray = y.T @ y + self.regularization * np.eye(y.shape[1])
        return out

    def drivers(
        self,
        gram: FloatArray,
        history: IntArray,
        weights: FloatArray,
        items: IntArray,
    ) -> FloatArray:
        """How much each history item contributed to each of ``items``' scores (items x history).

        ``history`` are the item indices the user interacted with and ``weights`` their summed
        event weights; ``gram`` is :meth:`gram` (computed once at load, not per request).
        """
        y = self.item_factors_
        c = confidence(weights, self.alpha)
        yh = y[history]
        w_u = gram + (yh.T * (c - 1.0)) @ yh
        # s_ij for the asked items against the history, then weighted by c_uj.
        solved = np.linalg.solve(w_u, yh.T)
        out: FloatArray = (y[items] @ solved) * c[None, :]
        return out
