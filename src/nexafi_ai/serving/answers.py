"""Record an answer in the inference log, then send it: one way for every scoring route.

An answer leaves only once its log row is queued (durable by the writer's spool); a full log
refuses with 503 rather than answering without a record. Every route builds the same row, so
monitoring reads every use case alike.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from nexafi_ai.db.tables import utcnow
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import LoadedModel
from nexafi_ai.serving.log_writer import InferenceLogWriter, InferenceRow, LogBackpressure
from nexafi_ai.usecases.base import LogFields

__all__ = ["inference_row", "logged_response", "submit"]

_JSON = "application/json"


def inference_row(
    use_case: str,
    loaded: LoadedModel,
    request_id: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    fields: LogFields,
    start: float,
) -> InferenceRow:
    """The log row of one answered request; ``start`` is its ``perf_counter`` at arrival."""
    return {
        "request_id": request_id,
        "use_case": use_case,
        "entity_id": fields.entity_id,
        "model_name": loaded.name,
        "model_version": loaded.version,
        "inputs": inputs,
        "outputs": outputs,
        "score": fields.score,
        "decision": fields.decision,
        "latency_ms": (time.perf_counter() - start) * 1000.0,
        "shadow": None,
        "created_at": utcnow(),
    }


def submit(writer: InferenceLogWriter, row: InferenceRow) -> None:
    """Queue ``row``; 503 when the log cannot take it (the caller must not answer)."""
    try:
        writer.submit(row)
    except LogBackpressure as exc:
        raise ApiError(503, "log_unavailable", "inference log is full; retry later") from exc


def logged_response(
    writer: InferenceLogWriter,
    use_case: str,
    loaded: LoadedModel,
    request_id: str,
    inputs: dict[str, Any],
    out: BaseModel,
    fields: LogFields,
    start: float,
) -> Response:
    """Log ``out`` and return it as JSON with the request id and the serving version."""
    payload = out.model_dump_json()
    row = inference_row(
        use_case, loaded, request_id, inputs, out.model_dump(mode="json"), fields, start
    )
    submit(writer, row)
    return Response(
        payload,
        media_type=_JSON,
        headers={"X-Request-ID": request_id, "X-Model-Version": loaded.version},
    )
