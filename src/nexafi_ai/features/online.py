"""Online windowed features: the store protocol, the event, and the in-process store.

Scoring a card transaction needs the card's and the terminal's windows as of the transaction,
then the transaction goes into the windows; that is one call, :meth:`lookup_and_record`, on
the hot path of every request. The in-process store therefore keeps, per entity key, sorted
parallel Python lists and answers with ``bisect`` and slice sums: microseconds, no pandas or
numpy per call. Window bounds and the final float expressions come from :mod:`.spec`, the same
code the offline computation uses, so the features are identical to the training features.

What the stores compute for an event ``e`` is: the events recorded so far, other than ``e``
itself (same ``event_id``), whose timestamps fall in each window, plus ``e`` in delay-0
windows. So a retried event is never counted twice, and for a stream recorded in timestamp
order this equals the offline definition exactly. An event that arrives late is inserted at
its timestamp; events scored before it arrived keep the features they got, later ones see it.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from nexafi_ai.features.spec import DAY_S, WindowSpec

__all__ = ["Event", "InMemoryFeatureStore", "OnlineFeatureStore", "check_label", "entity_value"]


@dataclass(frozen=True, slots=True)
class Event:
    """One event (a transaction) as the online stores see it.

    ``keys`` maps each entity field of the spec to this event's value, e.g.
    ``{"card_id": "c1", "terminal_id": "t9"}``; ``label`` is 0/1 when already known (usually
    it is not; :meth:`OnlineFeatureStore.record_label` adds it later).
    """

    event_id: str
    ts: int
    amount_cents: int
    keys: Mapping[str, str]
    label: int | None = None


@runtime_checkable
class OnlineFeatureStore(Protocol):
    """Windowed features as of an event, and the record of events and their labels."""

    @property
    def spec(self) -> WindowSpec:
        """The features this store computes."""
        ...

    def lookup_and_record(self, event: Event) -> list[float]:
        """Features as of ``event.ts`` (``spec.feature_names`` order), then record the event.

        Idempotent by ``event_id``: an id already recorded is not added again, and its features
        count it once, as the current event.
        """
        ...

    def lookup(self, event: Event) -> list[float]:
        """The same features as :meth:`lookup_and_record`, without recording the event."""
        ...

    def record_label(self, event_id: str, label: int) -> bool:
        """Set the 0/1 label of a recorded event; False when the id is unknown (or evicted)."""
        ...

    def close(self) -> None:
        """Release what the store holds."""
        ...


def check_label(label: int) -> int:
    """Labels feed exact integer sums; anything but 0/1 is a caller bug, refused loudly."""
    if label not in (0, 1):
        raise ValueError(f"labels are 0 or 1, got {label!r}")
    return int(label)


def entity_value(event: Event, entity: str) -> str:
    """The event's key for ``entity``, with an error that says which field is missing."""
    try:
        return event.keys[entity]
    except KeyError:
        raise ValueError(f"event {event.event_id!r} has no {entity!r} key") from None


class _Bucket:
    """The events of one entity key, sorted by timestamp (ties: recording order)."""

    __slots__ = ("cents", "ids", "key", "labels", "ts")

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.ts: list[int] = []
        self.cents: list[int] = []
        self.labels: list[int] = []
        self.ids: list[str] = []

    def position(self, ts: int, event_id: str) -> int:
        """Where a recorded event sits: bisect to its timestamp, then scan the ties."""
        lo = bisect_left(self.ts, ts)
        return self.ids.index(event_id, lo, bisect_right(self.ts, ts))


class _Recorded:
    """A recorded event: its values (to exclude it when it is retried) and its buckets."""

    __slots__ = ("buckets", "cents", "label", "ts")

    def __init__(self, ts: int, cents: int, label: int) -> None:
        self.ts = ts
        self.cents = cents
        self.label = label
        self.buckets: list[_Bucket] = []


