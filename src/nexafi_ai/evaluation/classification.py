"""Metrics for binary classifiers scored on held-out data (fraud, default).

Fraud is rare (under 1%), so ROC-AUC alone flatters every model: average precision and the
handbook's card precision@k per day (how many of the k cards an analyst team can check each
day were really compromised) say what the model is worth operationally.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

__all__ = ["binary_metrics", "card_precision_at_k", "threshold_metrics"]


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
