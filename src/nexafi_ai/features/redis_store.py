"""Windowed features in Redis: shared by every replica, one round trip per event.

Several API replicas score the same cards, so their windows must live in one place. Per entity
key there is a ZSET of its events (member ``event_id``, score ``ts``), a HASH ``event_id`` ->
cents and a ZSET of its positive events (label 1, score ``ts``). A single Lua script,
registered once, aggregates every window of every entity of the event and records it,
atomically: no other replica can slip an event between the lookup and the record, and the hot
path costs one network round trip. The script returns only raw integers (count, cent sum,
positive labels per window); the floats are made in Python by
:meth:`WindowSpec.features_from_raw`, the same expressions the offline side uses.

Counts and positives are ``ZCOUNT`` s, O(log n) whatever the volume: a busy terminal's
``count``/``label_rate`` windows stay cheap. Only ``mean_amount`` reads the amounts of every
event in its windows (about 0.5 µs per event on the server), so it suits entities with
moderate volume per window, such as cards.

Lua numbers are doubles: timestamps and cent sums are exact up to 2**53 (about 90 trillion
dollars), which is why amounts are integer cents and sums stay integers. Keys expire
``horizon + 1`` day after their last write (wall clock), and on every record the events older
than the horizon before the key's newest event are removed, as the in-process store does.
All keys of one event are touched by one script, so this needs a single Redis (or a cluster
where ``namespace`` is a hash tag such as ``"{fx}"``, which puts all keys on one shard).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import redis

from nexafi_ai.features.online import Event, check_label, entity_value
from nexafi_ai.features.spec import DAY_S, WindowSpec

__all__ = ["RedisFeatureStore"]

# KEYS: per entity (events zset, amount hash, positives zset), then the event's index hash.
# ARGV: event_id, ts, cents, label ('' = unknown), record (0/1), horizon_s, ttl_s, n_entities,
#   then per entity: n_segments, and per segment: lo (exclusive), hi (inclusive), what to sum
#   (bit 1: cents, bit 2: positives); then per entity: field name, value (for the index hash).
# Returns per entity, per segment: count, cent sum, positives of the recorded events in the
# segment other than event_id itself (a sum not asked for is 0).
_LOOKUP_AND_RECORD = """
local id = ARGV[1]
local record = ARGV[5] == '1'
local horizon = tonumber(ARGV[6])
local ttl = ARGV[7]
local n_entities = tonumber(ARGV[8])
local CHUNK = 2000
local out = {}
local p = 9
for e = 0, n_entities - 1 do
  local zkey, akey, pkey = KEYS[3 * e + 1], KEYS[3 * e + 2], KEYS[3 * e + 3]
  local n_segments = tonumber(ARGV[p])
  p = p + 1
  -- A retried event is already stored: take it out of the sums, the caller adds it back.
  local own = redis.call('ZSCORE', zkey, id)
  local own_positive = false
  if own then
    own = tonumber(own)
    own_positive = redis.call('ZSCORE', pkey, id) ~= false
  end
  for s = 1, n_segments do
    local lo, hi, what = '(' .. ARGV[p], ARGV[p + 1], tonumber(ARGV[p + 2])
    local count = redis.call('ZCOUNT', zkey, lo, hi)
    local cents, positives = 0, 0
    if what % 2 == 1 and count > 0 then
      local rows = redis.call('ZRANGEBYSCORE', zkey, lo, hi)
      for first = 1, #rows, CHUNK do
        local last = math.min(first + CHUNK - 1, #rows)
        local amounts = redis.call('HMGET', akey, unpack(rows, first, last))
        for j = 1, #amounts do
          if rows[first + j - 1] ~= id then
            cents = cents + (tonumber(amounts[j]) or 0)
          end
        end
      end
    end
    if what >= 2 and count > 0 then
      positives = redis.call('ZCOUNT', pkey, lo, hi)
    end
    if own and own > tonumber(ARGV[p]) and own <= tonumber(ARGV[p + 1]) then
      count = count - 1
      if own_positive and what >= 2 then
        positives = positives - 1
      end
    end
    out[#out + 1] = count
    out[#out + 1] = cents
    out[#out + 1] = positives
    p = p + 3
  end
end
if record then
  for e = 0, n_entities - 1 do
    local zkey, akey, pkey = KEYS[3 * e + 1], KEYS[3 * e + 2], KEYS[3 * e + 3]
    if redis.call('ZADD', zkey, 'NX', ARGV[2], id) == 1 then
      redis.call('HSET', akey, id, ARGV[3])
      if ARGV[4] == '1' then
        redis.call('ZADD', pkey, ARGV[2], id)
      end
    end
    local newest = redis.call('ZRANGE', zkey, -1, -1, 'WITHSCORES')
    local cutoff = string.format('%.0f', tonumber(newest[2]) - horizon)
    local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', cutoff)
    if #old > 0 then
      for first = 1, #old, CHUNK do
        redis.call('HDEL', akey, unpack(old, first, math.min(first + CHUNK - 1, #old)))
      end
      redis.call('ZREMRANGEBYSCORE', zkey, '-inf', cutoff)
      redis.call('ZREMRANGEBYSCORE', pkey, '-inf', cutoff)
    end
    redis.call('EXPIRE', zkey, ttl)
    redis.call('EXPIRE', akey, ttl)
    redis.call('EXPIRE', pkey, ttl)
  end
  local ekey = KEYS[3 * n_entities + 1]
  for e = 0, n_entities - 1 do
    redis.call('HSET', ekey, ARGV[p + 2 * e], ARGV[p + 2 * e + 1])
  end
  redis.call('EXPIRE', ekey, ttl)
end
return out
"""

# KEYS: pairs (events zset, positives zset) of the event's entity keys. ARGV: id, label, ttl.
# Only touches keys where the event still is, so an evicted event leaves no orphan label.
_RECORD_LABEL = """
local n = 0
for i = 1, #KEYS, 2 do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score then
    if ARGV[2] == '1' then
      redis.call('ZADD', KEYS[i + 1], score, ARGV[1])
      redis.call('EXPIRE', KEYS[i + 1], ARGV[3])
    else
      redis.call('ZREM', KEYS[i + 1], ARGV[1])
    end
    n = n + 1
  end
end
return n
"""

_CENTS = 1
_POSITIVES = 2


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class _EntityPlan:
    """What the script reads for one entity: disjoint time segments covering its windows.

    A segment ``(start_s, end_s, what)`` holds ``ts`` in ``(t - start_s, t - end_s]``, the
    convention of :class:`WindowBounds`; each window is a contiguous run of segments, so each
    event is read at most once. ``what`` says which sums a window over the segment needs.
    """

    entity: str
    segments: tuple[tuple[int, int, int], ...]


def _plan(spec: WindowSpec) -> tuple[tuple[_EntityPlan, ...], tuple[tuple[int, int], ...]]:
    """Segments per entity, and for each of ``spec.slots`` its [first, end) segment indices."""
    plans: list[_EntityPlan] = []
    slot_segments: list[tuple[int, int]] = [(0, 0)] * len(spec.slots)
    base = 0
    for entity in spec.entities:
        slots = [(i, s) for i, s in enumerate(spec.slots) if s.entity == entity]
        points = sorted({x for _, s in slots for x in (s.bounds.start_s, s.bounds.end_s)})[::-1]
        segments: list[tuple[int, int, int]] = []
        for start, end in pairwise(points):
            covering = [s for _, s in slots if s.bounds.start_s >= start and s.bounds.end_s <= end]
            if covering:
                what = _CENTS * any(s.needs_amounts for s in covering)
                what |= _POSITIVES * any(s.needs_labels for s in covering)
                segments.append((start, end, what))
        for i, slot in slots:
            inside = [
                k
                for k, (start, end, _) in enumerate(segments)
                if start <= slot.bounds.start_s and end >= slot.bounds.end_s
            ]
            slot_segments[i] = (base + inside[0], base + inside[-1] + 1)
        plans.append(_EntityPlan(entity, tuple(segments)))
        base += len(segments)
    return tuple(plans), tuple(slot_segments)


class RedisFeatureStore:
    """Windowed features in Redis, via one atomic Lua script per event.

    The store owns ``client``: :meth:`close` closes it. ``decode_responses`` may be either.
    """

    def __init__(self, spec: WindowSpec, client: redis.Redis, namespace: str = "nexafi:fx") -> None:
        self._spec = spec
        self._client = client
        self._ns = namespace
        self._horizon_s = spec.horizon_days * DAY_S
        self._ttl_s = self._horizon_s + DAY_S
        self._plans, slot_segments = _plan(spec)
        # Per slot: its segments as offsets into the script's result, whether it holds the
        # event itself (delay 0: the script never counts it) and which sums it reads.
        self._slots = tuple(
            (3 * first, 3 * end, s.bounds.includes_event, s.needs_amounts, s.needs_labels)
            for (first, end), s in zip(slot_segments, spec.slots, strict=True)
        )
        self._script = client.register_script(_LOOKUP_AND_RECORD)
        self._label_script = client.register_script(_RECORD_LABEL)

    @property
    def spec(self) -> WindowSpec:
        """The features this store computes."""
        return self._spec

    def lookup_and_record(self, event: Event) -> list[float]:
        """Features as of ``event.ts``, then record the event, in one atomic round trip."""
        return self._call(event, record=True)

    def lookup(self, event: Event) -> list[float]:
        """Features as of ``event.ts`` without recording it."""
        return self._call(event, record=False)

    def record_label(self, event_id: str, label: int) -> bool:
        """Find the event's keys in its index hash, then set the label where it still is."""
        label = check_label(label)
        stored: dict[Any, Any] = self._client.hgetall(self._key("e", event_id))
        if not stored:
            return False
        keys: list[str] = []
        for field, value in stored.items():
            entity, key_value = _text(field), _text(value)
            keys += (self._key("z", entity, key_value), self._key("p", entity, key_value))
        written = self._label_script(keys=keys, args=[event_id, label, self._ttl_s])
        return int(written) > 0

    def close(self) -> None:
        """Close the client (the store owns it)."""
        self._client.close()

    def _key(self, kind: str, *parts: str) -> str:
        # kind first and entity names without ":" keep keys unambiguous whatever the values.
        return ":".join((self._ns, kind, *parts))

    def _call(self, event: Event, *, record: bool) -> list[float]:
        t = event.ts
        label = "" if event.label is None else str(check_label(event.label))
        keys: list[str] = []
        args: list[str | int] = [
            event.event_id,
            t,
            event.amount_cents,
            label,
            int(record),
            self._horizon_s,
            self._ttl_s,
            len(self._plans),
        ]
        index: list[str] = []
        for plan in self._plans:
            value = entity_value(event, plan.entity)
            index += (plan.entity, value)
            keys += (
                self._key("z", plan.entity, value),
                self._key("a", plan.entity, value),
                self._key("p", plan.entity, value),
            )
            args.append(len(plan.segments))
            for start_s, end_s, what in plan.segments:
                args += (t - start_s, t - end_s, what)
        keys.append(self._key("e", event.event_id))
        args += index
        segments: list[int] = self._script(keys=keys, args=args)
        raw: list[int] = []
        for first, end, includes_event, needs_amounts, needs_labels in self._slots:
            count = sum(segments[first:end:3])
            cents = sum(segments[first + 1 : end : 3]) if needs_amounts else 0
            positives = sum(segments[first + 2 : end : 3]) if needs_labels else 0
            if includes_event:
                count += 1
                cents += event.amount_cents if needs_amounts else 0
            raw += (count, cents, positives)
        return self._spec.features_from_raw(raw)
