"""``GET /v1/monitoring/{use_case}/drift``: logged traffic against the version's frozen reference.

Each call computes a fresh report over the window (default: the last
``NEXAFI_DRIFT_WINDOW_HOURS``) and records it in ``drift_reports`` so the history, the
retraining triggers and auditors see what was observed when; ``/drift/history`` lists those
records without recomputing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import AwareDatetime

from nexafi_ai.monitoring.drift_service import (
    DriftSettings,
    NoReferenceError,
    NoVersionError,
    compute_drift,
    recent_reports,
)
from nexafi_ai.registry import ModelNotFoundError
from nexafi_ai.serving.deps import ContextDep, ReadScope, use_case_in_path
from nexafi_ai.serving.errors import ApiError

__all__ = ["router"]

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

UseCaseName = Annotated[str, PathParam(min_length=1, max_length=32)]


@router.get("/{use_case}/drift", summary="Drift of recent traffic against the training reference")
def get_drift(
    use_case: UseCaseName,
    ctx: ContextDep,
    who: ReadScope,
    start: Annotated[AwareDatetime | None, Query(description="Window start (ISO 8601)")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Window end, default now")] = None,
    hours: Annotated[float | None, Query(gt=0, le=24 * 366)] = None,
    psi_warn: Annotated[float | None, Query(ge=0, le=10)] = None,
    psi_alert: Annotated[float | None, Query(ge=0, le=10)] = None,
    version: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$")] = None,
) -> dict[str, Any]:
    uc = use_case_in_path(ctx, use_case)
    if psi_warn is not None and psi_alert is not None and psi_warn > psi_alert:
        raise ApiError(422, "validation_error", "psi_warn must not exceed psi_alert", "psi_warn")
    settings = DriftSettings.from_settings(
        ctx.settings, psi_warn=psi_warn, psi_alert=psi_alert, window_hours=hours
    )
    if settings.psi_warn > settings.psi_alert:
        field = "psi_warn" if psi_warn is not None else "psi_alert"
        raise ApiError(422, "validation_error", "psi_warn must not exceed psi_alert", field)
    if start is not None and end is not None and start >= end:
        raise ApiError(422, "validation_error", "start must be before end", "start")
    try:
        return compute_drift(
            ctx.engine,
            ctx.registry,
            uc,
            start=start,
            end=end,
            version=version,
            alias=ctx.settings.serve_alias,
            settings=settings,
            actor=who.actor,
        )
    except (NoVersionError, ModelNotFoundError) as exc:
        raise ApiError(404, "not_found", str(exc), "version") from exc
    except NoReferenceError as exc:
        raise ApiError(409, "no_reference", str(exc), "version") from exc


@router.get("/{use_case}/drift/history", summary="Stored drift reports, newest first")
def get_drift_history(
    use_case: UseCaseName,
    ctx: ContextDep,
    _: ReadScope,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> dict[str, Any]:
    uc = use_case_in_path(ctx, use_case)
    return {"use_case": uc.name, "reports": recent_reports(ctx.engine, uc.name, limit=limit)}
