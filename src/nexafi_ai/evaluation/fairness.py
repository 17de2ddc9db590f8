"""Disparate-impact analysis of credit decisions across a protected attribute.

Why this exists: the US Equal Credit Opportunity Act (ECOA) and its Regulation B forbid
discriminating against applicants on a prohibited basis (race, colour, religion, national
origin, sex, marital status, age, receipt of public assistance...). That covers *disparate
impact* too: a facially neutral model whose decisions fall much more harshly on one group. The
first screen lenders and examiners use is the approval-rate ratio between groups, judged
against the "four-fifths rule" borrowed from the US EEOC Uniform Guidelines on Employee
Selection Procedures (29 CFR 1607.4(D)): a group approved at under 80% of the rate of the
most-approved group is flagged for review. Failing it is a signal to investigate (is there a
business justification, a less discriminatory alternative?), not a legal verdict; passing it is
no safe harbour either.

The protected attribute is used *only here*, to audit outcomes: it must never be a model input
(Regulation B bars considering it in the credit decision). Because lenders generally may not
collect it for non-mortgage credit, ``groups`` often comes from a proxy (e.g. BISG) or a
self-test sample; read the report with that uncertainty in mind.

Alongside approval rates the report gives, per group, the observed default rate, the mean
predicted PD, the ROC-AUC and the default rate among approved applicants: a model that ranks
one group worse (lower AUC), or approves its members at a visibly different risk level, is a
fairness finding even when approval rates match.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    mean_prediction,
    selection_rate,
)
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

__all__ = ["fairness_report"]

# Rates are ratios of counts, so a ratio that is exactly 4/5 on paper (16/25 vs 20/25 approvals)
# comes out as 0.7999999999999999 in floating point; without this slack it would fail a test
# it passes by law ("less than four-fifths" is what gets flagged).
_RATIO_TOLERANCE = 1e-12


def _approval_rate(y_true: ArrayLike, y_pred: ArrayLike, *, approved: ArrayLike) -> float:
    """Share approved: fairlearn's selection rate, with approval as the selected outcome."""
    return float(selection_rate(y_true, np.asarray(approved, dtype=int), pos_label=1))


