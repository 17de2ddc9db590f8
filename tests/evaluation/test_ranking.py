"""Top-k ranking metrics: hand-computed values, the edge cases, and agreement of the averaged
(vectorised) path with the per-user functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nexafi_ai.evaluation import (
    average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

LOG2_3 = math.log2(3)
LOG2_4 = 2.0


def test_hand_computed_single_user() -> None:
    recommended = ["a", "x", "b", "y"]
    relevant = {"a", "b", "c"}
    # Hits at ranks 1 and 3.
    assert precision_at_k(recommended, relevant, 4) == 0.5
    assert precision_at_k(recommended, relevant, 1) == 1.0
    assert recall_at_k(recommended, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1.0 + 1.0 / LOG2_4
    ideal = 1.0 + 1.0 / LOG2_3 + 1.0 / LOG2_4
    assert ndcg_at_k(recommended, relevant, 4) == pytest.approx(dcg / ideal)
    assert average_precision_at_k(recommended, relevant, 4) == pytest.approx((1 + 2 / 3) / 3)
    # k = 2: one hit of min(2, 3) = 2 possible.
    assert ndcg_at_k(recommended, relevant, 2) == pytest.approx(1.0 / (1.0 + 1.0 / LOG2_3))
    assert average_precision_at_k(recommended, relevant, 2) == pytest.approx(0.5)


def test_perfect_list_scores_one_even_with_more_relevant_than_k() -> None:
    relevant = {"a", "b", "c", "d"}
    assert ndcg_at_k(["a", "b"], relevant, 2) == 1.0
    assert average_precision_at_k(["a", "b"], relevant, 2) == 1.0
    assert recall_at_k(["a", "b"], relevant, 2) == 0.5


def test_short_empty_and_duplicate_lists() -> None:
    assert precision_at_k([], {"a"}, 3) == 0.0
    assert recall_at_k([], {"a"}, 3) == 0.0
    assert ndcg_at_k([], {"a"}, 3) == 0.0
    assert average_precision_at_k([], {"a"}, 3) == 0.0
    # Fewer than k items: empty slots are misses for precision, not dropped.
    assert precision_at_k(["a"], {"a"}, 4) == 0.25
    assert ndcg_at_k(["a"], {"a"}, 4) == 1.0
    # A repeated item counts once.
    assert precision_at_k(["a", "a"], {"a"}, 2) == 0.5
    assert recall_at_k(["a", "a"], {"a", "b"}, 2) == 0.5


def test_no_relevant_items() -> None:
    assert precision_at_k(["a"], set(), 1) == 0.0
    for metric in (recall_at_k, ndcg_at_k, average_precision_at_k):
        assert math.isnan(metric(["a"], set(), 1))


def test_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(["a"], {"a"}, 0)
    with pytest.raises(ValueError, match="k must be"):
        ranking_metrics({}, {}, 0, 10)
    with pytest.raises(ValueError, match="catalog_size"):
        ranking_metrics({}, {}, 5, 0)


def test_ranking_metrics_hand_computed() -> None:
    recommendations = {"u1": ["a", "b", "c"], "u2": ["d", "a"], "u3": ["e"], "u4": ["f"]}
    relevant = {
        "u1": {"b"},  # hit at rank 2
        "u2": {"a", "z"},  # hit at rank 2 of 2 relevant
        "u3": set(),  # skipped: nothing to find
        "u5": {"a"},  # no recommendations: all misses
    }
    m = ranking_metrics(recommendations, relevant, k=2, catalog_size=10)
    assert m["users"] == 3.0
    assert m["precision@2"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert m["recall@2"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert m["hit_rate@2"] == pytest.approx(2 / 3)
    ndcg_u1 = (1 / LOG2_3) / 1.0
    ndcg_u2 = (1 / LOG2_3) / (1.0 + 1 / LOG2_3)
    assert m["ndcg@2"] == pytest.approx((ndcg_u1 + ndcg_u2) / 3)
    assert m["map@2"] == pytest.approx((0.5 / 1 + 0.5 / 2) / 3)
    # Top-2 of every list, evaluated or not: a, b, d, e, f.
    assert m["coverage@2"] == pytest.approx(0.5)
    assert set(m) == {
        "precision@2",
        "recall@2",
        "ndcg@2",
        "map@2",
        "hit_rate@2",
        "coverage@2",
        "users",
    }


def test_no_user_with_relevant_items() -> None:
    m = ranking_metrics({"u1": ["a"]}, {"u1": set()}, k=3, catalog_size=4)
    assert m["users"] == 0.0
    assert math.isnan(m["ndcg@3"])
    assert m["coverage@3"] == 0.25


def test_average_agrees_with_per_user_functions() -> None:
    rng = np.random.default_rng(0)
    catalog = [f"i{j}" for j in range(20)]
    recommendations: dict[str, list[str]] = {}
    relevant: dict[str, set[str]] = {}
    for u in range(200):
        n_rec = int(rng.integers(0, 12))
        recommendations[f"u{u}"] = list(rng.choice(catalog, n_rec, replace=False))
        relevant[f"u{u}"] = set(rng.choice(catalog, int(rng.integers(0, 6)), replace=False))
    k = 7
    m = ranking_metrics(recommendations, relevant, k, len(catalog))
    users = [u for u, r in relevant.items() if r]
    assert m["users"] == len(users)
    per_user = {
        "precision": precision_at_k,
        "recall": recall_at_k,
        "ndcg": ndcg_at_k,
        "map": average_precision_at_k,
    }
    for name, metric in per_user.items():
        expected = np.mean([metric(recommendations[u], relevant[u], k) for u in users])
        assert m[f"{name}@{k}"] == pytest.approx(expected), name
    for value in m.values():
        assert 0.0 <= value <= max(1.0, m["users"])
