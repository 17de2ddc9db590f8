"""Live model quality: logged inferences graded by the outcomes that arrived later.

Offline metrics say how a model did on last year's data; these say how the served model does
on this month's traffic, once outcomes are known. Everything is computed from the inference log
and the labels table as known at ``as_of`` (a label observed later does not exist yet), over
the inferences logged in ``[start, end)``, overall, per time window of the inference's
``created_at`` (UTC day, ISO week from Monday, or calendar month; only windows holding graded
rows, oldest first) and per model version. Metrics come from :mod:`nexafi_ai.evaluation`, so
live and offline numbers mean the same thing. Undefined numbers (AUC with one class, precision
with nothing flagged) are ``None``, never NaN, so the result is valid JSON.

Rules by :attr:`UseCase.performance_kind`:

* ``classification`` (fraud, credit): each labelled entity's last inference before its label
  (:func:`~nexafi_ai.monitoring.window.labelled_inferences`), the label read by
  :meth:`UseCase.label_value`; labels it cannot read are counted in ``unreadable_labels`` and
  skipped. Precision and recall are those of the policy *as served*: a row is flagged when its
  logged decision is present and not ``approve`` (fraud review or decline, credit decline),
  whatever threshold each version used. With ``maturity_days``, an inference logged before
  ``as_of - maturity_days`` whose entity has no label at all by ``as_of`` counts as a
  negative (no chargeback within 45 days: the transaction was legitimate). Rows without a
  score are not graded.
* ``ranking`` (recommend): a label is the product the user took up; it is looked for in the
  logged ``outputs.items`` (ordered by ``rank``) of the user's last list before the label,
  with the logged ``k``. One relevant item per user, so MRR is the average precision at k.
* ``forecast``: the labels table holds one value per entity and source, not a price per date,
  so realised prices come from the market data clients send later: for a logged forecast of an
  entity, the realised price at a step's timestamp is the value at that timestamp in the
  earliest *later* logged request of the same entity whose ``inputs.series`` has it (earliest:
  later copies may be re-adjusted for splits and dividends). Steps nobody has sent yet are not
  graded. MASE (:func:`~nexafi_ai.evaluation.forecasting.mase`, averaged over forecasts so
  symbols of any price level weigh alike) is scaled by the one-step naive MAE of the series the
  forecast saw (its ``inputs.series``); a forecast of a stored symbol saw none, so the later
  sent series is used: its points before the first step, or all of it with fewer than two
  (MASE is ``None`` for a forecast whose scale is undefined). MAE and interval coverage pool
  all graded steps. A sent series is logged under its ``series_id``; one sent without it has no
  entity and can be neither graded nor used as realised prices.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from nexafi_ai.db.tables import labels
from nexafi_ai.evaluation.classification import (
    binary_metrics,
    brier_score,
    expected_calibration_error,
    threshold_metrics,
)
from nexafi_ai.evaluation.forecasting import interval_coverage, mase
from nexafi_ai.evaluation.ranking import (
    average_precision_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from nexafi_ai.monitoring.window import LoggedColumn, labelled_inferences, logged_values
from nexafi_ai.usecases.base import UseCase

__all__ = ["BUCKETS", "METRIC_KEYS", "Bucket", "live_performance"]

#: What a challenger scoring in shadow logged beside the champion (``inference_log.shadow``).
SHADOW_COLUMNS = {
    "shadow_version": LoggedColumn(("shadow", "model_version"), "categorical"),
    "shadow_score": LoggedColumn(("shadow", "score")),
    "shadow_decision": LoggedColumn(("shadow", "decision"), "categorical"),
}
SHADOW_ROW_COLUMNS = ("shadow_version", "shadow_p", "shadow_flagged")

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[Bucket, ...] = ("day", "week", "month")
#: The keys of ``overall`` (and of each window and version) by performance kind.
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "classification": (
        "n",
        "positives",
        "positive_rate",
        "auc",
        "average_precision",
        "brier",
        "ece",
        "precision",
        "recall",
        "flag_rate",
        "threshold",
        "unreadable_labels",
    ),
    "ranking": ("n", "hit_rate", "precision_at_k", "recall_at_k", "ndcg_at_k", "mrr", "k"),
    "forecast": ("n_forecasts", "n_points", "mase", "mae", "coverage_80", "coverage_95"),
}
#: What "flagged" means for precision and recall: the served policy, not a score cut-off.
POLICY_THRESHOLD = "decision != approve"

Metrics = dict[str, Any]
MetricFn = Callable[[pd.DataFrame], Metrics]


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name}: naive datetime; pass a timezone-aware value")


def _iso(value: datetime | pd.Timestamp | None) -> str | None:
    return None if value is None else pd.Timestamp(value).tz_convert(UTC).isoformat()


# -- classification ----------------------------------------------------------------------------


def _matured_negatives(
    engine: Engine,
    use_case: str,
    *,
    start: datetime | None,
    before: datetime,
    as_of: datetime,
) -> pd.DataFrame:
    """Last inference of each entity logged before ``before`` with no label at all by ``as_of``.

    The anti-join is done in pandas on purpose: labelled entities are few next to the log, and
    a SQL ``NOT EXISTS`` left PostgreSQL, on a freshly loaded table without statistics, to a
    nested loop that took minutes on 200k rows. Two indexed reads behave the same everywhere.
    """
    with engine.connect() as conn:
        known = set(
            conn.execute(
                select(labels.c.entity_id)
                .distinct()
                .where(labels.c.use_case == use_case, labels.c.observed_at <= as_of)
            ).scalars()
        )
    logged = logged_values(engine, use_case, SHADOW_COLUMNS, start=start, end=before)
    if logged.empty:
        return logged
    logged = logged[logged["entity_id"].notna() & ~logged["entity_id"].isin(known)]
    return logged.drop_duplicates("entity_id", keep="last")


def _classification_rows(
    engine: Engine,
    use_case: UseCase,
    *,
    start: datetime | None,
    end: datetime | None,
    as_of: datetime,
    maturity_days: float | None,
) -> tuple[pd.DataFrame, int]:
    """Graded rows (``created_at, model_version, y, p, flagged``) and the labelled-row count."""
    labelled = labelled_inferences(
        engine, use_case.name, start=start, end=end, as_of=as_of, columns=SHADOW_COLUMNS
    )
    n_labelled = len(labelled)
    parts = []
    if n_labelled:
        labelled["y"] = use_case.outcomes(labelled["label"])
        parts.append(labelled)
    if maturity_days is not None:
        before = as_of - timedelta(days=maturity_days)
        if end is not None:
            before = min(before, end)
        matured = _matured_negatives(engine, use_case.name, start=start, before=before, as_of=as_of)
        if not matured.empty:
            matured["y"] = 0.0
            parts.append(matured)
    columns = ["created_at", "model_version", "y", "p", "flagged", *SHADOW_ROW_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns), n_labelled
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["score"].notna()]
    decision = rows["decision"]
    out = pd.DataFrame(
        {
            "created_at": rows["created_at"],
            "model_version": rows["model_version"].astype(str),
            "y": rows["y"],
            "p": pd.to_numeric(rows["score"]).astype("float64"),
            "flagged": (decision.notna() & (decision != "approve")).astype(int),
            "shadow_version": rows["shadow_version"],
            "shadow_p": pd.to_numeric(rows["shadow_score"]).astype("float64"),
            "shadow_flagged": (
                rows["shadow_decision"].notna() & (rows["shadow_decision"] != "approve")
            ).astype(int),
        }
    )
    return out.sort_values("created_at", kind="stable").reset_index(drop=True), n_labelled


def _shadow(rows: pd.DataFrame) -> dict[str, Any]:
    """Champion against each challenger that scored in shadow, on the very same graded rows.

    The comparison a promotion decision wants: both models' metrics on live traffic where
    both answered, before anyone moves an alias.
    """
    out: dict[str, Any] = {}
    scored = rows[rows["shadow_version"].notna() & rows["shadow_p"].notna()]
    for version in sorted(scored["shadow_version"].astype(str).unique(), key=_version_key):
        both = scored[scored["shadow_version"].astype(str) == version]
        challenger = both.assign(p=both["shadow_p"], flagged=both["shadow_flagged"])
        out[version] = {
            "n": len(both),
            "champion_versions": sorted(both["model_version"].unique(), key=_version_key),
            "champion": _classification_metrics(both),
            "challenger": _classification_metrics(challenger),
        }
    return out


def _classification_metrics(rows: pd.DataFrame) -> Metrics:
    unreadable = int(rows["y"].isna().sum())
    graded = rows[rows["y"].notna()]
    y = graded["y"].to_numpy(dtype=int)
    p = graded["p"].to_numpy(dtype=float)
    flagged = graded["flagged"].to_numpy(dtype=int)
    n = len(y)
    positives = int(y.sum())
    out: Metrics = {
        "n": n,
        "positives": positives,
        "positive_rate": positives / n if n else None,
        "auc": None,
        "average_precision": None,
        "brier": None,
        "ece": None,
        "precision": None,
        "recall": None,
        "flag_rate": float(flagged.mean()) if n else None,
        "threshold": POLICY_THRESHOLD,
        "unreadable_labels": unreadable,
    }
    if n == 0:
        return out
    ranking = binary_metrics(y, p)
    out["auc"] = _number(ranking["roc_auc"])
    out["average_precision"] = _number(ranking["average_precision"])
    if np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0:  # probabilities only
        out["brier"] = _number(brier_score(y, p))
        out["ece"] = _number(expected_calibration_error(y, p))
    decided = threshold_metrics(y, flagged)
    out["precision"] = decided["precision"] if flagged.any() else None
    out["recall"] = decided["recall"] if positives else None
    return out


# -- ranking -----------------------------------------------------------------------------------


def _ranked_items(outputs: Any) -> tuple[list[str], int] | None:
    """The logged list as product ids in rank order, and the logged k; None if unreadable."""
    if not isinstance(outputs, Mapping) or not isinstance(outputs.get("items"), list):
        return None
    items = [i for i in outputs["items"] if isinstance(i, Mapping) and "product_id" in i]
    items.sort(key=lambda i: i.get("rank", math.inf))
    k = outputs.get("k")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        k = len(items)
    if k < 1:
        return None
    return [str(i["product_id"]) for i in items], k


def _ranking_rows(
    engine: Engine,
    use_case: UseCase,
    *,
    start: datetime | None,
    end: datetime | None,
    as_of: datetime,
) -> tuple[pd.DataFrame, int]:
    """Per labelled user: the metrics of their last list against the product taken up."""
    labelled = labelled_inferences(
        engine, use_case.name, start=start, end=end, as_of=as_of, raw=("outputs",)
    )
    records = []
    for row in labelled.itertuples(index=False):
        ranked = _ranked_items(row.outputs)
        if ranked is None:
            continue
        items, k = ranked
        wanted = {str(row.label)}
        records.append(
            {
                "created_at": row.created_at,
                "model_version": str(row.model_version),
                "k": k,
                "hit": float(recall_at_k(items, wanted, k) > 0),
                "precision_at_k": precision_at_k(items, wanted, k),
                "recall_at_k": recall_at_k(items, wanted, k),
                "ndcg_at_k": ndcg_at_k(items, wanted, k),
                # One relevant item: average precision is 1 / its rank (0 outside the top k).
                "mrr": average_precision_at_k(items, wanted, k),
            }
        )
    columns = ["created_at", "model_version", "k", "hit", "precision_at_k"]
    columns += ["recall_at_k", "ndcg_at_k", "mrr"]
    return pd.DataFrame(records, columns=columns), len(labelled)


def _ranking_metrics(rows: pd.DataFrame) -> Metrics:
    n = len(rows)
    ks = rows["k"].unique()

    def mean(column: str) -> float | None:
        return _number(rows[column].mean()) if n else None

    return {
        "n": n,
        "hit_rate": mean("hit"),
        "precision_at_k": mean("precision_at_k"),
        "recall_at_k": mean("recall_at_k"),
        "ndcg_at_k": mean("ndcg_at_k"),
        "mrr": mean("mrr"),
        # Each row is graded at its own logged k; a single number only when they agree.
        "k": int(ks[0]) if len(ks) == 1 else None,
    }


# -- forecast ----------------------------------------------------------------------------------


def _series(inputs: Any) -> dict[pd.Timestamp, float]:
    """``inputs.series`` as {UTC timestamp: value}; empty when absent or malformed."""
    points = inputs.get("series") if isinstance(inputs, Mapping) else None
    out: dict[pd.Timestamp, float] = {}
    for point in points if isinstance(points, list) else ():
        try:
            out[pd.Timestamp(point["timestamp"]).tz_convert(UTC)] = float(point["value"])
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _steps(outputs: Any) -> list[dict[str, Any]]:
    """Logged forecast steps with a parsed UTC ``stamp``; empty for other outputs (trend)."""
    steps = outputs.get("forecasts") if isinstance(outputs, Mapping) else None
    out = []
    for step in steps if isinstance(steps, list) else ():
        try:
            out.append({**step, "stamp": pd.Timestamp(step["timestamp"]).tz_convert(UTC)})
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _naive_scale_series(
    seen: dict[pd.Timestamp, float], later: dict[pd.Timestamp, float], first: pd.Timestamp
) -> list[float]:
    """The series a forecast's MASE is scaled by (see the module docstring), oldest first."""
    if len(seen) >= 2:
        return [seen[t] for t in sorted(seen)]
    before = [later[t] for t in sorted(later) if t < first]
    return before if len(before) >= 2 else [later[t] for t in sorted(later)]


