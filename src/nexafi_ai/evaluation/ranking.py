"""Metrics for top-k recommendations scored against what users really did next (held-out items).

A recommender shows a short list, so only the top ``k`` counts: precision@k (how much of the
list was wanted), recall@k (how much of what was wanted made the list), nDCG@k and MAP@k (both
also reward putting the wanted items first), hit rate@k (did the list help at all) and catalog
coverage (a list that always shows the same three products helps the bank little and the
customer less). Relevance is binary: an item is relevant when the user interacted with it in
the held-out period.

Conventions, shared by the per-user functions and :func:`ranking_metrics`:

* a list shorter than ``k`` is padded with misses (precision divides by ``k``, not by the
  length: a model that returns fewer items must not look more precise);
* an item repeated in a list counts once, at its first position;
* nDCG's ideal DCG and MAP's normaliser use ``min(k, |relevant|)``, so a perfect list scores
  1.0 even when the user has more relevant items than ``k``;
* users with no relevant item are skipped in the average (there is nothing to find), and the
  per-user functions return NaN for recall, nDCG and AP in that case.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "average_precision_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
]


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def _hits(recommended: Sequence[str], relevant: Collection[str], k: int) -> NDArray[np.float64]:
    """1.0 where position ``i < k`` holds a relevant item not seen earlier in the list."""
    _check_k(k)
    out = np.zeros(k)
    seen: set[str] = set()
    for i, item in enumerate(recommended[:k]):
        if item in relevant and item not in seen:
            out[i] = 1.0
        seen.add(item)
    return out


def _discounts(k: int) -> NDArray[np.float64]:
    """The DCG discount 1 / log2(rank + 1) for ranks 1..k."""
    out: NDArray[np.float64] = 1.0 / np.log2(np.arange(2, k + 2))
    return out


def precision_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the ``k`` slots holding a relevant item (missing slots are misses).

    >>> precision_at_k(["a", "b", "c"], {"a", "c", "x"}, k=2)
    0.5
    >>> precision_at_k(["a"], {"a"}, k=4)
    0.25
    """
    return float(_hits(recommended, relevant, k).sum() / k)


def recall_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``; NaN when nothing is relevant.

    >>> recall_at_k(["a", "b", "c"], {"a", "c", "x", "y"}, k=3)
    0.5
    """
    if not relevant:
        return float("nan")
    return float(_hits(recommended, relevant, k).sum() / len(relevant))


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain (binary gains, log2 discount); NaN if none relevant.

    One hit at rank 2 of two relevant items, k = 2: DCG = 1/log2(3) = 0.631, ideal DCG =
    1 + 0.631, so nDCG = 0.387.

    >>> round(ndcg_at_k(["b", "a"], {"a", "c"}, k=2), 3)
    0.387
    >>> ndcg_at_k(["a", "b"], {"a"}, k=2)
    1.0
    """
    if not relevant:
        return float("nan")
    hits = _hits(recommended, relevant, k)
    discounts = _discounts(k)
    ideal = discounts[: min(k, len(relevant))].sum()
    return float(hits @ discounts / ideal)


def average_precision_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Mean of precision@i over the ranks i of the hits, divided by ``min(k, |relevant|)``.

    Hits at ranks 1 and 3 of three relevant items, k = 3: (1/1 + 2/3) / 3 = 0.556.

    >>> round(average_precision_at_k(["a", "b", "c"], {"a", "c", "d"}, k=3), 3)
    0.556
    """
    if not relevant:
        return float("nan")
    hits = _hits(recommended, relevant, k)
    precision = np.cumsum(hits) / np.arange(1, k + 1)
    return float((precision * hits).sum() / min(k, len(relevant)))


def ranking_metrics(
    recommendations: Mapping[str, Sequence[str]],
    relevant: Mapping[str, Collection[str]],
    k: int,
    catalog_size: int,
) -> dict[str, float]:
    """Top-k metrics averaged over the users with at least one relevant item.

    ``recommendations`` maps a user to their ranked list (a user missing from it got an empty
    list: all misses); ``relevant`` maps a user to the items they interacted with in the
    held-out period. ``coverage@k`` is the share of the ``catalog_size`` items that appear in
    the top ``k`` of at least one list in ``recommendations`` (every user, evaluated or not).
    Keys: ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``,
    ``coverage@k`` and ``users`` (how many were averaged; the metrics are NaN when none).

    >>> m = ranking_metrics({"u1": ["a", "b"], "u2": ["c", "a"], "u3": ["a"]},
    ...                     {"u1": {"a"}, "u2": {"b", "d"}, "u3": set()}, k=2, catalog_size=4)
    >>> m["precision@2"], m["recall@2"], m["hit_rate@2"], m["coverage@2"], m["users"]
    (0.25, 0.5, 0.5, 0.75, 2.0)
    """
    _check_k(k)
    if catalog_size < 1:
        raise ValueError(f"catalog_size must be at least 1, got {catalog_size}")
    users = [user for user, items in relevant.items() if len(items) > 0]
    hits = np.zeros((len(users), k))
    n_relevant = np.zeros(len(users))
    for row, user in enumerate(users):
        wanted = relevant[user]
        hits[row] = _hits(recommendations.get(user, ()), wanted, k)
        n_relevant[row] = len(wanted)
    shown = {item for items in recommendations.values() for item in items[:k]}
    coverage = min(len(shown), catalog_size) / catalog_size
    if not users:
        nan = float("nan")
        names = ("precision", "recall", "ndcg", "map", "hit_rate")
        return {**{f"{name}@{k}": nan for name in names}, f"coverage@{k}": coverage, "users": 0.0}

    found = hits.sum(axis=1)
    capped = np.minimum(n_relevant, k)
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[capped.astype(np.int64) - 1]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        f"precision@{k}": float(np.mean(found / k)),
        f"recall@{k}": float(np.mean(found / n_relevant)),
        f"ndcg@{k}": float(np.mean(hits @ discounts / ideal)),
        f"map@{k}": float(np.mean((precision_at_rank * hits).sum(axis=1) / capped)),
        f"hit_rate@{k}": float(np.mean(found > 0)),
        f"coverage@{k}": coverage,
        "users": float(len(users)),
    }
