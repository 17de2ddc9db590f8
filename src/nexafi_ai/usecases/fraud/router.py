"""``POST /v1/fraud/score``: the real-time hot path, kept lean on purpose.

A payment service waits on this answer before it processes a card, so the route skips FastAPI's
per-request machinery (dependency resolution, response re-validation) and does only the work
that matters: authenticate, parse and validate with pydantic straight from bytes, answer a
retried id from the idempotency store, read and update the card and terminal windows, score and
explain with one TreeSHAP call, apply the policy, queue the log row, return bytes. No pandas, no
database round trip, no model reload.

With a ``@challenger`` loaded, it scores the very feature row the champion used (computing the
row again would record the transaction in the windows twice) with one more LightGBM call and no
TreeSHAP; its answer goes to the log's ``shadow`` column only. With none it costs one attribute
read.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from nexafi_ai.db.tables import utcnow
from nexafi_ai.features import InMemoryFeatureStore, OnlineFeatureStore, RedisFeatureStore
from nexafi_ai.serving.answers import ShadowScorer
from nexafi_ai.serving.auth import presented_key
from nexafi_ai.serving.errors import ApiError, validation_response
from nexafi_ai.serving.idempotency import IdempotencyStore, MemoryIdempotency, RedisIdempotency
from nexafi_ai.serving.log_writer import LogBackpressure
from nexafi_ai.usecases.fraud.explanations import explanation_router
from nexafi_ai.usecases.fraud.features import WINDOWS
from nexafi_ai.usecases.fraud.model import FraudModel, MissingFeatureError
from nexafi_ai.usecases.fraud.schemas import FraudScoreOut, TransactionIn

if TYPE_CHECKING:
    from nexafi_ai.serving.context import ServiceContext
    from nexafi_ai.serving.handles import LoadedModel
    from nexafi_ai.usecases.base import UseCase

__all__ = ["fraud_router", "online_store_for"]

_JSON = "application/json"


def online_store_for(service: ServiceContext) -> OnlineFeatureStore:
    """Redis when configured (replicas share card history), else this process's memory."""
    if service.redis is not None:
        return RedisFeatureStore(WINDOWS, service.redis, namespace="nexafi:fraud:fx")
    return InMemoryFeatureStore(WINDOWS)


def _idempotency_for(service: ServiceContext) -> IdempotencyStore:
    if service.redis is not None:
        return RedisIdempotency(service.redis, namespace="nexafi:fraud:idem")
    return MemoryIdempotency()