def _level(step: Mapping[str, Any], level: str) -> tuple[float, float] | None:
    lower, upper = step.get("lower"), step.get("upper")
    if not isinstance(lower, Mapping) or not isinstance(upper, Mapping):
        return None
    if level not in lower or level not in upper:
        return None
    return float(lower[level]), float(upper[level])


def _forecast_rows(
    engine: Engine,
    use_case: UseCase,
    *,
    start: datetime | None,
    end: datetime | None,
    as_of: datetime,
) -> tuple[pd.DataFrame, int]:
    """Per graded forecast: its points' errors, interval hits and its MASE."""
    # Everything logged up to as_of (inclusive) from start on: forecasts in [start, end) and the
    # later requests whose series hold their realised prices (possibly after end).
    logged = logged_values(
        engine,
        use_case.name,
        {},
        start=start,
        end=as_of + timedelta(microseconds=1),
        raw=("inputs", "outputs"),
    )
    logged = logged[logged["entity_id"].notna()] if not logged.empty else logged
    sent: dict[str, list[tuple[pd.Timestamp, dict[pd.Timestamp, float]]]] = defaultdict(list)
    forecasts = []
    for row in logged.itertuples(index=False):
        created = pd.Timestamp(str(row.created_at))
        series = _series(row.inputs)
        if series:
            sent[str(row.entity_id)].append((created, series))
        steps = _steps(row.outputs)
        if steps and (end is None or created < end):
            forecasts.append((row, created, series, steps))
    records = []
    for row, created, seen, steps in forecasts:
        later_sends = [s for when, s in sent[str(row.entity_id)] if when > created]
        later: dict[pd.Timestamp, float] = {}
        for series in later_sends:  # oldest first: the earliest report of a price wins
            for stamp, value in series.items():
                later.setdefault(stamp, value)
        graded = [(step, later[step["stamp"]]) for step in steps if step["stamp"] in later]
        if not graded:
            continue
        truth = np.array([value for _, value in graded])
        pred = np.array([float(step["mean"]) for step, _ in graded])
        record: dict[str, Any] = {
            "created_at": created,
            "model_version": str(row.model_version),
            "n_points": len(graded),
            "abs_error_sum": float(np.abs(truth - pred).sum()),
        }
        scale = _naive_scale_series(seen, later, steps[0]["stamp"])
        try:
            record["mase"] = mase(truth, pred, y_train=scale)
        except ValueError:  # fewer than two points or a constant series: no scale
            record["mase"] = math.nan
        for level in ("80", "95"):
            bounds = [_level(step, level) for step, _ in graded]
            if all(b is not None for b in bounds):
                low = [b[0] for b in bounds if b is not None]
                high = [b[1] for b in bounds if b is not None]
                record[f"inside_{level}"] = interval_coverage(truth, low, high) * len(graded)
            else:
                record[f"inside_{level}"] = math.nan
        records.append(record)
    columns = ["created_at", "model_version", "n_points", "abs_error_sum", "mase"]
    columns += ["inside_80", "inside_95"]
    frame = pd.DataFrame(records, columns=columns)
    return frame, len(frame)


