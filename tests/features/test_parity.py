"""Training/serving parity: offline features equal online features, bit for bit.

A realistic random stream (cards, terminals, integer cents, rare fraud labels, unknown labels,
bursts of equal timestamps) is featurised once offline, then replayed event by event through
each online store. Every feature of every event must be exactly equal (``==``, no tolerance):
this is the guarantee that the model is served the same numbers it was trained on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import redis

from nexafi_ai.features import (
    DAY_S,
    EntityWindows,
    Event,
    InMemoryFeatureStore,
    OnlineFeatureStore,
    RedisFeatureStore,
    WindowSpec,
    window_features,
)

SPEC = WindowSpec(
    (
        EntityWindows("card_id", "card", (1, 7, 30), outputs=("count", "mean_amount")),
        EntityWindows(
            "terminal_id", "terminal", (1, 7, 30), delay_days=7, outputs=("count", "label_rate")
        ),
        # A second, delayed group on the same entity shares its stored events.
        EntityWindows(
            "card_id", "card_lag", (7,), delay_days=3, outputs=("label_rate", "mean_amount")
        ),
    )
)


def make_stream(n: int = 3_000, days: int = 60, seed: int = 7) -> pd.DataFrame:
    """Events in timestamp order, as they would be scored; labels as eventually known."""
    rng = np.random.default_rng(seed)
    start = 1_700_000_000
    ts = np.sort(start + rng.integers(0, days * DAY_S, n))
    bursts = rng.random(n) < 0.15
    ts[1:][bursts[1:]] = ts[:-1][bursts[1:]]  # bursts: equal to the previous timestamp
    ts = np.maximum.accumulate(ts)
    fraud = rng.random(n) < 0.02
    unknown = rng.random(n) < 0.1
    return pd.DataFrame(
        {
            "event_id": [f"tx-{i:05d}" for i in range(n)],
            "ts": ts.astype(np.int64),
            "amount_cents": np.rint(rng.lognormal(8, 1.5, n)).astype(np.int64) + 1,
            "card_id": [f"card-{c}" for c in rng.integers(0, 50, n)],
            "terminal_id": [f"term-{t}" for t in rng.integers(0, 30, n)],
            "label": pd.Series(fraud.astype(np.int64), dtype="Int64").mask(unknown),
        }
    )


@pytest.fixture(scope="module")
def stream() -> pd.DataFrame:
    frame = make_stream()
    # The stream exercises what it must: ties, positives, unknown labels.
    assert (frame["ts"].diff() == 0).sum() > 100
    assert frame["label"].sum() > 20
    assert frame["label"].isna().sum() > 100
    return frame


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[OnlineFeatureStore]:
    if request.param == "memory":
        yield InMemoryFeatureStore(SPEC)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    redis_store = RedisFeatureStore(SPEC, client, namespace=f"parity:{uuid.uuid4().hex[:8]}")
    yield redis_store
    redis_store.close()


def test_online_equals_offline_exactly(stream: pd.DataFrame, store: OnlineFeatureStore) -> None:
    offline = window_features(stream, SPEC).to_numpy().tolist()
    online: list[list[float]] = []
    columns = ["event_id", "ts", "amount_cents", "card_id", "terminal_id", "label"]
    for event_id, ts, cents, card, terminal, label in stream[columns].astype(object).to_numpy():
        event = Event(event_id, int(ts), int(cents), {"card_id": card, "terminal_id": terminal})
        online.append(store.lookup_and_record(event))
        if label is not pd.NA:
            # Known right after recording: only delayed windows read labels, and by then the
            # offline side (which has all labels) and the online store know the same ones.
            assert store.record_label(event_id, int(label))
    mismatches = [
        (stream["event_id"].iat[i], name, on, off)
        for i, (on_row, off_row) in enumerate(zip(online, offline, strict=True))
        for name, on, off in zip(SPEC.feature_names, on_row, off_row, strict=True)
        if on != off
    ]
    assert not mismatches, f"{len(mismatches)} features differ, first: {mismatches[:5]}"
    # Not vacuous: windows are populated and labels reach the delayed rates.
    values = pd.DataFrame(online, columns=list(SPEC.feature_names))
    assert values["card_count_30d"].max() > 20
    assert values["terminal_label_rate_30d"].max() > 0
    assert values["card_lag_label_rate_7d"].max() > 0


def test_offline_is_point_in_time_whatever_the_row_order(stream: pd.DataFrame) -> None:
    """Shuffled rows give each row the same features (ties keep the shuffled stream order)."""
    shuffled = stream.sample(frac=1.0, random_state=3)
    in_time_order = shuffled.sort_values("ts", kind="stable")
    got = window_features(shuffled, SPEC)
    assert got.index.equals(shuffled.index)
    expected = window_features(in_time_order, SPEC)
    pd.testing.assert_frame_equal(got.loc[in_time_order.index], expected, check_exact=True)
