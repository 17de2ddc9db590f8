"""Liveness, readiness and Prometheus metrics.

``/readyz`` is ready only when every configured use case has a verified model loaded and the
database (and Redis, when configured) answers: a load balancer must never send scoring traffic
to a replica that would answer 503 or lose its inference log. A shadow challenger is reported
beside its use case but never counts: scoring does not depend on it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from nexafi_ai.db import ping
from nexafi_ai.serving.deps import ContextDep

router = APIRouter(tags=["health"])


def _redis_answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except RedisError:
        return False


@router.get("/livez", summary="The process is up")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready to serve: models loaded, database answering")
async def readyz(ctx: ContextDep) -> JSONResponse:
    checks: dict[str, Any] = {"database": await run_in_threadpool(ping, ctx.engine)}
    if ctx.redis is not None:
        checks["redis"] = await run_in_threadpool(_redis_answers, ctx.redis)
    models: dict[str, Any] = {}
    for name, handle in ctx.handles.items():
        models[name] = {
            "model": handle.model_name,
            "alias": handle.alias,
            "version": handle.serving_version,
            "error": handle.last_error,
        }
        challenger = ctx.challengers.get(name)
        if challenger is not None:  # shown, never part of readiness
            models[name]["challenger"] = {
                "alias": challenger.alias,
                "version": challenger.serving_version,
                "error": challenger.last_error,
            }
    ready = all(checks.values()) and all(m["version"] is not None for m in models.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "models": models}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics(ctx: ContextDep) -> Response:
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