def _forecast_metrics(rows: pd.DataFrame) -> Metrics:
    n_points = int(rows["n_points"].sum()) if len(rows) else 0

    def coverage(level: str) -> float | None:
        known = rows[rows[f"inside_{level}"].notna()]
        points = known["n_points"].sum()
        return _number(known[f"inside_{level}"].sum() / points) if points else None

    return {
        "n_forecasts": len(rows),
        "n_points": n_points,
        "mase": _number(rows["mase"].mean()) if rows["mase"].notna().any() else None,
        "mae": _number(rows["abs_error_sum"].sum() / n_points) if n_points else None,
        "coverage_80": coverage("80"),
        "coverage_95": coverage("95"),
    }


# -- windows and the entry point ---------------------------------------------------------------


def _bucket_bounds(
    created: pd.Series, bucket: Bucket
) -> tuple[pd.Series, Callable[[pd.Timestamp], pd.Timestamp]]:
    """Each row's window start (UTC), and how to get a window's end from its start."""
    day = created.dt.tz_convert(UTC).dt.floor("D")
    if bucket == "day":
        return day, lambda t: t + pd.Timedelta(days=1)
    if bucket == "week":
        monday = day - pd.to_timedelta(day.dt.weekday, unit="D")
        return monday, lambda t: t + pd.Timedelta(days=7)
    first = day - pd.to_timedelta(day.dt.day - 1, unit="D")
    return first, lambda t: t + pd.DateOffset(months=1)