def fraud_router(use_case: UseCase, service: ServiceContext) -> APIRouter:
    """The fraud endpoints, bound to the service's model handle and stores."""
    router = APIRouter(prefix="/v1/fraud", tags=["fraud"])
    handle = service.handles[use_case.name]
    writer = service.log_writer
    authenticator = service.authenticator
    store = online_store_for(service)
    idempotency = _idempotency_for(service)
    service.extras["fraud_online_store"] = store
    shadow = ShadowScorer(use_case, service)

    def challenger_answer(
        champion: FraudModel, tx: TransactionIn, row: list[float]
    ) -> Callable[[LoadedModel], FraudScoreOut]:
        """The challenger's answer on the champion's row: one LightGBM call, no TreeSHAP."""

        def run(challenger: LoadedModel) -> FraudScoreOut:
            model = challenger.model
            if not isinstance(model, FraudModel):
                raise TypeError(f"challenger is a {type(model).__name__}, not a FraudModel")
            proba, decision = model.assess(tx, challenger_row(champion, model, tx, row))
            return model.answer(tx, proba, decision, [], challenger.version)

        return run

    async def score_bytes(
        body: bytes, headers: list[tuple[bytes, bytes]]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        start = time.perf_counter()
        authenticator.authenticate(_api_key(headers)).require("score")
        try:
            tx = TransactionIn.model_validate_json(body)
        except ValidationError as exc:
            response = validation_response(exc.errors())
            return 422, bytes(response.body), []
        # The raw body: a retry resends the same bytes; anything else under the id is a conflict.
        fingerprint = hashlib.blake2b(body, digest_size=16).hexdigest()
        seen = idempotency.get(tx.transaction_id)
        if seen is not None:
            return _replay(seen, fingerprint)
        loaded = handle.current
        if loaded is None:
            raise ApiError(503, "model_not_loaded", "no fraud model is loaded")
        model = loaded.model
        assert isinstance(model, FraudModel)
        try:
            row = model.feature_row(tx, store)
        except MissingFeatureError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from exc
        proba, decision = model.assess(tx, row)
        # TreeSHAP (about a millisecond) runs in a worker thread; LightGBM releases the GIL.
        reasons = [] if decision == "approve" else await run_in_threadpool(model.reasons, row)
        answer = model.answer(tx, proba, decision, reasons, loaded.version)
        payload = answer.model_dump_json().encode()
        stored = idempotency.put(tx.transaction_id, fingerprint, payload)
        if stored[1] is not payload:  # a concurrent retry of the same id answered first
            return _replay(stored, fingerprint)
        shadowed = None
        if shadow.challenger(loaded) is not None:
            shadowed = shadow.score(loaded, tx, challenger_answer(model, tx, row))
        try:
            writer.submit(
                {
                    "request_id": f"fraud:{tx.transaction_id}",
                    "use_case": "fraud",
                    "entity_id": tx.transaction_id,
                    "model_name": loaded.name,
                    "model_version": loaded.version,
                    "inputs": {
                        **tx.model_dump(mode="json"),
                        "features": dict(zip(model.feature_names, row, strict=True)),
                    },
                    "outputs": answer.model_dump(mode="json"),
                    "score": answer.fraud_probability,
                    "decision": answer.decision,
                    "latency_ms": (time.perf_counter() - start) * 1000.0,
                    "shadow": shadowed,
                    "created_at": utcnow(),
                }
            )
        except LogBackpressure as exc:
            raise ApiError(503, "log_unavailable", "inference log is full; retry later") from exc
        return 200, payload, [(b"x-model-version", loaded.version.encode())]

    # The hot path: answered by the guard middleware before routing.
    service.fast_routes[("POST", "/v1/fraud/score")] = score_bytes

    async def score(request: Request) -> Response:
        """Documents the route in OpenAPI; requests normally never get this far."""
        status, payload, extra = await score_bytes(await request.body(), request.headers.raw)
        headers = {k.decode(): v.decode() for k, v in extra}
        return Response(payload, status_code=status, media_type=_JSON, headers=headers)

    router.add_api_route(
        "/score",
        score,
        methods=["POST"],
        summary="Score a card transaction before it is processed",
        description=(
            "Fraud probability, 0-100 risk score, approve/review/decline and the top reasons "
            "(TreeSHAP). Idempotent by transaction_id: a retry with the same body returns the "
            "same answer; the same id with another body is 409. Requires the `score` scope."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {_JSON: {"schema": TransactionIn.model_json_schema()}},
            }
        },
        responses={
            200: {"model": FraudScoreOut, "description": "The decision"},
            409: {"description": "transaction_id already scored with a different body"},
            422: {"description": "Invalid transaction; error.field names the field"},
        },
    )
    router.include_router(explanation_router())
    return router


def _api_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    x_api_key = authorization = None
    for name, value in headers:
        if name == b"x-api-key":
            x_api_key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    return presented_key(x_api_key, authorization)


def _replay(
    stored: tuple[str, bytes], fingerprint: str
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    if stored[0] != fingerprint:
        raise ApiError(
            409,
            "conflict",
            "transaction_id was already scored with a different request body",
            "transaction_id",
        )
    return 200, stored[1], [(b"x-idempotent-replay", b"true")]


def challenger_row(
    champion: FraudModel, challenger: FraudModel, tx: TransactionIn, row: Sequence[float]
) -> Sequence[float]:
    """The challenger's input, built from the row the champion scored (never recomputed).

    Same feature list: the same row. Otherwise by name from the champion's row, then from the
    request's sent ``features``; a feature neither has is NaN (LightGBM's missing value), so a
    challenger trained on a new feature can still be compared before the windows compute it.
    """
    if challenger.feature_names == champion.feature_names:
        return row
    known: dict[str, Any] = dict(zip(champion.feature_names, row, strict=True))
    sent = tx.features or {}
    out: list[float] = []
    for name in challenger.feature_names:
        value = known.get(name, sent.get(name))
        if value is None and name == "amount":
            value = tx.amount
        out.append(math.nan if value is None else float(value))
    return out
