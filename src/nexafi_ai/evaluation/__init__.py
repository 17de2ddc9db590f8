"""Honest evaluation: metrics on held-out data, time-ordered splits, baselines side by side."""

from nexafi_ai.evaluation.classification import (
    binary_metrics,
    card_precision_at_k,
    threshold_metrics,
)
from nexafi_ai.evaluation.splits import TimeSplit, time_split

__all__ = ["TimeSplit", "binary_metrics", "card_precision_at_k", "threshold_metrics", "time_split"]
