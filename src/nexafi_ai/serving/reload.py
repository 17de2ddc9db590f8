"""Hot reload: every replica notices an alias move in the registry and swaps without a failure.

The registry is the only shared state: promoting a version (the admin route, the CLI, a
retrain on another machine) moves ``@champion`` there, and each running replica's
:class:`ModelWatcher` polls it every ``NEXAFI_RELOAD_INTERVAL_S`` seconds. A moved alias is
loaded through the one verified path (:meth:`ModelHandle.load_version`: hash check, load,
warm-up replay) in a worker thread, and only then swapped in by one reference assignment, so
requests in flight finish on the version they started with and none fails.

A version that fails verification keeps the previous one serving, counts on
``nexafi_model_load_failures`` and is remembered: it is retried only when the alias moves again
or after a long backoff (a transient artifact-store error heals; a tampered file does not), so
a broken version costs one download per backoff, not one per tick.

The same watcher keeps each use case's optional ``@challenger`` (shadow scoring) in step: it is
loaded when the alias appears or moves and dropped when the alias is removed. Neither ever
touches readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from enum import StrEnum

from starlette.concurrency import run_in_threadpool

from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.handles import ModelHandle, ModelLoadError

__all__ = ["ModelWatcher", "SyncOutcome", "record_loaded"]

log = logging.getLogger(__name__)

#: Shortest wait before a refused version is tried again while the alias still points to it.
MIN_REFUSED_RETRY_S = 300.0


class SyncOutcome(StrEnum):
    """What one check of one handle did (returned for tests and logs)."""

    UNCHANGED = "unchanged"
    LOADED = "loaded"
    REFUSED = "refused"
    REFUSED_EARLIER = "refused_earlier"
    DROPPED = "dropped"
    UNSET = "unset"
    REGISTRY_ERROR = "registry_error"


def record_loaded(ctx: ServiceContext, handle: ModelHandle) -> None:
    """Export what ``handle`` serves now on ``/metrics`` (champion and challenger gauges)."""
    version = handle.serving_version
    if handle.optional:
        ctx.metrics.set_challenger(handle.use_case.name, handle.model_name, version)
    else:
        ctx.metrics.set_model(handle.use_case.name, handle.model_name, version)


class ModelWatcher:
    """Polls the registry for the served (and challenger) aliases of one service."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        interval_s: float,
        retry_refused_s: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self.retry_refused_s = (
            max(MIN_REFUSED_RETRY_S, 30 * interval_s)
            if retry_refused_s is None
            else retry_refused_s
        )
        self._task: asyncio.Task[None] | None = None
        self._registry_error: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def handles(self) -> list[ModelHandle]:
        """Every handle kept in step: the served ones first, then the challengers."""
        return [*self.ctx.handles.values(), *self.ctx.challengers.values()]

    async def start(self) -> None:
        """Load the challengers now (start-up), then poll in the background unless disabled.

        The served handles were loaded by the app's start-up already; loading the challengers
        here too means the first scored request is shadowed when a challenger is set.
        """
        for handle in self.ctx.challengers.values():
            await self._sync_logged(handle)
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="nexafi-model-watcher")

    async def stop(self) -> None:
        """Cancel the polling task; a load already running in its thread finishes first."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.tick()

    async def tick(self) -> None:
        """Check every handle once (off the event loop: registry calls and loads block)."""
        for handle in self.handles():
            await self._sync_logged(handle)

    async def _sync_logged(self, handle: ModelHandle) -> SyncOutcome | None:
        try:
            return await run_in_threadpool(self.sync, handle)
        except Exception:  # a bug here must not stop the watcher, nor serving
            log.exception("checking %s@%s failed", handle.model_name, handle.alias)
            return None

    def sync(self, handle: ModelHandle) -> SyncOutcome:
        """Bring ``handle`` to the version its alias points to now (blocking).

        Reading the alias and swapping happen under the handle's lock, so an alias move by the
        admin route (load, then move) is never seen half-done and undone here.
        """
        registry = self.ctx.registry
        with handle.lock:
            try:
                version = registry.alias_version(handle.model_name, handle.alias)
            except Exception as exc:
                self._registry_failed(exc)
                return SyncOutcome.REGISTRY_ERROR
            self._registry_answered()
            if version is None:
                if handle.optional and handle.current is not None:
                    log.info("%s@%s was removed", handle.model_name, handle.alias)
                    handle.restore(None)
                    record_loaded(self.ctx, handle)
                    return SyncOutcome.DROPPED
                return SyncOutcome.UNSET
            if version == handle.serving_version:
                return SyncOutcome.UNCHANGED
            if (
                version == handle.refused_version
                and time.monotonic() - handle.refused_at < self.retry_refused_s
            ):
                return SyncOutcome.REFUSED_EARLIER
            try:
                handle.load_version(registry, version)
            except ModelLoadError:
                self.ctx.metrics.model_load_failures.labels(handle.use_case.name).inc()
                return SyncOutcome.REFUSED
            record_loaded(self.ctx, handle)
            return SyncOutcome.LOADED

    def _registry_failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self._registry_error:  # once per outage, not once per tick
            log.warning("model registry unreachable, serving what is loaded: %s", message)
        self._registry_error = message

    def _registry_answered(self) -> None:
        if self._registry_error is not None:
            log.info("model registry reachable again")
        self._registry_error = None
