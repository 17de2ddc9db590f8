"""Model monitoring: how far the logged inferences have moved from what the model was trained on.

Each model version freezes a reference per feature (and for its own score) at training time;
:func:`drift_report` compares a window of logged inferences with those references. The
computation is pre-binned and vectorised so a window of a million rows takes well under seconds.
"""

from nexafi_ai.monitoring.drift import (
    CategoricalReference,
    NumericReference,
    Reference,
    build_references,
    chi_square,
    counts_for,
    drift_report,
    ks_statistic_against,
    psi,
    reference_for,
    reference_from_json,
)

__all__ = [
    "CategoricalReference",
    "NumericReference",
    "Reference",
    "build_references",
    "chi_square",
    "counts_for",
    "drift_report",
    "ks_statistic_against",
    "psi",
    "reference_for",
    "reference_from_json",
]
