"""Metrics for binary classifiers scored on held-out data (fraud, default).

Fraud is rare (under 1%), so ROC-AUC alone flatters every model: average precision and the
handbook's card precision@k per day (how many of the k cards an analyst team can check each
day were really compromised) say what the model is worth operationally.

Credit scoring is judged in its own dialect: risk teams and validators quote Gini and KS rather
than AUC, and because a probability of default (PD) feeds pricing, limits and expected loss
(EL = PD x LGD x EAD), the PD has to be *calibrated*, not merely well ranked. Hence the Brier
score, the calibration table and the expected calibration error next to the ranking metrics.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
)

__all__ = [
    "binary_metrics",
    "brier_score",
    "calibration_table",
    "card_precision_at_k",
    "credit_metrics",
    "expected_calibration_error",
    "gini",
    "ks_statistic",
    "threshold_metrics",
]


def binary_metrics(y_true: ArrayLike, proba: ArrayLike) -> dict[str, float]:
    """ROC-AUC, average precision, prevalence and row count; NaN AUC when one class is absent.

    >>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(m["roc_auc"], 2), round(m["average_precision"], 2)
    (0.75, 0.83)
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(proba, dtype=float)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, p)) if both else float("nan"),
        "prevalence": float(y.mean()) if len(y) else float("nan"),
        "rows": float(len(y)),
    }


def threshold_metrics(y_true: ArrayLike, flagged: ArrayLike) -> dict[str, float]:
    """Precision, recall, F1 and the confusion matrix of a yes/no decision.

    >>> threshold_metrics([0, 1, 1, 0], [0, 1, 0, 1])["precision"]
    0.5
    """
    y = np.asarray(y_true, dtype=int)
    f = np.asarray(flagged, dtype=int)
    tn, fp, fn, tp = confusion_matrix(y, f, labels=[0, 1]).ravel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "tp": float(tp),
        "fp": float(fp),
        "fn": float(fn),
        "tn": float(tn),
    }


def card_precision_at_k(
    frame: pd.DataFrame,
    *,
    k: int = 100,
    day: str = "day",
    card: str = "card_id",
    label: str = "is_fraud",
    proba: str = "proba",
) -> float:
    """Mean over days of: among the k cards with the highest max daily score, the share that had
    at least one fraud that day (Le Borgne et al., "card precision top-k").

    >>> df = pd.DataFrame({"day": [0, 0, 0, 1], "card_id": ["a", "a", "b", "a"],
    ...                    "is_fraud": [0, 1, 0, 0], "proba": [0.9, 0.2, 0.1, 0.5]})
    >>> card_precision_at_k(df, k=1)
    0.5
    """
    per_card: Any = frame.groupby([day, card], sort=False).agg(
        score=(proba, "max"), fraud=(label, "max")
    )
    per_card = per_card.reset_index().sort_values([day, "score"], ascending=[True, False])
    top = per_card.groupby(day, sort=True).head(k)
    return float(top.groupby(day)["fraud"].mean().mean()) if len(top) else float("nan")


