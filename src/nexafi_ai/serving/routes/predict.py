"""The generic ``POST /v1/<use case>/predict`` route every use case gets by default.

Validation comes from the use case's pydantic request model (``extra="forbid"``), the answer
from the live model handle, and every answered request is queued to the inference log before
the response leaves. A full log (spool over its cap) refuses with 503 instead of answering
without a record. When a ``@challenger`` is loaded it answers the same validated request in
shadow: its answer goes to the log row's ``shadow`` column, never to the caller.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the
request model from the handler's annotation, which is a per-use-case class built at run time.
"""

import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel

from nexafi_ai.serving.answers import ShadowScorer, inference_row, submit
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import ScoreScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.usecases.base import RequestFieldError, UseCase

__all__ = ["predict_router", "request_id_from"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when well-formed, else a fresh one."""
    if header is None:
        return uuid.uuid4().hex
    if not _REQUEST_ID.match(header):
        raise ApiError(
            422, "validation_error", "X-Request-ID: 1-64 of A-Z a-z 0-9 . _ : -", "X-Request-ID"
        )
    return header


def predict_router(
    use_case: UseCase,
    service: ServiceContext,
    *,
    path: str = "/predict",
    description: str | None = None,
) -> APIRouter:
    """Build the scoring route for ``use_case`` bound to its live model handle.

    ``path`` lets a use case name the route in its own terms (``/v1/credit/score``).
    """
    router = APIRouter(prefix=f"/v1/{use_case.name}", tags=[use_case.name])
    handle = service.handles[use_case.name]
    writer = service.log_writer
    shadow = ShadowScorer(use_case, service)
    request_model: Any = use_case.request_model

    async def predict(
        body: request_model,
        response: Response,
        _: ScoreScope,
        x_request_id: str | None = Header(default=None),
    ) -> Any:
        start = time.perf_counter()
        request_id = request_id_from(x_request_id)
        loaded = handle.current
        if loaded is None:
            raise ApiError(503, "model_not_loaded", f"no {use_case.name} model is loaded")
        try:
            answer: BaseModel = loaded.model.predict([body])[0]
        except RequestFieldError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from exc
        if "model_version" in type(answer).model_fields:  # models answer unaware of the registry
            answer = answer.model_copy(update={"model_version": loaded.version})
        fields = use_case.log_fields(body, answer)
        inputs = body.model_dump(mode="json")
        outputs = answer.model_dump(mode="json")
        shadowed = shadow.score(
            loaded, body, lambda challenger: challenger.model.predict([body])[0]
        )
        row = inference_row(
            use_case.name, loaded, request_id, inputs, outputs, fields, start, shadowed
        )
        submit(writer, row)
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Model-Version"] = loaded.version
        return answer

    router.add_api_route(
        path,
        predict,
        methods=["POST"],
        response_model=use_case.response_model,
        summary=use_case.summary or f"Score one {use_case.name} request",
        description=description,
        responses={422: {"description": "Invalid request; error.field names the field"}},
    )
    return router
