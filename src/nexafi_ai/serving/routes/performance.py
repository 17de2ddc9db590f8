"""``GET /v1/monitoring/{use_case}/performance``: live model quality from matured labels.

Readers (dashboards, the retraining trigger, an on-call analyst) ask how the served model is
doing on recent traffic now that outcomes have arrived: AUC, average precision and the served
policy's precision/recall for classifiers, ranking metrics for recommendations, MASE and
interval coverage for forecasts, overall, per time window and per model version
(:func:`nexafi_ai.monitoring.performance.live_performance` defines every rule).

The handler is a plain ``def``: FastAPI runs it in its thread pool, so the joins and the
metric computation never stall the event loop that answers scoring requests. A window with no
labels yet is a normal answer (``n_labelled`` 0, null metrics), not an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import AwareDatetime

from nexafi_ai.monitoring.performance import live_performance
from nexafi_ai.serving.deps import ContextDep, ReadScope, use_case_in_path
from nexafi_ai.serving.errors import ApiError

__all__ = ["router"]

router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])


@router.get(
    "/{use_case}/performance",
    summary="Live model quality from labels joined to the inference log (read scope)",
    description=(
        "Metrics of the inferences logged in [start, end) graded by the labels known at as_of "
        "(default now), overall, per bucket of the inference time (day, week, month or none) "
        "and per model version. maturity_days (classification only; default the use case's, "
        "45 for fraud) counts unlabelled inferences older than as_of - maturity_days as "
        "negatives. Datetimes need a timezone. Requires the `read` scope."
    ),
)
def get_performance(
    use_case: Annotated[str, PathParam(min_length=1, max_length=32)],
    ctx: ContextDep,
    _: ReadScope,
    start: Annotated[AwareDatetime | None, Query(description="Inferences from (ISO 8601)")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Inferences before (ISO 8601)")] = None,
    as_of: Annotated[
        AwareDatetime | None, Query(description="Labels known at (default now)")
    ] = None,
    bucket: Annotated[Literal["day", "week", "month", "none"], Query()] = "day",
    maturity_days: Annotated[float | None, Query(ge=0, le=3650)] = None,
) -> dict[str, Any]:
    found = use_case_in_path(ctx, use_case)
    if start is not None and end is not None and start >= end:
        raise ApiError(422, "validation_error", "end: must be after start", "end")
    maturity = found.label_maturity_days if maturity_days is None else maturity_days
    return live_performance(
        ctx.engine,
        found,
        start=start,
        end=end,
        as_of=as_of,
        bucket=None if bucket == "none" else bucket,
        maturity_days=maturity,
    )