def _version_key(version: str) -> tuple[int, int, str]:
    """Registry versions are integers as text: sort 2 before 10, anything else after."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _grouped(rows: pd.DataFrame, keys: Iterable[Any], by: pd.Series, fn: MetricFn) -> list[Metrics]:
    return [fn(rows[by == key]) for key in keys]


def live_performance(
    engine: Engine,
    use_case: UseCase,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    as_of: datetime | None = None,
    bucket: Bucket | None = "day",
    maturity_days: float | None = None,
) -> dict[str, Any]:
    """Live quality of ``use_case`` on inferences logged in ``[start, end)``, as known at ``as_of``.

    Returns a JSON-able dict: ``use_case``, ``kind``, ``start``, ``end``, ``as_of`` (ISO 8601
    or None; ``as_of`` defaults to now), ``n_labelled`` (labelled inferences found; for
    forecasts, the forecasts with a realised price), ``overall``, ``windows`` (one per
    ``bucket`` of ``created_at`` holding graded rows, oldest first, each with ``start`` and
    ``end`` beside the metrics; empty when ``bucket`` is None) and ``by_version``. The metric
    keys per kind are :data:`METRIC_KEYS`; see the module docstring for each kind's rule.
    For classification, ``shadow`` maps each challenger version that scored in shadow to
    ``{"n", "champion_versions", "champion", "challenger"}``: both models' metrics on the very
    rows both scored.
    ``maturity_days`` only applies to classification. Naive datetimes are a ValueError.
    """
    for value, name in ((start, "start"), (end, "end"), (as_of, "as_of")):
        _aware(value, name)
    if bucket is not None and bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)} or None, got {bucket!r}")
    if maturity_days is not None and not (math.isfinite(maturity_days) and maturity_days >= 0):
        raise ValueError(f"maturity_days must be a non-negative number, got {maturity_days}")
    if start is not None and end is not None and start >= end:
        raise ValueError("end must be after start")
    resolved = as_of if as_of is not None else datetime.now(UTC)
    kind = use_case.performance_kind
    fn: MetricFn
    if kind == "classification":
        rows, n_labelled = _classification_rows(
            engine, use_case, start=start, end=end, as_of=resolved, maturity_days=maturity_days
        )
        fn = _classification_metrics
    elif kind == "ranking":
        rows, n_labelled = _ranking_rows(engine, use_case, start=start, end=end, as_of=resolved)
        fn = _ranking_metrics
    elif kind == "forecast":
        rows, n_labelled = _forecast_rows(engine, use_case, start=start, end=end, as_of=resolved)
        fn = _forecast_metrics
    else:
        raise ValueError(f"unknown performance kind {kind!r} of use case {use_case.name}")

    windows: list[Metrics] = []
    if bucket is not None and len(rows):
        starts, end_of = _bucket_bounds(rows["created_at"], bucket)
        keys = sorted(starts.unique())
        for key, metrics in zip(keys, _grouped(rows, keys, starts, fn), strict=True):
            stamp = pd.Timestamp(key)
            windows.append({"start": _iso(stamp), "end": _iso(end_of(stamp)), **metrics})
    by_version: dict[str, Metrics] = {}
    if len(rows):
        versions = sorted(rows["model_version"].unique(), key=_version_key)
        graded = _grouped(rows, versions, rows["model_version"], fn)
        by_version = dict(zip(versions, graded, strict=True))
    return {
        "use_case": use_case.name,
        "kind": kind,
        "start": _iso(start),
        "end": _iso(end),
        "as_of": _iso(resolved),
        "n_labelled": int(n_labelled),
        "overall": fn(rows),
        "windows": windows,
        "by_version": by_version,
        "shadow": _shadow(rows) if kind == "classification" and len(rows) else {},
    }
