"""Registered models: list versions and aliases, promote or roll back, reload.

Moving an alias is verify-then-move: the target version is fetched, hash-checked, loaded and
warmed *before* the alias moves, so ``@champion`` never points at a version this service
cannot serve. A refused version is audited too; the previous version keeps serving. The same
holds for the ``@challenger`` scored in shadow. Other replicas pick a move up through their
reload watcher (``serving/reload.py``); ``POST .../reload`` does it here on demand.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from nexafi_ai.registry import (
    ArtifactVerificationError,
    ModelNotFoundError,
    RegisteredModelInfo,
)
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import AdminScope, ContextDep, ReadScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import ModelHandle, ModelLoadError
from nexafi_ai.serving.reload import record_loaded

router = APIRouter(prefix="/v1/models", tags=["models"])


class VersionOut(BaseModel):
    version: str
    aliases: list[str]
    created_at: datetime
    run_id: str | None
    metrics: dict[str, float]


class ServingOut(BaseModel):
    use_case: str
    alias: str
    version: str | None
    loaded_at: datetime | None
    error: str | None
    #: The version scored in shadow beside this one (``@challenger``), when shadow is on.
    challenger: ServingOut | None = None


class ModelOut(BaseModel):
    name: str
    aliases: dict[str, str]
    serving: ServingOut | None
    versions: list[VersionOut]


class ModelsOut(BaseModel):
    models: list[ModelOut]


class VersionDetailOut(VersionOut):
    """A version with what its manifest records: how it was trained, evaluated and checked."""

    params: dict[str, str]
    kind: str | None = None
    split: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    #: Named reports frozen at training: calibration table, fairness, cross-validation...
    reports: dict[str, Any]


class ModelDetailOut(BaseModel):
    name: str
    aliases: dict[str, str]
    serving: ServingOut | None
    versions: list[VersionDetailOut]


class AliasIn(BaseModel):
    """Point an alias at a version: promote (newer) or roll back (older)."""

    model_config = ConfigDict(extra="forbid")

    alias: str = Field(default="champion", pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version: str = Field(pattern=r"^[1-9][0-9]{0,9}$")
    reason: str = Field(default="", max_length=500)


class AliasOut(BaseModel):
    name: str
    alias: str
    from_version: str | None
    to_version: str
    serving_version: str | None


def _handle_for(ctx: ServiceContext, name: str, alias: str | None = None) -> ModelHandle | None:
    """The served handle of model ``name``, or the one holding ``alias`` (the challenger)."""
    if alias is None:
        return next((h for h in ctx.handles.values() if h.model_name == name), None)
    handles = [*ctx.handles.values(), *ctx.challengers.values()]
    return next((h for h in handles if h.model_name == name and h.alias == alias), None)


def _serving_out(handle: ModelHandle) -> ServingOut:
    current = handle.current
    return ServingOut(
        use_case=handle.use_case.name,
        alias=handle.alias,
        version=None if current is None else current.version,
        loaded_at=None if current is None else current.loaded_at,
        error=handle.last_error,
    )


def _model_out(ctx: ServiceContext, info: RegisteredModelInfo) -> ModelOut:
    handle = _handle_for(ctx, info.name)
    serving = None
    if handle is not None:
        serving = _serving_out(handle)
        challenger = ctx.challengers.get(handle.use_case.name)
        if challenger is not None:
            serving.challenger = _serving_out(challenger)
    versions = [
        VersionOut(
            version=v.version,
            aliases=list(v.aliases),
            created_at=v.created_at,
            run_id=v.run_id,
            # NaN (a metric undefined on its data) is not JSON: leave it out.
            metrics={k: m for k, m in v.metrics.items() if math.isfinite(m)},
        )
        for v in info.versions
    ]
    return ModelOut(name=info.name, aliases=dict(info.aliases), serving=serving, versions=versions)


@router.get("", summary="Registered models, versions, aliases, metrics and what is served")
async def list_models(ctx: ContextDep, _: ReadScope) -> ModelsOut:
    infos = await run_in_threadpool(ctx.registry.list_models)
    return ModelsOut(models=[_model_out(ctx, info) for info in infos])


def _model_detail(ctx: ServiceContext, name: str) -> ModelDetailOut:
    info = next((m for m in ctx.registry.list_models() if m.name == name), None)
    if info is None:
        handle = next((h for h in ctx.handles.values() if h.use_case.name == name), None)
        if handle is not None:  # the use case's name works as well as the model's
            info = next(
                (m for m in ctx.registry.list_models() if m.name == handle.model_name), None
            )
    if info is None:
        raise ApiError(404, "not_found", f"no registered model {name!r}", "name")
    summary = _model_out(ctx, info)
    versions = []
    for brief, full in zip(summary.versions, info.versions, strict=True):
        try:
            metadata = dict(ctx.registry.fetch(info.name, brief.version).manifest["metadata"])
        except (ModelNotFoundError, ArtifactVerificationError) as exc:
            metadata = {"reports": {"error": f"manifest unavailable: {exc}"}}
        versions.append(
            VersionDetailOut(
                **brief.model_dump(),
                params=dict(full.params),
                kind=metadata.get("kind"),
                split=metadata.get("split"),
                selection=metadata.get("selection"),
                policy=metadata.get("policy"),
                reports=_finite(metadata.get("reports") or {}),
            )
        )
    return ModelDetailOut(
        name=info.name, aliases=summary.aliases, serving=summary.serving, versions=versions
    )


def _finite(value: Any) -> Any:
    """JSON has no NaN: undefined figures in stored reports become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@router.get(
    "/{name}",
    summary="One model's versions with their training reports (calibration, fairness...)",
)
async def get_model(name: str, ctx: ContextDep, _: ReadScope) -> ModelDetailOut:
    """``name`` is the registered name (``nexafi-credit``) or the use case (``credit``)."""
    return await run_in_threadpool(_model_detail, ctx, name)