def _labels_and_scores(y_true: ArrayLike, proba: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """1-D int labels and float scores of equal length; a length mismatch is a caller bug."""
    y = np.asarray(y_true, dtype=int).ravel()
    p = np.asarray(proba, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {len(y)} rows but proba has {len(p)}")
    return y, p


def _check_probabilities(p: np.ndarray) -> None:
    """Calibration only means something for probabilities: reject scores outside [0, 1]."""
    if not np.all(np.isfinite(p)) or (len(p) and (p.min() < 0.0 or p.max() > 1.0)):
        raise ValueError("proba must hold finite probabilities in [0, 1]")


def gini(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Gini coefficient (accuracy ratio) = 2 * AUC - 1; NaN when one class is absent.

    It carries the same information as ROC-AUC, but it is the number credit-risk committees and
    model validators quote (0 = random, 1 = perfect ranking), so reports should speak it.

    >>> gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    """
    y, p = _labels_and_scores(y_true, proba)
    if not 0 < y.sum() < len(y):
        return float("nan")
    return float(2.0 * roc_auc_score(y, p) - 1.0)


def ks_statistic(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Kolmogorov-Smirnov separation: the largest gap between the score CDFs of goods and bads.

    The industry's second headline number after Gini; the score where the gap peaks is a natural
    first cut-off. Computed exactly (the two-sample KS statistic, as ``scipy.stats.ks_2samp``)
    by evaluating both empirical CDFs at every distinct score. NaN when a class is absent.

    >>> ks_statistic([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.5
    >>> ks_statistic([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])
    1.0
    """
    y, p = _labels_and_scores(y_true, proba)
    bad = np.sort(p[y == 1])
    good = np.sort(p[y != 1])
    if len(bad) == 0 or len(good) == 0:
        return float("nan")
    thresholds = np.unique(p)
    cdf_bad = np.searchsorted(bad, thresholds, side="right") / len(bad)
    cdf_good = np.searchsorted(good, thresholds, side="right") / len(good)
    return float(np.max(np.abs(cdf_good - cdf_bad)))


def brier_score(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Mean squared error of the predicted probabilities (lower is better); NaN with no rows.

    Unlike AUC it punishes a PD that ranks well but is systematically too high or too low,
    which is what mis-prices a loan. Defined even when only one class is present.

    >>> brier_score([0, 1], [0.2, 0.6])
    0.1
    """
    y, p = _labels_and_scores(y_true, proba)
    if len(y) == 0:
        return float("nan")
    return float(brier_score_loss(y, p, pos_label=1))


def calibration_table(
    y_true: ArrayLike,
    proba: ArrayLike,
    *,
    bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> list[dict[str, float]]:
    """Reliability table: per bin of predicted PD, the mean prediction against the observed rate.

    This is the table a validator reads to check that "a 5% PD defaults 5% of the time" in each
    score band. ``quantile`` bins hold (about) equal numbers of rows, which keeps every row of
    the table statistically meaningful on skewed PDs; tied predictions collapse duplicate edges,
    so fewer than ``bins`` rows may come back, and empty bins are never returned. ``uniform``
    bins split [0, 1] evenly. Bins are right-closed, ``(lower, upper]``, the first one closed.
    Rows are numbered 0.. in the order returned; ``count`` rows sum to the input length.

    >>> rows = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2)
    >>> [(r["count"], round(r["mean_predicted"], 2), r["observed_rate"]) for r in rows]
    [(2, 0.15, 0.0), (2, 0.8, 1.0)]
    >>> [r["count"] for r in calibration_table([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3], bins=4)]
    [4]
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    y, p = _labels_and_scores(y_true, proba)
    _check_probabilities(p)
    if len(p) == 0:
        return []
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)))
        if len(edges) == 1:  # every prediction identical: a single bin
            edges = np.array([edges[0], edges[0]])
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        raise ValueError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}")
    # Index of the first inner edge >= p: right-closed bins, the lowest one also left-closed.
    which = np.searchsorted(edges[1:-1], p, side="left")
    counts = np.bincount(which, minlength=len(edges) - 1)
    predicted = np.bincount(which, weights=p, minlength=len(edges) - 1)
    observed = np.bincount(which, weights=y, minlength=len(edges) - 1)
    rows: list[dict[str, float]] = []
    for i in np.flatnonzero(counts):
        n = int(counts[i])
        lower, upper = float(edges[i]), float(edges[i + 1])
        # Summation rounding can push the mean of a tied bin one ulp past its edge: clip it back.
        mean_predicted = min(max(float(predicted[i] / n), lower), upper)
        rows.append(
            {
                "bin": len(rows),
                "lower": lower,
                "upper": upper,
                "count": n,
                "mean_predicted": mean_predicted,
                "observed_rate": float(observed[i] / n),
            }
        )
    return rows


def expected_calibration_error(y_true: ArrayLike, proba: ArrayLike, bins: int = 10) -> float:
    """Count-weighted mean of |mean_predicted - observed_rate| over the quantile calibration table.

    One number for "how far off are the PDs, in probability points": 0.01 means the average
    applicant's PD is about one point away from the default rate of applicants scored like them.
    NaN with no rows.

    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], bins=2), 3)
    0.175
    """
    rows = calibration_table(y_true, proba, bins=bins, strategy="quantile")
    total = sum(r["count"] for r in rows)
    if total == 0:
        return float("nan")
    gap = sum(r["count"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in rows)
    return float(gap / total)


def credit_metrics(y_true: ArrayLike, proba: ArrayLike) -> dict[str, float]:
    """The credit-scoring scorecard: ranking (AUC, Gini, KS, AP) and calibration (Brier, ECE).

    ``y_true`` is 1 for a default (bad) and ``proba`` the predicted PD. Ranking metrics are NaN
    when one class is absent; Brier and ECE stay defined because a PD can be mis-calibrated even
    on an all-good sample.

    >>> m = credit_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> m["roc_auc"], m["gini"], m["ks"], m["prevalence"], m["rows"]
    (0.75, 0.5, 0.5, 0.5, 4.0)
    """
    y, p = _labels_and_scores(y_true, proba)
    base = binary_metrics(y, p)
    return {
        "roc_auc": base["roc_auc"],
        "gini": gini(y, p),
        "ks": ks_statistic(y, p),
        "brier": brier_score(y, p),
        "average_precision": base["average_precision"],
        "expected_calibration_error": expected_calibration_error(y, p),
        "prevalence": base["prevalence"],
        "rows": base["rows"],
    }
