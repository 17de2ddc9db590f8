"""Transaction tables: the built-in simulator and users' own CSV / Parquet exports.

Every source is turned into one standard table (``transaction_id``, ``timestamp`` (UTC),
``card_id``, ``terminal_id``, ``amount``, ``is_fraud`` and any extra columns), so training,
evaluation and batch scoring have a single path. Users map their own column names with
``field=COLUMN``; common spellings are recognised without a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from nexafi_ai.pii import contains_pan

__all__ = ["OPTIONAL_FIELDS", "STANDARD_FIELDS", "standardise"]

STANDARD_FIELDS = ("transaction_id", "timestamp", "card_id", "terminal_id", "amount", "is_fraud")
#: Categorical request fields a transaction may carry beside the standard ones: sent in
#: examples, rebuilt from the log for retraining, watched for drift.
OPTIONAL_FIELDS = ("currency", "mcc", "channel", "country", "card_country")

#: Spellings seen in card exports, tried when the user gives no mapping for a field.
_ALIASES: dict[str, tuple[str, ...]] = {
    "transaction_id": ("transaction_id", "tx_id", "TRANSACTION_ID", "trans_num", "id"),
    "timestamp": ("timestamp", "TX_DATETIME", "trans_date_trans_time", "datetime", "time", "Time"),
    "card_id": ("card_id", "CUSTOMER_ID", "customer_id", "card_token", "cc_num_token"),
    "terminal_id": ("terminal_id", "TERMINAL_ID", "merchant", "merchant_id"),
    "amount": ("amount", "TX_AMOUNT", "amt", "Amount"),
}


def _find(frame: pd.DataFrame, field: str, mapping: Mapping[str, str]) -> str | None:
    if field in mapping:
        column = mapping[field]
        if column not in frame.columns:
            raise ValueError(f"--column {field}={column}: no column {column!r} in the file")
        return column
    return next((c for c in _ALIASES.get(field, ()) if c in frame.columns), None)


def _timestamps(values: pd.Series) -> pd.Series:
    """Datetimes as UTC; plain numbers are seconds from the start of the export."""
    if pd.api.types.is_numeric_dtype(values):
        return pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(
            values.astype(float), unit="s"
        )
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = int(parsed.isna().sum() - values.isna().sum())
    if bad:
        raise ValueError(f"{bad} timestamps could not be parsed")
    return parsed


def standardise(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    positive_label: str | None = None,
    time_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rename a user's table to the standard fields and check it.

    ``target`` becomes ``is_fraud`` (1 where it equals ``positive_label``, or where it is truthy
    for 0/1 and boolean columns). Rows keep their order. Card and terminal columns are checked
    for full card numbers: such a file is refused rather than copied into our stores.
    """
    mapping = dict(mapping or {})
    if time_column:
        mapping["timestamp"] = time_column
    out = pd.DataFrame(index=frame.index)
    used: set[str] = set()
    for field in ("transaction_id", "timestamp", "card_id", "terminal_id", "amount"):
        column = _find(frame, field, mapping)
        if column is None:
            continue
        out[field] = frame[column]
        used.add(column)
    if "timestamp" not in out:
        raise ValueError("no time column: pass --time-column COL (datetimes or seconds)")
    out["timestamp"] = _timestamps(out["timestamp"])
    if "transaction_id" not in out:
        out["transaction_id"] = [f"row_{i}" for i in range(len(frame))]
    out["transaction_id"] = out["transaction_id"].astype(str)
    for field in ("card_id", "terminal_id"):
        if field in out:
            out[field] = out[field].astype(str)
            sample = out[field].head(1000)
            if any(contains_pan(v) for v in sample):
                raise ValueError(f"column for {field} holds full card numbers; tokenise them first")
    if "amount" in out:
        out["amount"] = pd.to_numeric(out["amount"], errors="raise").astype(float)
        if (out["amount"] < 0).any():
            raise ValueError("amount has negative values")
    if target is not None:
        if target not in frame.columns:
            raise ValueError(f"--target {target}: no such column")
        out["is_fraud"] = _labels(frame[target], positive_label)
        used.add(target)
    for column in frame.columns:
        if column not in used and column not in out.columns:
            out[column] = frame[column]
    return out


def _labels(values: pd.Series, positive_label: str | None) -> pd.Series:
    if positive_label is not None:
        return (values.astype(str) == str(positive_label)).astype(np.int8)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        distinct = set(pd.unique(values.dropna()))
        if not distinct <= {0, 1}:
            raise ValueError(
                f"target has values {sorted(map(str, distinct))[:5]}: pass --positive-label"
            )
        return values.fillna(0).astype(np.int8)
    raise ValueError("target is not 0/1: pass --positive-label VALUE")