def _move_alias(ctx: ServiceContext, actor: str, name: str, body: AliasIn) -> AliasOut:
    try:
        ctx.registry.get_version(name, body.version)
    except ModelNotFoundError as exc:
        raise ApiError(404, "not_found", str(exc), "version") from exc
    served = _handle_for(ctx, name)
    handle = _handle_for(ctx, name, body.alias)  # the served one, or the challenger
    if handle is None:
        change = ctx.registry.set_alias(
            name, body.alias, body.version, actor=actor, reason=body.reason
        )
    else:
        # Held from load to move: this process's reload watcher never sees the swap without
        # the move (it would put the alias's old version back).
        with handle.lock:
            previous = handle.current
            try:
                handle.load_version(ctx.registry, body.version)
            except ModelLoadError as exc:
                ctx.metrics.model_load_failures.labels(handle.use_case.name).inc()
                ctx.registry.record_refusal(
                    name, body.alias, body.version, actor=actor, reason=body.reason, error=str(exc)
                )
                raise ApiError(
                    409, "model_load_failed", f"version refused, alias not moved: {exc}", "version"
                ) from exc
            try:
                change = ctx.registry.set_alias(
                    name, body.alias, body.version, actor=actor, reason=body.reason
                )
            except Exception:
                handle.restore(previous)  # the alias did not move, so neither does serving
                raise
        record_loaded(ctx, handle)
    return AliasOut(
        name=name,
        alias=body.alias,
        from_version=change.from_version,
        to_version=body.version,
        serving_version=served.serving_version if served is not None else None,
    )


@router.post("/{name}/aliases", summary="Promote or roll back: move an alias (audited)")
async def set_alias(name: str, body: AliasIn, ctx: ContextDep, who: AdminScope) -> AliasOut:
    return await run_in_threadpool(_move_alias, ctx, who.actor, name, body)


def _reload(ctx: ServiceContext, name: str) -> dict[str, Any]:
    handle = _handle_for(ctx, name)
    if handle is None:
        raise ApiError(404, "not_found", f"{name} is not served by this process", "name")
    try:
        loaded = handle.load_alias(ctx.registry)
    except ModelLoadError as exc:
        ctx.metrics.model_load_failures.labels(handle.use_case.name).inc()
        raise ApiError(
            409, "model_load_failed", f"still serving {handle.serving_version}: {exc}"
        ) from exc
    if loaded is None:
        raise ApiError(404, "not_found", f"{name}@{handle.alias} is not set", "name")
    ctx.metrics.set_model(handle.use_case.name, name, loaded.version)
    out: dict[str, Any] = {"name": name, "alias": handle.alias, "serving_version": loaded.version}
    challenger = ctx.challengers.get(handle.use_case.name)
    if challenger is not None:
        try:
            challenger.load_alias(ctx.registry)
        except ModelLoadError:  # shadow only: reported, never a failed reload
            ctx.metrics.model_load_failures.labels(handle.use_case.name).inc()
        record_loaded(ctx, challenger)
        out["challenger"] = {
            "alias": challenger.alias,
            "version": challenger.serving_version,
            "error": challenger.last_error,
        }
    return out


@router.post("/{name}/reload", summary="Reload the version the served alias points to now")
async def reload_model(name: str, ctx: ContextDep, _: AdminScope) -> dict[str, Any]:
    return await run_in_threadpool(_reload, ctx, name)
