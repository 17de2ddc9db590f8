"""Time-ordered train / validation / test splits with a label delay, never shuffled.

A fraud label is known days after the transaction (chargebacks): a model deployed at time T was
trained on transactions whose labels were known by T, so between the end of training and the
start of testing lies a gap of the label delay (Le Borgne et al.'s train / delay / test
protocol). Validation, used for early stopping and threshold choice, is the most recent slice of
the training period, so no decision ever looks at the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["TimeSplit", "time_split"]


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Boolean masks over the rows, plus the boundaries, for the model card."""

    fit: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    boundaries: dict[str, str]

    def describe(self) -> dict[str, object]:
        return {
            "fit_rows": int(self.fit.sum()),
            "valid_rows": int(self.valid.sum()),
            "test_rows": int(self.test.sum()),
            **self.boundaries,
        }


def time_split(
    timestamps: pd.Series,
    *,
    burn_in_days: int = 0,
    delay_days: int = 7,
    test_days: int = 28,
    valid_days: int = 14,
    min_span_days: int = 60,
) -> TimeSplit:
    """Split by time: ``[burn-in | fit | valid | delay | test]`` on long histories.

    Histories shorter than ``min_span_days`` (e.g. a two-day export) cannot afford whole-day
    windows: they are split 60 / 20 / 20 by time with no gap instead.
    """
    ts = pd.to_datetime(timestamps, utc=True)
    start, end = ts.min(), ts.max()
    span_days = (end - start) / pd.Timedelta(days=1)
    if span_days >= min_span_days:
        test_start = end.normalize() - pd.Timedelta(days=test_days - 1)
        train_end = test_start - pd.Timedelta(days=delay_days)
        valid_start = train_end - pd.Timedelta(days=valid_days)
        fit_start = start.normalize() + pd.Timedelta(days=burn_in_days)
    else:
        ordered = np.sort(ts.to_numpy(dtype="datetime64[ns]"))
        q60 = pd.Timestamp(ordered[int(len(ordered) * 0.6)], tz="UTC")
        q80 = pd.Timestamp(ordered[int(len(ordered) * 0.8)], tz="UTC")
        fit_start, valid_start, train_end, test_start = start, q60, q80, q80
    fit = ((ts >= fit_start) & (ts < valid_start)).to_numpy()
    valid = ((ts >= valid_start) & (ts < train_end)).to_numpy()
    test = (ts >= test_start).to_numpy()
    if not fit.any() or not valid.any() or not test.any():
        raise ValueError(
            f"not enough history to split by time ({span_days:.1f} days): "
            "need rows in the fit, validation and test periods"
        )
    bounds = {
        "fit_start": str(fit_start),
        "valid_start": str(valid_start),
        "train_end": str(train_end),
        "test_start": str(test_start),
        "test_end": str(end),
    }
    return TimeSplit(fit, valid, test, bounds)