class InMemoryFeatureStore:
    """Windowed features in process memory: one process, microseconds per call.

    Memory is bounded by eviction: on each record, a key's events older than
    ``spec.horizon_days`` before that key's newest event are dropped, and keys whose newest
    event is older than the horizon before the newest event overall are dropped whole (checked
    in least-recently-recorded order, so the sweep costs O(1) amortised). Neither can change a
    window of an event at or after the newest recorded time; only an event arriving more than
    a horizon late can miss history. All methods take one lock, so the store can be shared by a
    thread pool.
    """

    def __init__(self, spec: WindowSpec) -> None:
        self._spec = spec
        self._horizon_s = spec.horizon_days * DAY_S
        # Per entity, its slots in spec.slots order as plain tuples (the hot loop reads them):
        # (start_s, end_s, includes_event, needs_amounts, needs_labels), from WindowBounds.
        plan: dict[str, list[tuple[int, int, bool, bool, bool]]] = {e: [] for e in spec.entities}
        for slot in spec.slots:
            b = slot.bounds
            plan[slot.entity].append(
                (b.start_s, b.end_s, b.includes_event, slot.needs_amounts, slot.needs_labels)
            )
        self._plan = tuple((entity, tuple(slots)) for entity, slots in plan.items())
        self._lock = threading.Lock()
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._recorded: dict[str, _Recorded] = {}
        self._newest: int | None = None

    @property
    def spec(self) -> WindowSpec:
        """The features this store computes."""
        return self._spec

    def __len__(self) -> int:
        """Number of events held (after eviction): what memory grows with."""
        with self._lock:
            return len(self._recorded)

    def lookup_and_record(self, event: Event) -> list[float]:
        """Features as of ``event.ts``, then record the event (see :class:`OnlineFeatureStore`)."""
        with self._lock:
            raw = self._raw(event)
            self._record(event)
        return self._spec.features_from_raw(raw)

    def lookup(self, event: Event) -> list[float]:
        """Features as of ``event.ts`` without recording it."""
        with self._lock:
            raw = self._raw(event)
        return self._spec.features_from_raw(raw)

    def record_label(self, event_id: str, label: int) -> bool:
        """Set a recorded event's label in every window list it is in."""
        label = check_label(label)
        with self._lock:
            recorded = self._recorded.get(event_id)
            if recorded is None:
                return False
            recorded.label = label
            for bucket in recorded.buckets:
                bucket.labels[bucket.position(recorded.ts, event_id)] = label
            return True

    def close(self) -> None:
        """Drop everything held."""
        with self._lock:
            self._buckets.clear()
            self._recorded.clear()
            self._newest = None

    def _raw(self, event: Event) -> list[int]:
        """The flattened (count, cents, positives) of every slot, as ``spec.slots`` orders.

        Each window is ``ts`` in ``(t - start_s, t - end_s]`` (:class:`WindowBounds`), found
        with two bisections; a stored copy of a retried event is taken out, the event itself
        is added to delay-0 windows.
        """
        t = event.ts
        retried = self._recorded.get(event.event_id)
        raw: list[int] = []
        for entity, slots in self._plan:
            bucket = self._buckets.get((entity, entity_value(event, entity)))
            if bucket is None:
                for _, _, includes_event, needs_amounts, _ in slots:
                    if includes_event:
                        raw += (1, event.amount_cents if needs_amounts else 0, 0)
                    else:
                        raw += (0, 0, 0)
                continue
            times = bucket.ts
            own = retried if retried is not None and bucket in retried.buckets else None
            for start_s, end_s, includes_event, needs_amounts, needs_labels in slots:
                lo_ts = t - start_s
                hi_ts = t - end_s
                lo = bisect_right(times, lo_ts)
                hi = bisect_right(times, hi_ts)
                count = hi - lo
                cents = sum(bucket.cents[lo:hi]) if count and needs_amounts else 0
                positives = sum(bucket.labels[lo:hi]) if count and needs_labels else 0
                if own is not None and lo_ts < own.ts <= hi_ts:
                    count -= 1
                    cents -= own.cents if needs_amounts else 0
                    positives -= own.label if needs_labels else 0
                if includes_event:
                    count += 1
                    cents += event.amount_cents if needs_amounts else 0
                raw += (count, cents, positives)
        return raw

    def _record(self, event: Event) -> None:
        if event.event_id in self._recorded:
            return
        label = 0 if event.label is None else check_label(event.label)
        keys = [(entity, entity_value(event, entity)) for entity in self._spec.entities]
        recorded = _Recorded(event.ts, event.amount_cents, label)
        self._recorded[event.event_id] = recorded
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(key)
            else:
                self._buckets.move_to_end(key)
            at = bisect_right(bucket.ts, event.ts)
            bucket.ts.insert(at, event.ts)
            bucket.cents.insert(at, event.amount_cents)
            bucket.labels.insert(at, label)
            bucket.ids.insert(at, event.event_id)
            recorded.buckets.append(bucket)
            if bucket.ts[0] <= bucket.ts[-1] - self._horizon_s:
                self._evict_old(bucket)
        if self._newest is None or event.ts > self._newest:
            self._newest = event.ts
        self._sweep_stale_keys(self._newest - self._horizon_s)

    def _forget(self, bucket: _Bucket, ids: list[str]) -> None:
        """Unlink evicted events from their bucket in the id index (drop them when unlinked)."""
        for event_id in ids:
            recorded = self._recorded[event_id]
            recorded.buckets.remove(bucket)
            if not recorded.buckets:
                del self._recorded[event_id]

    def _evict_old(self, bucket: _Bucket) -> None:
        n = bisect_right(bucket.ts, bucket.ts[-1] - self._horizon_s)
        self._forget(bucket, bucket.ids[:n])
        del bucket.ts[:n], bucket.cents[:n], bucket.labels[:n], bucket.ids[:n]

    def _sweep_stale_keys(self, cutoff: int) -> None:
        while self._buckets:
            key = next(iter(self._buckets))
            bucket = self._buckets[key]
            if bucket.ts[-1] > cutoff:
                return
            self._forget(bucket, bucket.ids)
            del self._buckets[key]
