"""``GET /v1/fraud/transactions/{id}/explanation``: the reasons behind any logged decision.

The scoring path computes TreeSHAP only for reviews and declines. Analysts auditing an approval
(or re-reading a decline) get the same exact contributions here, recomputed from the features
logged with the decision and the model version that made it, fetched and verified from the
registry when it is no longer the one serving.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from nexafi_ai.db.tables import inference_log
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import ContextDep, ReadScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.schemas import Reason

__all__ = ["ExplanationOut", "explanation_router"]


class ExplanationOut(BaseModel):
    transaction_id: str
    model_version: str
    decision: str | None
    fraud_probability: float | None
    reasons: list[Reason]
    features: dict[str, float]


def _explain(ctx: ServiceContext, transaction_id: str) -> ExplanationOut:
    with ctx.engine.connect() as conn:
        row = (
            conn.execute(
                select(inference_log)
                .where(inference_log.c.use_case == "fraud")
                .where(inference_log.c.entity_id == transaction_id)
                .order_by(inference_log.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise ApiError(404, "not_found", f"no logged fraud decision for {transaction_id}", "id")
    handle = ctx.handles["fraud"]
    current = handle.current
    if current is not None and current.version == row["model_version"]:
        model: Any = current.model
    else:
        model = load_verified(handle.use_case, ctx.registry, row["model_version"]).model
    assert isinstance(model, FraudModel)
    logged: dict[str, float] = row["inputs"].get("features") or {}
    missing = [n for n in model.feature_names if n not in logged]
    if missing:
        raise ApiError(409, "conflict", f"the logged row lacks features {missing[:3]}", "id")
    values = [logged[name] for name in model.feature_names]
    return ExplanationOut(
        transaction_id=transaction_id,
        model_version=row["model_version"],
        decision=row["decision"],
        fraud_probability=row["score"],
        reasons=model.reasons(values),
        features=logged,
    )


def explanation_router() -> APIRouter:
    """The explanation route; it reaches the service through ``ContextDep``."""
    router = APIRouter()

    @router.get(
        "/transactions/{transaction_id}/explanation",
        summary="Exact TreeSHAP reasons of a logged decision (approvals included)",
    )
    async def explanation(transaction_id: str, ctx: ContextDep, _: ReadScope) -> ExplanationOut:
        return await run_in_threadpool(_explain, ctx, transaction_id)

    return router
