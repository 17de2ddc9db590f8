"""``create_app(settings)``: the FastAPI application, built from explicit arguments.

Nothing connects at import or construction time. The lifespan starts the inference log
writer, loads each served use case's ``@champion`` (a failure leaves that use case not ready,
never the process dead) and starts the batch job threads, which resume abandoned jobs; on
shutdown it hands running batch jobs back and flushes every queued log row before exiting.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis import Redis
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from nexafi_ai import __version__
from nexafi_ai.batch import BackgroundJobs, JobStore
from nexafi_ai.db import make_engine
from nexafi_ai.db.tables import utcnow
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.auth import Authenticator
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.errors import install_error_handlers
from nexafi_ai.serving.handles import ModelHandle, ModelLoadError
from nexafi_ai.serving.log_writer import InferenceLogWriter
from nexafi_ai.serving.metrics import ServiceMetrics
from nexafi_ai.serving.middleware import GuardMiddleware
from nexafi_ai.serving.reload import ModelWatcher
from nexafi_ai.serving.routes import drift, health, jobs, labels, models, review
from nexafi_ai.serving.routes import performance as performance_routes
from nexafi_ai.settings import Settings, get_settings
from nexafi_ai.usecases import UseCase, all_use_cases

__all__ = ["app_from_env", "build_context", "create_app"]

log = logging.getLogger(__name__)


def build_registry(settings: Settings, engine: Engine) -> ModelRegistry:
    """The registry for these settings (shared by the app and the CLI)."""
    return ModelRegistry(
        settings.mlflow_tracking_uri,
        artifact_root=settings.artifacts / "mlflow",
        cache_dir=settings.artifacts / "verified",
        engine=engine,
    )


def _served(settings: Settings, use_cases: Mapping[str, UseCase] | None) -> dict[str, UseCase]:
    known = dict(use_cases if use_cases is not None else all_use_cases())
    if not settings.use_cases:
        return known
    missing = sorted(set(settings.use_cases) - set(known))
    if missing:
        raise ValueError(
            f"NEXAFI_USE_CASES names unknown use cases {missing}; known {sorted(known)}"
        )
    return {name: known[name] for name in settings.use_cases}


def build_context(
    settings: Settings, use_cases: Mapping[str, UseCase] | None = None
) -> ServiceContext:
    """Assemble the service's parts without starting or connecting anything."""
    served = _served(settings, use_cases)
    engine = make_engine(settings.database_url)
    metrics = ServiceMetrics()
    writer = InferenceLogWriter(
        engine,
        settings.spool_dir,
        queue_size=settings.log_queue_size,
        batch_size=settings.log_batch_size,
        flush_interval_s=settings.log_flush_interval_s,
        spool_max_bytes=settings.log_spool_max_bytes,
    )
    ctx = ServiceContext(
        settings=settings,
        engine=engine,
        registry=build_registry(settings, engine),
        use_cases=served,
        handles={name: ModelHandle(uc, settings.serve_alias) for name, uc in served.items()},
        challengers=_challengers(settings, served),
        log_writer=writer,
        metrics=metrics,
        authenticator=Authenticator(settings.api_keys),
        started_at=utcnow(),
        redis=_redis(settings.redis_url),
    )
    metrics.add_callback(lambda: _writer_gauges(writer))
    ctx.extras[jobs.JOBS_EXTRA] = BackgroundJobs(
        JobStore(engine),
        ctx.registry,
        stale_after_s=settings.batch_stale_after_s,
        dask_scheduler=settings.dask_scheduler,
    )
    return ctx


def _challengers(settings: Settings, served: Mapping[str, UseCase]) -> dict[str, ModelHandle]:
    """One optional shadow handle per served use case, unless shadow scoring is off."""
    alias = settings.shadow_alias
    if not alias or alias == settings.serve_alias:
        return {}
    return {name: ModelHandle(uc, alias, optional=True) for name, uc in served.items()}


def _redis(url: str | None) -> Redis | None:
    """A client for ``url`` (it connects lazily); short timeouts keep the hot path bounded."""
    if not url:
        return None
    return Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)


def _writer_gauges(writer: InferenceLogWriter) -> dict[str, float]:
    stats = writer.stats
    return {
        "inference_log_written_rows": float(stats.written),
        "inference_log_pending_rows": float(stats.pending),
        "inference_log_spooled_rows": float(stats.spooled),
        "inference_log_spool_bytes": float(stats.spool_bytes),
        "inference_log_failed_attempts": float(stats.failed_attempts),
    }


async def _load_models(ctx: ServiceContext) -> None:
    for handle in ctx.handles.values():
        try:
            loaded = await run_in_threadpool(handle.load_alias, ctx.registry)
        except ModelLoadError:
            ctx.metrics.model_load_failures.labels(handle.use_case.name).inc()
            continue
        except Exception as exc:  # registry unreachable: not ready, but alive
            handle.last_error = f"registry: {exc}"
            log.exception("could not load %s", handle.model_name)
            continue
        if loaded is None:
            log.warning("%s: %s; not ready", handle.use_case.name, handle.last_error)
        else:
            ctx.metrics.set_model(handle.use_case.name, loaded.name, loaded.version)


def create_app(
    settings: Settings | None = None, *, use_cases: Mapping[str, UseCase] | None = None
) -> FastAPI:
    """Build the app; ``use_cases`` defaults to every registered use case."""
    settings = settings or get_settings()
    ctx = build_context(settings, use_cases)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.log_writer.start()
        for use_case in ctx.use_cases.values():
            await run_in_threadpool(use_case.restore_state, ctx)
        await _load_models(ctx)
        # Alias moves (another replica, the CLI, a retrain) are picked up while serving.
        watcher = ModelWatcher(ctx, interval_s=ctx.settings.reload_interval_s)
        await watcher.start()
        # Batch jobs abandoned by a stopped or crashed server are resumed in the background.
        batch = ctx.extras[jobs.JOBS_EXTRA]
        batch.start()
        try:
            yield
        finally:
            await watcher.stop()
            await run_in_threadpool(batch.close)
            await run_in_threadpool(ctx.log_writer.close)
            ctx.engine.dispose()
            if ctx.redis is not None:
                ctx.redis.close()

    app = FastAPI(
        title="NexaFi AI Service",
        version=__version__,
        summary="Fraud, credit, recommendation and forecasting models, served and audited.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=ctx.metrics,
        fast_routes=ctx.fast_routes,
    )
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(jobs.router)
    app.include_router(labels.router)
    app.include_router(drift.router)
    app.include_router(performance_routes.router)
    app.include_router(review.router)
    for use_case in ctx.use_cases.values():
        app.include_router(use_case.router(ctx))
    return app


def tune_runtime() -> None:
    """Interpreter settings for a serving process (measured in bench/fraud_latency.py).

    The online feature windows and the idempotency cache keep hundreds of thousands of small
    long-lived objects; CPython's default thresholds rescan them all every few thousand
    allocations, which showed up as 100+ ms pauses at p99 under load. Young collections stay
    frequent enough for the short-lived request objects; the code creates few cycles. A
    shorter GIL switch interval stops the log writer thread from holding the event loop for
    up to 5 ms at a time.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
    sys.setswitchinterval(0.001)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (the served process): settings from the environment."""
    tune_runtime()
    return create_app(get_settings())
