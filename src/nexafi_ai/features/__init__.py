"""Windowed aggregates declared once, computed offline and online with identical results.

Declare a :class:`WindowSpec`; build training features with :func:`window_features` and serve
them with an :class:`OnlineFeatureStore` (:class:`InMemoryFeatureStore` in one process,
:class:`RedisFeatureStore` across replicas). Both sides share the bounds and float expressions
of :mod:`nexafi_ai.features.spec`, so a model sees the same numbers in training and serving.
"""

from __future__ import annotations

from nexafi_ai.features.offline import window_features
from nexafi_ai.features.online import Event, InMemoryFeatureStore, OnlineFeatureStore
from nexafi_ai.features.redis_store import RedisFeatureStore
from nexafi_ai.features.spec import DAY_S, OUTPUTS, EntityWindows, WindowBounds, WindowSpec

__all__ = [
    "DAY_S",
    "OUTPUTS",
    "EntityWindows",
    "Event",
    "InMemoryFeatureStore",
    "OnlineFeatureStore",
    "RedisFeatureStore",
    "WindowBounds",
    "WindowSpec",
    "window_features",
]
