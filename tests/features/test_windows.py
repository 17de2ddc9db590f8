"""Window semantics, hand-computed, on the offline computation and both online stores.

Every hand case runs three ways (offline on a frame, in-process store, Redis store) against the
same expected numbers, so a boundary taken differently anywhere shows up as a failure here,
before the random parity test has to find it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence

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

T = 1_700_000_000
D = DAY_S

MakeStore = Callable[[WindowSpec], OnlineFeatureStore]
Compute = Callable[[WindowSpec, Sequence[Event]], list[list[float]]]


def ev(
    event_id: str,
    ts: int,
    cents: int,
    card: str = "c1",
    label: int | None = None,
    terminal: str = "t1",
) -> Event:
    return Event(event_id, ts, cents, {"card_id": card, "terminal_id": terminal}, label)


def to_frame(events: Sequence[Event]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [e.event_id for e in events],
            "ts": np.array([e.ts for e in events], dtype=np.int64),
            "amount_cents": np.array([e.amount_cents for e in events], dtype=np.int64),
            "card_id": [e.keys["card_id"] for e in events],
            "terminal_id": [e.keys["terminal_id"] for e in events],
            "label": pd.array([e.label for e in events], dtype="Int64"),
        }
    )


def replay(store: OnlineFeatureStore, events: Sequence[Event]) -> list[list[float]]:
    """Score then record each event; its label is known right after (used by delayed windows)."""
    rows = []
    for event in events:
        unlabelled = Event(event.event_id, event.ts, event.amount_cents, event.keys)
        rows.append(store.lookup_and_record(unlabelled))
        if event.label is not None:
            assert store.record_label(event.event_id, event.label)
    return rows


def redis_store_factory(url: str, stores: list[RedisFeatureStore], **kwargs: bool) -> MakeStore:
    def make(spec: WindowSpec) -> OnlineFeatureStore:
        client = redis.Redis.from_url(url, **kwargs)
        store = RedisFeatureStore(spec, client, namespace=f"test:{uuid.uuid4().hex[:8]}")
        stores.append(store)
        return store

    return make


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_store(request: pytest.FixtureRequest) -> Iterator[MakeStore]:
    """A factory of online stores: in-process, then Redis (db 15, flushed)."""
    if request.param == "memory":
        yield InMemoryFeatureStore
        return
    stores: list[RedisFeatureStore] = []
    yield redis_store_factory(request.getfixturevalue("redis_url"), stores)
    for store in stores:
        store.close()


@pytest.fixture(params=["offline", "memory", pytest.param("redis", marks=pytest.mark.redis)])
def compute(request: pytest.FixtureRequest) -> Iterator[Compute]:
    """Features of a stream, by each of the three implementations."""
    if request.param == "offline":
        yield lambda spec, events: window_features(to_frame(events), spec).to_numpy().tolist()
        return
    stores: list[RedisFeatureStore] = []
    if request.param == "memory":
        make: MakeStore = InMemoryFeatureStore
    else:
        make = redis_store_factory(request.getfixturevalue("redis_url"), stores)
    yield lambda spec, events: replay(make(spec), events)
    for store in stores:
        store.close()


CARD_1D = WindowSpec((EntityWindows("card_id", "card", (1,), outputs=("count", "mean_amount")),))


# --- the window definition, hand-computed -------------------------------------------------


def test_delay0_window_excludes_t_minus_w_and_includes_t(compute: Compute) -> None:
    events = [ev("a", T - D, 100), ev("b", T - D + 1, 300), ev("c", T, 500)]
    # c: a sits exactly at t - 1 day (excluded), b just inside, c itself included.
    assert compute(CARD_1D, events) == [[1.0, 1.0], [2.0, 2.0], [2.0, 4.0]]


def test_equal_timestamps_count_in_stream_order(compute: Compute) -> None:
    events = [ev("x", T, 100), ev("y", T, 200), ev("z", T, 600)]
    assert compute(CARD_1D, events) == [[1.0, 1.0], [2.0, 1.5], [3.0, 3.0]]


def test_entities_do_not_mix(compute: Compute) -> None:
    spec = WindowSpec(
        (
            EntityWindows("card_id", "card", (1,), outputs=("count",)),
            EntityWindows("terminal_id", "term", (1,), outputs=("count", "mean_amount")),
        )
    )
    events = [
        ev("a", T, 100, card="c1", terminal="t1"),
        ev("b", T + 1, 300, card="c2", terminal="t1"),
        ev("c", T + 2, 500, card="c1", terminal="t2"),
    ]
    assert compute(spec, events) == [[1.0, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 1.0, 5.0]]


def test_delayed_window_bounds_and_labels(compute: Compute) -> None:
    spec = WindowSpec(
        (
            EntityWindows(
                "card_id", "lag", (1,), delay_days=1, outputs=("count", "mean_amount", "label_rate")
            ),
        )
    )
    events = [
        ev("p0", T - 2 * D, 1000, label=0),  # at t - 2d for q: excluded
        ev("p1", T - 2 * D + 1, 2000, label=1),  # just inside
        ev("p2", T - D, 4000),  # exactly t - 1d: included (label unknown = 0)
        ev("p3", T - D + 1, 8000, label=1),  # too recent: excluded
        ev("q", T, 16000),  # the event itself is never in a delayed window
    ]
    assert compute(spec, events) == [
        [0.0, 0.0, 0.0],  # p0: (T-4d, T-3d] is empty
        [0.0, 0.0, 0.0],  # p1: (T-4d+1, T-3d+1] is empty
        [1.0, 10.0, 0.0],  # p2: (T-3d, T-2d] = {p0}
        [2.0, 15.0, 0.5],  # p3: (T-3d+1, T-2d+1] = {p0, p1}
        [2.0, 30.0, 0.5],  # q: (T-2d, T-1d] = {p1, p2}
    ]


def test_label_rate_counts_unknown_labels_as_zero(compute: Compute) -> None:
    spec = WindowSpec(
        (EntityWindows("card_id", "lag", (7,), delay_days=1, outputs=("label_rate",)),)
    )
    labels = [1, None, 0, None]
    events = [ev(f"e{i}", T + i, 100, label=label) for i, label in enumerate(labels)]
    events.append(ev("q", T + 3 * D, 100))
    assert compute(spec, events)[-1] == [0.25]


# --- the online stores --------------------------------------------------------------------


def test_recording_the_same_event_twice_counts_it_once(make_store: MakeStore) -> None:
    store = make_store(CARD_1D)
    first = store.lookup_and_record(ev("a", T, 100))
    assert store.lookup_and_record(ev("a", T, 100)) == first == [1.0, 1.0]
    # A late event, then a retry of "a": it sees the late one and itself, once.
    assert store.lookup_and_record(ev("b", T - 10, 300)) == [1.0, 3.0]
    assert store.lookup_and_record(ev("a", T, 100)) == [2.0, 2.0]
    assert store.lookup_and_record(ev("c", T + 1, 500)) == [3.0, 3.0]


def test_a_retried_event_is_never_in_its_own_delayed_window(make_store: MakeStore) -> None:
    spec = WindowSpec(
        (EntityWindows("card_id", "lag", (1,), delay_days=1, outputs=("count", "label_rate")),)
    )
    store = make_store(spec)
    store.lookup_and_record(ev("a", T, 100, label=1))
    store.lookup_and_record(ev("b", T + 1, 100, label=1))
    store.lookup_and_record(ev("c", T + 2, 100, label=0))
    # A retry of "a" carrying a later time: its stored copy falls in the delayed window.
    assert store.lookup(ev("a", T + D + D // 2, 100)) == [2.0, 0.5]
    assert store.lookup(ev("q", T + D + D // 2, 100)) == [3.0, 2 / 3]


def test_lookup_does_not_record(make_store: MakeStore) -> None:
    store = make_store(CARD_1D)
    assert store.lookup(ev("a", T, 100)) == [1.0, 1.0]
    assert store.lookup(ev("a", T, 100)) == [1.0, 1.0]
    assert store.lookup_and_record(ev("b", T, 300)) == [1.0, 3.0]
    assert store.lookup(ev("b", T, 300)) == [1.0, 3.0]  # b is recorded: counted once


def test_record_label(make_store: MakeStore) -> None:
    spec = WindowSpec(
        (EntityWindows("card_id", "lag", (1,), delay_days=1, outputs=("label_rate",)),)
    )
    store = make_store(spec)
    assert store.record_label("nope", 1) is False
    store.lookup_and_record(ev("a", T, 100))
    store.lookup_and_record(ev("b", T + 1, 100, label=1))  # label known when recorded
    assert store.record_label("a", 1) is True
    assert store.lookup(ev("q", T + D + 10, 100)) == [1.0]
    assert store.record_label("a", 0) is True  # a label can be corrected
    assert store.lookup(ev("q", T + D + 10, 100)) == [0.5]
    with pytest.raises(ValueError, match="0 or 1"):
        store.record_label("a", 2)


def test_out_of_order_arrival_is_inserted_in_place(make_store: MakeStore) -> None:
    spec = WindowSpec(
        (
            EntityWindows("card_id", "card", (1,), outputs=("count", "mean_amount")),
            EntityWindows("card_id", "lag", (1,), delay_days=1, outputs=("count", "mean_amount")),
        )
    )
    store = make_store(spec)
    assert store.lookup_and_record(ev("e1", T, 100))[:2] == [1.0, 1.0]
    assert store.lookup_and_record(ev("e3", T + 200, 300))[:2] == [2.0, 2.0]
    # e2 arrives late: it sees e1 and itself, not e3 which is after it in time.
    assert store.lookup_and_record(ev("e2", T + 100, 200))[:2] == [2.0, 1.5]
    assert store.lookup_and_record(ev("e4", T + 300, 400))[:2] == [4.0, 2.5]
    assert store.lookup(ev("q", T + D + 1000, 0))[2:] == [4.0, 2.5]


def test_missing_entity_key_is_an_error(make_store: MakeStore) -> None:
    store = make_store(CARD_1D)
    with pytest.raises(ValueError, match="card_id"):
        store.lookup_and_record(Event("a", T, 100, {"terminal_id": "t1"}))


EVICTION_SPEC = WindowSpec(
    (
        EntityWindows("card_id", "card", (1, 7), outputs=("count", "mean_amount")),
        EntityWindows("terminal_id", "term", (3,), delay_days=2, outputs=("label_rate",)),
    )
)
# 120 days, one event every 6 hours: far more history than the 7-day horizon.
EVICTION_EVENTS = [ev(f"e{i}", T + i * 6 * 3600, 100 + i, label=i % 3 % 2) for i in range(480)]


def test_eviction_keeps_in_horizon_results_identical(make_store: MakeStore) -> None:
    assert EVICTION_SPEC.horizon_days == 7
    store = make_store(EVICTION_SPEC)
    expected = window_features(to_frame(EVICTION_EVENTS), EVICTION_SPEC).to_numpy().tolist()
    assert replay(store, EVICTION_EVENTS) == expected
    if isinstance(store, InMemoryFeatureStore):
        assert len(store) <= 7 * 4 + 1


@pytest.mark.redis
def test_redis_eviction_bounds_keys_and_sets_ttl(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = RedisFeatureStore(EVICTION_SPEC, redis.Redis.from_url(redis_url), namespace="ev")
    replay(store, EVICTION_EVENTS)
    held = sorted(client.scan_iter(match="ev:[zap]:*"))
    assert held == [
        b"ev:a:card_id:c1",
        b"ev:a:terminal_id:t1",
        b"ev:p:card_id:c1",
        b"ev:p:terminal_id:t1",
        b"ev:z:card_id:c1",
        b"ev:z:terminal_id:t1",
    ]
    for key in held:
        size = client.hlen(key) if key.startswith(b"ev:a:") else client.zcard(key)
        assert 0 < size <= 7 * 4 + 1
        assert 0 < client.ttl(key) <= (7 + 1) * DAY_S
    # The event index expires with the windows.
    assert 0 < client.ttl("ev:e:e479") <= (7 + 1) * DAY_S
    assert store.record_label("e1", 1) is False  # evicted: no orphan label is written
    assert client.zscore("ev:p:card_id:c1", "e1") is None
    store.close()
    client.close()


def test_in_memory_drops_keys_that_went_quiet() -> None:
    store = InMemoryFeatureStore(CARD_1D)
    for i in range(50):
        store.lookup_and_record(ev(f"old{i}", T, 100, card=f"c{i}"))
    assert len(store) == 50
    store.lookup_and_record(ev("new", T + 2 * D, 100, card="c-new"))
    assert len(store) == 1
    assert store.lookup_and_record(ev("back", T + 2 * D, 300, card="c1")) == [1.0, 3.0]
    assert store.record_label("old1", 1) is False


def test_concurrent_calls_are_atomic(make_store: MakeStore) -> None:
    store = make_store(CARD_1D)
    counts: list[float] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        for i in range(100):
            count = store.lookup_and_record(ev(f"w{worker}-{i}", T, 100))[0]
            with lock:
                counts.append(count)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [float(i) for i in range(1, 401)]


@pytest.mark.redis
def test_redis_store_with_decoded_responses_and_big_windows(redis_url: str) -> None:
    """decode_responses=True works, and windows beyond one HMGET chunk (2,000) sum exactly."""
    stores: list[RedisFeatureStore] = []
    spec = WindowSpec(
        (
            EntityWindows(
                "card_id", "lag", (1,), delay_days=1, outputs=("count", "mean_amount", "label_rate")
            ),
        )
    )
    store = redis_store_factory(redis_url, stores, decode_responses=True)(spec)
    # Amounts near 10**10 cents: the 2,100-event sum (~2.1e13) is exact in Lua's doubles.
    events = [ev(f"e{i}", T + i, 10_000_000_007 + i, label=i % 2) for i in range(2_100)]
    for event in events:
        store.lookup_and_record(event)  # labels known at record time: no extra round trips
    assert store.record_label("e0", 1) is True  # the label path decodes the index hash
    events[0] = ev("e0", T, 10_000_000_007, label=1)
    query = ev("q", T + D + 2_100, 1)
    expected = window_features(to_frame([*events, query]), spec).to_numpy().tolist()[-1]
    cents = sum(e.amount_cents for e in events)
    assert store.lookup(query) == expected == [2_100.0, cents / 2_100 / 100, 1_051 / 2_100]
    store.close()


# --- the declaration ------------------------------------------------------------------


def test_feature_names_and_horizon() -> None:
    spec = WindowSpec(
        (
            EntityWindows("card_id", "card", (30, 1), outputs=("mean_amount", "count")),
            EntityWindows("terminal_id", "term", (7,), delay_days=7, outputs=("label_rate",)),
        )
    )
    assert spec.feature_names == (
        "card_mean_amount_30d",
        "card_count_30d",
        "card_mean_amount_1d",
        "card_count_1d",
        "term_label_rate_7d",
    )
    assert spec.horizon_days == 30
    assert spec.entities == ("card_id", "terminal_id")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outputs": ("label_rate",)}, "delay_days > 0"),
        ({"windows_days": (1, 1)}, "duplicates"),
        ({"windows_days": (0,)}, "positive"),
        ({"windows_days": ()}, "positive"),
        ({"outputs": ("median",)}, "outputs"),
        ({"outputs": ()}, "outputs"),
        ({"delay_days": -1}, "delay_days"),
        ({"entity": "card:id"}, "':'"),
        ({"prefix": ""}, "prefix"),
    ],
)
def test_invalid_group_is_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"entity": "card_id", "prefix": "card", "windows_days": (1,)}
    with pytest.raises(ValueError, match=message):
        EntityWindows(**{**args, **kwargs})  # type: ignore[arg-type]


def test_duplicate_feature_names_are_refused() -> None:
    group = EntityWindows("card_id", "card", (1,))
    with pytest.raises(ValueError, match="duplicate"):
        WindowSpec((group, EntityWindows("terminal_id", "card", (1,))))
    with pytest.raises(ValueError, match="at least one"):
        WindowSpec(())


# --- the offline computation's contract ------------------------------------------------


def test_offline_keeps_index_and_row_order() -> None:
    events = [ev("a", T + 5, 100), ev("b", T, 300, card="c2"), ev("c", T + 1, 500)]
    frame = to_frame(events).set_index(pd.Index([30, 10, 20], name="row"))
    out = window_features(frame, CARD_1D)
    assert list(out.index) == [30, 10, 20]
    assert list(out.columns) == list(CARD_1D.feature_names)
    assert (out.dtypes == np.float64).all()
    assert out.to_numpy().tolist() == [[2.0, 3.0], [1.0, 3.0], [1.0, 5.0]]


def test_offline_empty_frame() -> None:
    out = window_features(to_frame([]), CARD_1D)
    assert out.shape == (0, 2)
    assert list(out.columns) == list(CARD_1D.feature_names)


def test_offline_refuses_bad_columns() -> None:
    frame = to_frame([ev("a", T, 100)])
    with pytest.raises(TypeError, match="ts"):
        window_features(frame.assign(ts=frame["ts"].astype(float)), CARD_1D)
    with pytest.raises(ValueError, match="missing entity"):
        window_features(frame.assign(card_id=pd.Series([None], dtype=object)), CARD_1D)
    lag = WindowSpec(
        (EntityWindows("card_id", "lag", (1,), delay_days=1, outputs=("label_rate",)),)
    )
    with pytest.raises(ValueError, match="0, 1"):
        window_features(frame.assign(label=[2]), lag)
    # Labels as floats with NaN or objects with None are fine: unknown counts as 0.
    assert window_features(frame.assign(label=[np.nan]), lag).shape == (1, 1)
    assert window_features(frame.assign(label=pd.Series([None], dtype=object)), lag).shape == (1, 1)