def _default_rate(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Observed share of defaults (bads) in the group."""
    y = np.asarray(y_true, dtype=float)
    return float(y.mean()) if len(y) else float("nan")


def _roc_auc(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Within-group ranking quality; NaN when the group holds only goods or only bads."""
    y = np.asarray(y_true, dtype=int)
    if not 0 < y.sum() < len(y):
        return float("nan")
    return float(roc_auc_score(y, np.asarray(y_pred, dtype=float)))


def _default_rate_among_approved(
    y_true: ArrayLike, y_pred: ArrayLike, *, approved: ArrayLike
) -> float:
    """Bad rate of the approved book: different values mean different risk bars per group."""
    y = np.asarray(y_true, dtype=float)[np.asarray(approved, dtype=bool)]
    return float(y.mean()) if len(y) else float("nan")


def _or_none(value: Any) -> float | None:
    """A JSON-safe float: NaN (undefined) becomes None."""
    number = float(value)
    return None if np.isnan(number) else number


def _binary(values: ArrayLike, name: str) -> np.ndarray:
    """Validate a 0/1 (or boolean) column; silently coercing e.g. strings would corrupt rates."""
    array = np.asarray(values).ravel()
    if array.dtype != bool and not np.isin(array, [0, 1]).all():
        raise ValueError(f"{name} must hold only 0/1 or booleans")
    return array.astype(bool)


def fairness_report(
    y_true: ArrayLike,
    proba: ArrayLike,
    approved: ArrayLike,
    groups: ArrayLike,
    *,
    attribute: str | None = None,
    min_group_size: int = 30,
    four_fifths: float = 0.8,
) -> dict[str, Any]:
    """Per-group outcomes and the four-fifths (adverse impact ratio) test, JSON-serialisable.

    ``y_true`` is 1 for a default (bad), ``proba`` the predicted PD, ``approved`` the decision
    (True = approved) and ``groups`` the protected attribute, one label per row (``attribute``
    names it in the report). Groups smaller than ``min_group_size`` are reported per group and
    listed in ``small_groups``, but left out of every cross-group comparison: their rates are
    too noisy to call a disparity. The comparisons (``adverse_impact_ratio``,
    ``reference_group``, ``lowest_group``, ``passes_four_fifths``, ``approval_rate_difference``)
    need at least two eligible groups and are None otherwise; the ratio is also None when no
    eligible group has any approval. ``auc_difference`` is None unless two eligible groups have
    a defined AUC. Ties for the highest/lowest approval rate go to the first group in sorted
    order. Undefined values are None, never NaN.

    >>> r = fairness_report(
    ...     y_true=[0, 1, 0, 1, 0, 0, 1, 0], proba=[0.1, 0.6, 0.2, 0.7, 0.1, 0.3, 0.8, 0.2],
    ...     approved=[True, False, True, True, True, False, False, True],
    ...     groups=["a", "a", "a", "a", "b", "b", "b", "b"], attribute="sex", min_group_size=1)
    >>> r["groups"]["a"]["approval_rate"], r["groups"]["b"]["approval_rate"]
    (0.75, 0.5)
    >>> r["adverse_impact_ratio"], r["reference_group"], r["passes_four_fifths"]
    (0.6666666666666666, 'a', False)
    """
    if min_group_size < 0:
        raise ValueError(f"min_group_size must be >= 0, got {min_group_size}")
    if not 0.0 < four_fifths <= 1.0:
        raise ValueError(f"four_fifths must be in (0, 1], got {four_fifths}")
    y = _binary(y_true, "y_true").astype(int)
    ok = _binary(approved, "approved")
    p = np.asarray(proba, dtype=float).ravel()
    raw_groups = pd.Series(np.asarray(groups, dtype=object).ravel())
    if not len(y) == len(ok) == len(p) == len(raw_groups):
        raise ValueError(
            "y_true, proba, approved and groups must have the same length, got "
            f"{len(y)}, {len(p)}, {len(ok)} and {len(raw_groups)}"
        )
    if raw_groups.isna().any():
        raise ValueError("groups has missing values: label them explicitly (e.g. 'unknown')")
    labels = raw_groups.astype(str).to_numpy()

    report: dict[str, Any] = {
        "attribute": attribute,
        "groups": {},
        "adverse_impact_ratio": None,
        "reference_group": None,
        "lowest_group": None,
        "passes_four_fifths": None,
        "approval_rate_difference": None,
        "auc_difference": None,
        "small_groups": [],
    }
    if len(y) == 0:
        return report

    frame = MetricFrame(
        metrics={
            "count": count,
            "approval_rate": _approval_rate,
            "default_rate": _default_rate,
            "mean_pd": mean_prediction,
            "roc_auc": _roc_auc,
            "default_rate_among_approved": _default_rate_among_approved,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=pd.Series(labels, name=attribute or "group"),
        sample_params={
            "approval_rate": {"approved": ok},
            "default_rate_among_approved": {"approved": ok},
        },
    )
    by_group: pd.DataFrame = frame.by_group.sort_index()
    for group, row in by_group.iterrows():
        report["groups"][str(group)] = {
            "count": int(row["count"]),
            "approval_rate": _or_none(row["approval_rate"]),
            "default_rate": _or_none(row["default_rate"]),
            "mean_pd": _or_none(row["mean_pd"]),
            "roc_auc": _or_none(row["roc_auc"]),
            "default_rate_among_approved": _or_none(row["default_rate_among_approved"]),
        }
    per_group: dict[str, dict[str, Any]] = report["groups"]
    report["small_groups"] = [g for g, m in per_group.items() if m["count"] < min_group_size]
    eligible = [g for g, m in per_group.items() if m["count"] >= min_group_size]
    if len(eligible) < 2:
        return report

    rates = {g: float(per_group[g]["approval_rate"]) for g in eligible}
    reference = max(eligible, key=lambda g: rates[g])  # first maximum in sorted order
    # Excluding the reference never changes the minimum rate, but keeps the two names distinct
    # when every group is approved at the same rate.
    lowest = min((g for g in eligible if g != reference), key=lambda g: rates[g])
    ratio = rates[lowest] / rates[reference] if rates[reference] > 0 else None
    in_eligible = np.isin(labels, eligible)
    report.update(
        {
            "adverse_impact_ratio": ratio,
            "reference_group": reference,
            "lowest_group": lowest,
            "passes_four_fifths": (
                None if ratio is None else bool(ratio >= four_fifths - _RATIO_TOLERANCE)
            ),
            "approval_rate_difference": float(
                demographic_parity_difference(
                    y[in_eligible],
                    ok[in_eligible].astype(int),
                    sensitive_features=labels[in_eligible],
                )
            ),
        }
    )
    aucs = [per_group[g]["roc_auc"] for g in eligible if per_group[g]["roc_auc"] is not None]
    if len(aucs) >= 2:
        report["auc_difference"] = float(max(aucs) - min(aucs))
    return report
