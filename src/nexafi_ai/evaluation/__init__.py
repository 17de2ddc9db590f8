"""Honest evaluation: metrics on held-out data, time-ordered splits, baselines side by side."""

from nexafi_ai.evaluation.classification import (
    binary_metrics,
    brier_score,
    calibration_table,
    card_precision_at_k,
    credit_metrics,
    expected_calibration_error,
    gini,
    ks_statistic,
    threshold_metrics,
)
from nexafi_ai.evaluation.fairness import fairness_report
from nexafi_ai.evaluation.forecasting import (
    diebold_mariano,
    directional_accuracy,
    interval_coverage,
    mase,
    qlike,
    rmse,
    rolling_origin_splits,
)
from nexafi_ai.evaluation.ranking import (
    average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)
from nexafi_ai.evaluation.splits import TimeSplit, time_split

__all__ = [
    "TimeSplit",
    "average_precision_at_k",
    "binary_metrics",
    "brier_score",
    "calibration_table",
    "card_precision_at_k",
    "credit_metrics",
    "diebold_mariano",
    "directional_accuracy",
    "expected_calibration_error",
    "fairness_report",
    "gini",
    "interval_coverage",
    "ks_statistic",
    "mase",
    "ndcg_at_k",
    "precision_at_k",
    "qlike",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
    "rolling_origin_splits",
    "threshold_metrics",
    "time_split",
]
