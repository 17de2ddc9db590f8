"""The fraud features, declared once and computed the same way offline and online.

Windowed aggregates (per card: count and mean amount over 1, 7 and 30 days; per terminal: count
and fraud rate over 1, 7 and 30 days that ended 7 days ago, when labels are known) come from
:mod:`nexafi_ai.features`. The per-transaction features below are plain arithmetic on numbers,
so one function serves a NumPy column offline and a single float online.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from nexafi_ai.features import EntityWindows, Event, OnlineFeatureStore, WindowSpec, window_features
from nexafi_ai.usecases.fraud.schemas import TransactionIn

__all__ = [
    "FEATURE_NAMES",
    "LABEL_DELAY_DAYS",
    "WINDOWS",
    "derived_features",
    "event_of",
    "offline_features",
    "online_features",
]

LABEL_DELAY_DAYS = 7

WINDOWS = WindowSpec(
    groups=(
        EntityWindows("card_id", "card", (1, 7, 30), 0, ("count", "mean_amount")),
        EntityWindows(
            "terminal_id", "terminal", (1, 7, 30), LABEL_DELAY_DAYS, ("count", "label_rate")
        ),
    )
)
DERIVED_NAMES = ("amount", "is_weekend", "is_night", "hour", "amount_to_card_mean_30d")
FEATURE_NAMES: tuple[str, ...] = (*DERIVED_NAMES, *WINDOWS.feature_names)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
N = TypeVar("N", float, np.ndarray)


def derived_features(amount: N, ts: Any, card_mean_30d: N) -> tuple[N, N, N, N, N]:
    """Per-transaction features from amount, epoch seconds (UTC) and the card's 30-day mean.

    >>> derived_features(120.0, 1_743_465_600 + 3 * 3600, 40.0)  # 2025-04-01 03:00 UTC, Tuesday
    (120.0, 0.0, 1.0, 3.0, 2.926829268292683)
    """
    weekday = (ts // 86400 + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    hour = (ts % 86400) // 3600
    return (
        amount,
        (weekday >= 5) * 1.0,
        (hour <= 6) * 1.0,
        hour * 1.0,
        amount / (card_mean_30d + 1.0),
    )


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def event_of(tx: TransactionIn) -> Event:
    """The feature-store event of a request."""
    return Event(
        event_id=tx.transaction_id,
        ts=epoch_seconds(tx.timestamp),
        amount_cents=round(tx.amount * 100),
        keys={"card_id": tx.card_id, "terminal_id": tx.terminal_id},
    )


def _assemble(amount: Any, ts: Any, windows: Sequence[Any]) -> list[Any]:
    by_name = dict(zip(WINDOWS.feature_names, windows, strict=True))
    return [*derived_features(amount, ts, by_name["card_mean_amount_30d"]), *windows]


def online_features(
    tx: TransactionIn, store: OnlineFeatureStore, *, record: bool = True
) -> list[float]:
    """Feature row of one request, as of its timestamp; records it into the windows."""
    event = event_of(tx)
    windows = store.lookup_and_record(event) if record else store.lookup(event)
    return _assemble(tx.amount, event.ts, windows)


def offline_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time feature table for stored transactions (rows in input order).

    Needs ``timestamp``, ``card_id``, ``terminal_id``, ``amount`` and, for the terminal fraud
    rates, ``is_fraud`` (unknown labels count as not fraud, as online).
    """
    ts = (pd.to_datetime(transactions["timestamp"], utc=True).astype("int64") // 10**9).to_numpy()
    amount = transactions["amount"].to_numpy(dtype=float)
    events = pd.DataFrame(
        {
            "card_id": transactions["card_id"].to_numpy(),
            "terminal_id": transactions["terminal_id"].to_numpy(),
            "ts": ts,
            "amount_cents": np.round(amount * 100).astype(np.int64),
            "label": (
                transactions["is_fraud"].fillna(0).to_numpy(dtype=float)
                if "is_fraud" in transactions
                else np.zeros(len(transactions))
            ),
        },
        index=transactions.index,
    )
    windows = window_features(events, WINDOWS, ts="ts", amount_cents="amount_cents", label="label")
    columns = _assemble(amount, ts, [windows[name].to_numpy() for name in WINDOWS.feature_names])
    return pd.DataFrame(dict(zip(FEATURE_NAMES, columns, strict=True)), index=transactions.index)
