"""Everything a running service holds, built once by ``create_app`` and shared by routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from sqlalchemy import Engine

from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.auth import Authenticator
from nexafi_ai.serving.handles import ModelHandle
from nexafi_ai.serving.log_writer import InferenceLogWriter
from nexafi_ai.serving.metrics import ServiceMetrics
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.base import UseCase

__all__ = ["FastHandler", "ServiceContext"]

#: A hot-path handler: (body, raw ASGI headers) -> (status, body, extra headers). It runs
#: straight from the guard middleware, skipping routing and FastAPI's per-request machinery;
#: raising :class:`~nexafi_ai.serving.errors.ApiError` gives the usual error envelope.
FastHandler = Callable[
    [bytes, list[tuple[bytes, bytes]]],
    Awaitable[tuple[int, bytes, list[tuple[bytes, bytes]]]],
]


@dataclass(slots=True)
class ServiceContext:
    """The service's parts; routes reach them through ``deps.py``, never through globals."""

    settings: Settings
    engine: Engine
    registry: ModelRegistry
    use_cases: Mapping[str, UseCase]
    handles: Mapping[str, ModelHandle]
    log_writer: InferenceLogWriter
    metrics: ServiceMetrics
    authenticator: Authenticator
    started_at: datetime
    #: Shared online state (feature windows, idempotency) when ``NEXAFI_REDIS_URL`` is set.
    redis: Redis | None = None
    #: Use case -> the optional ``@challenger`` handle scored in shadow (empty: shadow off).
    #: Never part of readiness: a missing or broken challenger must not stop scoring.
    challengers: Mapping[str, ModelHandle] = field(default_factory=dict)
    #: Per-use-case state other components need to reach (e.g. the fraud online store, which
    #: the labels endpoint feeds), keyed by "<use case>_<what>".
    extras: dict[str, Any] = field(default_factory=dict)
    #: (method, path) -> handler served by the guard middleware before routing.
    fast_routes: dict[tuple[str, str], FastHandler] = field(default_factory=dict)

    def known_use_cases(self) -> dict[str, UseCase]:
        """Installed use cases and those served here, by name.

        Labels, jobs and monitoring may name a use case this process does not serve (labels
        outlive a use case moved to other replicas); scoring routes only exist for served ones.
        """
        from nexafi_ai.usecases import all_use_cases

        return {**all_use_cases(), **self.use_cases}
