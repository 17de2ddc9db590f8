"""Offline windowed features: the whole event history at once, point-in-time correct.

Training sets need, for every historical event, the features the online store would have
returned when that event was scored; nothing later may leak in. A per-row loop over millions
of events is far too slow, so each entity is handled with one stable sort and binary searches:
rows are ordered by (entity, ts, input position) under an int64 composite key
``entity_code * stride + ts``, window bounds are found with ``np.searchsorted`` on that key
(the padding in ``stride`` keeps a bound from reaching into the previous entity), and sums
come from prefix sums. The bounds and the float expressions are those of :mod:`.spec`, which
the online stores use too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from nexafi_ai.features.spec import DAY_S, WindowSpec, window_values

__all__ = ["window_features"]

_Ints = npt.NDArray[np.int64]
_Floats = npt.NDArray[np.float64]


def _int_column(frame: pd.DataFrame, column: str) -> _Ints:
    """Integer seconds or cents only: floats would silently break exact parity with online."""
    series = frame[column]
    if not pd.api.types.is_integer_dtype(series.dtype):
        raise TypeError(f"column {column!r} must be integers, got {series.dtype}")
    return series.to_numpy(dtype=np.int64)


def _label_column(frame: pd.DataFrame, column: str) -> _Ints:
    """0/1 labels; missing (None/NaN) means unknown and counts as 0, as it does online."""
    values = pd.to_numeric(frame[column]).to_numpy(dtype=np.float64, na_value=np.nan)
    known: _Floats = np.nan_to_num(values, nan=0.0)
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError(f"column {column!r} must hold 0, 1 or missing labels")
    return known.astype(np.int64)


def _entity_codes(frame: pd.DataFrame, column: str) -> tuple[_Ints, int]:
    codes, uniques = pd.factorize(frame[column], sort=False)
    if (codes < 0).any():
        raise ValueError(f"column {column!r} has missing entity values")
    return codes.astype(np.int64), len(uniques)


def window_features(
    frame: pd.DataFrame,
    spec: WindowSpec,
    *,
    ts: str = "ts",
    amount_cents: str = "amount_cents",
    label: str = "label",
) -> pd.DataFrame:
    """Features of every row of ``frame`` as of its own ``ts``, as the online stores give them.

    Returns float64 columns in ``spec.feature_names`` order with ``frame``'s index and row
    order. Among rows of one entity with the same ``ts``, the earlier row in ``frame`` counts
    as having arrived first (delay-0 windows include it for the later row, not vice versa).
    ``frame`` needs ``ts`` and ``amount_cents`` (integers), one column per entity field and,
    when an output is ``label_rate``, ``label`` (0/1, missing = unknown = 0).
    """
    n = len(frame)
    names = list(spec.feature_names)
    if n == 0:
        return pd.DataFrame(np.empty((0, len(names))), index=frame.index, columns=names)
    times = _int_column(frame, ts)
    cents = _int_column(frame, amount_cents)
    labels = _label_column(frame, label) if spec.needs_labels else None

    # Shift times to [pad, pad + span) so that key - start_s (start_s <= pad) stays inside the
    # entity's own stride: window bounds never cross into the previous entity.
    pad = spec.horizon_days * DAY_S
    t0 = int(times.min())
    stride = int(times.max()) - t0 + 1 + pad
    shifted = times - t0 + pad
    own_end = np.arange(1, n + 1, dtype=np.int64)

    # (count, cents, positives) per slot index, in input row order.
    raw: dict[int, tuple[_Floats, _Floats, _Floats]] = {}
    for entity in spec.entities:
        codes, n_codes = _entity_codes(frame, entity)
        if n_codes * stride >= 2**62:
            raise OverflowError("entity count times time span does not fit an int64 key")
        key = codes * stride + shifted
        order = np.argsort(key, kind="stable")  # stable: equal keys keep input order
        sorted_key = key[order]
        cum_cents = np.concatenate(([0], np.cumsum(cents[order])))
        cum_labels = None if labels is None else np.concatenate(([0], np.cumsum(labels[order])))
        for slot_index, slot in enumerate(spec.slots):
            if slot.entity != entity:
                continue
            bounds = slot.bounds
            lo = np.searchsorted(sorted_key, sorted_key - bounds.start_s, side="right")
            if bounds.includes_event:
                hi = own_end  # the row itself and the rows before it: stream order
            else:
                hi = np.searchsorted(sorted_key, sorted_key - bounds.end_s, side="right")
            zeros = np.zeros(n, dtype=np.int64)
            stats = [
                hi - lo,
                cum_cents[hi] - cum_cents[lo] if slot.needs_amounts else zeros,
                cum_labels[hi] - cum_labels[lo]
                if slot.needs_labels and cum_labels is not None
                else zeros,
            ]
            unsorted = []
            for values in stats:
                out = np.empty(n, dtype=np.float64)
                out[order] = values  # int64 -> float64 rounds to nearest, like float(int)
                unsorted.append(out)
            raw[slot_index] = (unsorted[0], unsorted[1], unsorted[2])

    columns = np.empty((len(names), n), dtype=np.float64)
    col = 0
    for slot_index, outputs in spec.layout:
        count, cent_sum, positives = raw[slot_index]
        for values in window_values(outputs, count, cent_sum, positives):
            columns[col] = values
            col += 1
    return pd.DataFrame(columns.T, index=frame.index, columns=names, copy=False)
