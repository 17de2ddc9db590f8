"""Feature and score drift against reference distributions frozen at training time.

Why this shape:

* **Pre-binned references.** At training we keep, per feature, only what the comparison needs:
  quantile bin edges and the share of training rows in each bin (numeric), or the category
  shares (categorical), each with an explicit *missing* bin. A jump in nulls is one of the most
  common production failures (a join that stopped matching, an upstream field renamed) and it
  should show up as drift rather than be silently dropped. The references are small JSON
  documents, so they travel with the model version and never need the training data again.
* **PSI decides the status.** Population Stability Index bands of 0.1 ("watch") and 0.25
  ("act") are the long-standing convention from credit scorecard monitoring; they are defaults,
  not constants. KS (numeric) and chi-square (categorical) are reported beside PSI for
  diagnosis, but they do not drive the status: on a window of a million rows any
  hypothesis test rejects for differences nobody cares about, while PSI measures size.
* **Vectorised.** Numeric binning is ``np.searchsorted`` on the edges plus ``np.bincount``;
  categorical values are factorised once (pandas hashing) and the few distinct values are mapped
  to reference slots; KS is computed exactly against the reference sketch with one pass of
  ``searchsorted`` into at most ``sample`` points. No Python loop touches individual rows.
* **The score is a feature.** Pass the model's output as a numeric column (e.g. ``"score"``);
  it gets a reference and a drift entry like any other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats  # type: ignore[import-untyped]

OTHER = "__other__"
"""The slot that pools rare training categories and every category unseen at training."""

Status = Literal["ok", "warn", "alert"]
_RANK: dict[str, int] = {"ok": 0, "warn": 1, "alert": 2}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class NumericReference:
    """Training distribution of one numeric feature.

    ``edges`` are the interior quantile cut points (duplicates removed, so a heavily tied
    feature gets fewer bins); value ``x`` falls in bin ``#(edges <= x)``. ``shares`` has one
    entry per bin (``len(edges) + 1``) plus a final *missing* entry (NaN or +/-inf, both of which
    mean the pipeline failed to produce a value). ``sample`` is a sorted random sample of the
    finite training values, the sketch the KS statistic is computed against.
    """

    edges: tuple[float, ...]
    shares: tuple[float, ...]
    sample: tuple[float, ...]
    n: int
    kind: Literal["numeric"] = "numeric"

    def to_json(self) -> str:
        """Serialise exactly (Python's float repr round-trips)."""
        return json.dumps(
            {
                "kind": self.kind,
                "edges": list(self.edges),
                "shares": list(self.shares),
                "sample": list(self.sample),
                "n": self.n,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> NumericReference:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        if data.get("kind") != "numeric":
            raise ValueError(f"not a numeric reference: kind={data.get('kind')!r}")
        return cls(
            edges=tuple(float(v) for v in data["edges"]),
            shares=tuple(float(v) for v in data["shares"]),
            sample=tuple(float(v) for v in data["sample"]),
            n=int(data["n"]),
        )


@dataclass(frozen=True)
class CategoricalReference:
    """Training distribution of one categorical feature.

    ``categories`` are the frequent training categories (as strings); ``shares`` has one entry
    per category, then ``__other__`` (rare training categories, and at scoring time anything
    unseen), then *missing*. Pooling the long tail keeps the reference small and stops a
    thousand one-off values from each contributing floor-level PSI noise.
    """

    categories: tuple[str, ...]
    shares: tuple[float, ...]
    n: int
    kind: Literal["categorical"] = "categorical"

    def to_json(self) -> str:
        """Serialise exactly."""
        return json.dumps(
            {
                "kind": self.kind,
                "categories": list(self.categories),
                "shares": list(self.shares),
                "n": self.n,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CategoricalReference:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        if data.get("kind") != "categorical":
            raise ValueError(f"not a categorical reference: kind={data.get('kind')!r}")
        return cls(
            categories=tuple(str(v) for v in data["categories"]),
            shares=tuple(float(v) for v in data["shares"]),
            n=int(data["n"]),
        )


Reference = NumericReference | CategoricalReference


def reference_from_json(text: str) -> Reference:
    """Load either kind of reference, dispatching on its ``kind`` field."""
    kind = json.loads(text).get("kind")
    if kind == "numeric":
        return NumericReference.from_json(text)
    if kind == "categorical":
        return CategoricalReference.from_json(text)
    raise ValueError(f"unknown reference kind: {kind!r}")


def _as_series(values: npt.ArrayLike | pd.Series) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))


def _is_numeric(series: pd.Series) -> bool:
    # Booleans are flags, i.e. categories; everything else numeric is binned.
    return bool(
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    )


def _as_float(series: pd.Series) -> FloatArray:
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _numeric_counts(edges: FloatArray, values: FloatArray) -> IntArray:
    finite = np.isfinite(values)
    idx = np.searchsorted(edges, values[finite], side="right")
    counts = np.bincount(idx, minlength=edges.size + 1).astype(np.int64)
    return np.append(counts, np.int64(values.size - int(finite.sum())))


def _categorical_counts(categories: tuple[str, ...], series: pd.Series) -> IntArray:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    slot = {c: i for i, c in enumerate(categories)}
    other, missing = len(categories), len(categories) + 1
    # Map the (few) distinct values to reference slots; rows then follow by one gather.
    lookup = np.array(
        [slot.get(str(u), other) for u in np.asarray(uniques, dtype=object)] + [missing],
        dtype=np.int64,
    )
    # NaN codes are -1, which indexes the trailing "missing" entry of ``lookup``.
    mapped = lookup[np.asarray(codes, dtype=np.int64)]
    return np.bincount(mapped, minlength=len(categories) + 2).astype(np.int64)


def counts_for(reference: Reference, values: npt.ArrayLike | pd.Series) -> IntArray:
    """Count ``values`` in the reference's slots (bins or categories, then missing last)."""
    series = _as_series(values)
    if isinstance(reference, NumericReference):
        return _numeric_counts(np.asarray(reference.edges, dtype=np.float64), _as_float(series))
    return _categorical_counts(reference.categories, series)


def reference_for(
    values: npt.ArrayLike | pd.Series,
    *,
    bins: int = 10,
    sample: int = 2000,
    seed: int = 0,
    min_share: float = 0.01,
    max_categories: int = 50,
) -> Reference:
    """Freeze the training distribution of one feature, numeric or categorical by dtype.

    Numeric: ``bins`` quantile bins (equal training mass, so every bin carries signal) and a
    sorted random sample of up to ``sample`` finite values for KS (drawn with ``seed`` so a
    retrain on the same data gives the same reference). Categorical: categories with at least
    ``min_share`` of the rows, at most ``max_categories`` of them, the rest pooled.
    """
    series = _as_series(values)
    n = len(series)
    if n == 0:
        raise ValueError("cannot build a reference from no rows")
    if _is_numeric(series):
        x = _as_float(series)
        finite = x[np.isfinite(x)]
        if finite.size:
            probs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
            edges = np.unique(np.quantile(finite, probs))
        else:
            edges = np.empty(0, dtype=np.float64)
        counts = _numeric_counts(edges, x)
        rng = np.random.default_rng(seed)
        if finite.size > sample:
            sketch = np.sort(rng.choice(finite, size=sample, replace=False))
        else:
            sketch = np.sort(finite)
        return NumericReference(
            edges=tuple(float(e) for e in edges),
            shares=tuple(float(c) / n for c in counts),
            sample=tuple(float(v) for v in sketch),
            n=n,
        )
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    present = np.bincount(codes[codes >= 0], minlength=len(uniques))
    names = [str(u) for u in np.asarray(uniques, dtype=object)]
    # Most frequent first, ties by name so the reference is deterministic.
    order = sorted(range(len(names)), key=lambda i: (-int(present[i]), names[i]))
    kept = [names[i] for i in order if present[i] / n >= min_share and names[i] != OTHER][
        :max_categories
    ]
    counts = _categorical_counts(tuple(kept), series)
    return CategoricalReference(
        categories=tuple(kept), shares=tuple(float(c) / n for c in counts), n=n
    )


def build_references(
    frame: pd.DataFrame, columns: Iterable[str] | None = None, **kwargs: Any
) -> dict[str, Reference]:
    """A reference per column (all columns by default); ``kwargs`` go to :func:`reference_for`."""
    names = list(frame.columns) if columns is None else list(columns)
    return {str(c): reference_for(frame[c], **kwargs) for c in names}


def psi(expected_shares: npt.ArrayLike, actual_counts: npt.ArrayLike, eps: float = 1e-4) -> float:
    """Population Stability Index: ``sum((a - e) * ln(a / e))`` over the slots.

    Both share vectors are floored at ``eps`` so an empty slot on either side gives a large but
    finite term instead of infinity (the usual practical convention).

    >>> round(psi([0.5, 0.5], [30, 70]), 6)
    0.16946
    """
    expected = np.maximum(np.asarray(expected_shares, dtype=np.float64), eps)
    counts = np.asarray(actual_counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        raise ValueError("PSI needs at least one actual observation")
    actual = np.maximum(counts / total, eps)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks_statistic_against(reference_sample: npt.ArrayLike, values: npt.ArrayLike) -> float:
    """Two-sample KS statistic, exactly as ``scipy.stats.ks_2samp`` computes it.

    Non-finite values are ignored (they are counted in the missing bin instead). Between two
    consecutive distinct reference points the reference ECDF is flat and the current one is
    monotone, so the supremum is reached at a reference point or just left of one. That needs
    only the current counts below/at each of the (at most a few thousand) reference points:
    one ``searchsorted`` of the current values into them, no sort of the current window.
    """
    ref = np.asarray(reference_sample, dtype=np.float64)
    ref = np.sort(ref[np.isfinite(ref)])
    cur = np.asarray(values, dtype=np.float64)
    cur = cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        return math.nan
    points, ref_counts = np.unique(ref, return_counts=True)
    m = points.size
    right = np.searchsorted(points, cur, side="right")  # #points <= x
    # x < p_j  <=>  j >= #points <= x, so the counts below each point are a cumulative sum;
    # a value equal to p_j sits at slot right - 1 and adds to the count at-or-below p_j only.
    below = np.bincount(right, minlength=m + 1)[:m]
    prev = np.maximum(right - 1, 0)
    equal = (points[prev] == cur) & (right > 0)
    at = np.bincount(prev[equal], minlength=m)
    cur_lt = np.cumsum(below) / cur.size
    cur_le = (np.cumsum(below) + at) / cur.size
    ref_cum = np.cumsum(ref_counts)
    ref_le = ref_cum / ref.size
    ref_lt = (ref_cum - ref_counts) / ref.size
    return float(max(np.max(np.abs(ref_le - cur_le)), np.max(np.abs(ref_lt - cur_lt))))


def chi_square(
    expected_shares: npt.ArrayLike, actual_counts: npt.ArrayLike, eps: float = 1e-4
) -> tuple[float, float]:
    """Pearson chi-square goodness of fit of the counts to the reference shares.

    Shares are floored at ``eps`` and renormalised so a slot that was empty at training (often
    ``__other__`` or missing) gives a large, finite statistic rather than a division by zero.
    Returns ``(statistic, p_value)``.
    """
    shares = np.maximum(np.asarray(expected_shares, dtype=np.float64), eps)
    counts = np.asarray(actual_counts, dtype=np.float64)
    expected = shares / shares.sum() * counts.sum()
    result = stats.chisquare(counts, expected)
    return float(result.statistic), float(result.pvalue)


def _status(value: float, warn: float, alert: float) -> Status:
    if value > alert:
        return "alert"
    if value > warn:
        return "warn"
    return "ok"


def drift_report(
    references: Mapping[str, Reference],
    current: pd.DataFrame,
    *,
    psi_warn: float = 0.1,
    psi_alert: float = 0.25,
) -> dict[str, Any]:
    """Drift of every referenced column of ``current`` (a window of logged inferences).

    Returns ``{"status", "n", "thresholds", "features": {name: {...}}}`` where each feature has
    ``kind``, ``psi``, ``status``, ``n``, ``missing_share`` and either ``ks`` (numeric) or
    ``chi2`` and ``p_value`` (categorical). The overall status is the worst feature status.
    """
    if psi_warn > psi_alert:
        raise ValueError("psi_warn must not exceed psi_alert")
    missing_cols = [c for c in references if c not in current.columns]
    if missing_cols:
        raise KeyError(f"columns missing from the current window: {missing_cols}")
    n = len(current)
    if n == 0:
        raise ValueError("cannot compute drift over an empty window")
    features: dict[str, dict[str, Any]] = {}
    for name, ref in references.items():
        series = current[name]
        if isinstance(ref, NumericReference):
            x = _as_float(series)
            counts = _numeric_counts(np.asarray(ref.edges, dtype=np.float64), x)
            entry: dict[str, Any] = {"kind": "numeric", "ks": ks_statistic_against(ref.sample, x)}
        else:
            counts = _categorical_counts(ref.categories, series)
            stat, p_value = chi_square(ref.shares, counts)
            entry = {"kind": "categorical", "chi2": stat, "p_value": p_value}
        value = psi(ref.shares, counts)
        entry.update(
            psi=value,
            status=_status(value, psi_warn, psi_alert),
            n=n,
            missing_share=float(counts[-1]) / n,
        )
        features[name] = entry
    overall = max((f["status"] for f in features.values()), key=_RANK.__getitem__, default="ok")
    return {
        "status": overall,
        "n": n,
        "thresholds": {"psi_warn": psi_warn, "psi_alert": psi_alert},
        "features": features,
    }
