"""Everything a running service holds, built once by ``create_app`` and shared by routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from sqlalchemy import Engine

from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.auth import Authenticator
from nexafi_ai.serving.handles import ModelHandle
from nexafi_ai.serving.log_writer import InferenceLogWriter
from nexafi_ai.serving.metrics import ServiceMetrics
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.base import UseCase

__all__ = ["ServiceContext"]


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
