"""Record an answer in the inference log, then send it: one way for every scoring route.

An answer leaves only once its log row is queued (durable by the writer's spool); a full log
refuses with 503 rather than answering without a record. Every route builds the same row, so
monitoring reads every use case alike.

Shadow scoring lives here too: :class:`ShadowScorer` runs a use case's ``@challenger`` on the
request the champion just answered and turns its answer into the row's ``shadow`` JSON
(``model_version``, ``score``, ``decision`` from the use case's own ``log_fields``). The
challenger's answer never reaches the caller, and a challenger that raises is logged and
counted, never a failed request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Response
from pydantic import BaseModel

from nexafi_ai.db.tables import utcnow
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import LoadedModel
from nexafi_ai.serving.log_writer import InferenceLogWriter, InferenceRow, LogBackpressure
from nexafi_ai.usecases.base import LogFields, UseCase

if TYPE_CHECKING:
    from nexafi_ai.serving.context import ServiceContext

__all__ = ["ShadowScorer", "inference_row", "logged_response", "shadow_record", "submit"]

log = logging.getLogger(__name__)

_JSON = "application/json"


def inference_row(
    use_case: str,
    loaded: LoadedModel,
    request_id: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    fields: LogFields,
    start: float,
    shadow: dict[str, Any] | None = None,
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
        "shadow": shadow,
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
    shadow: dict[str, Any] | None = None,
) -> Response:
    """Log ``out`` (and the challenger's ``shadow``) and return ``out`` alone as JSON."""
    payload = out.model_dump_json()
    row = inference_row(
        use_case, loaded, request_id, inputs, out.model_dump(mode="json"), fields, start, shadow
    )
    submit(writer, row)
    return Response(
        payload,
        media_type=_JSON,
        headers={"X-Request-ID": request_id, "X-Model-Version": loaded.version},
    )


def shadow_record(loaded: LoadedModel, fields: LogFields, seconds: float) -> dict[str, Any]:
    """The ``shadow`` JSON of one challenger answer: what monitoring compares with the champion.

    The same three figures the champion's row carries in its indexed columns, so a live
    comparison (AUC of ``score`` against labels, decision agreement) reads both alike.
    """
    return {
        "model_version": loaded.version,
        "score": fields.score,
        "decision": fields.decision,
        "latency_ms": round(seconds * 1000.0, 3),
    }


class ShadowScorer:
    """Scores a use case's ``@challenger`` beside its champion, for the log only.

    Built once per router. With no challenger configured or loaded, :meth:`challenger` is two
    attribute reads, so the champion's path costs nothing measurable. A challenger that holds
    the very version the champion serves is skipped (its answer would be the champion's).
    """

    def __init__(self, use_case: UseCase, service: ServiceContext) -> None:
        self.use_case = use_case
        self.handle = service.challengers.get(use_case.name)
        self._errors = service.metrics.shadow_errors.labels(use_case.name)

    def challenger(self, champion: LoadedModel) -> LoadedModel | None:
        """The challenger version to score beside ``champion`` now, or None."""
        handle = self.handle
        if handle is None:
            return None
        current = handle.current
        if current is None or current.version == champion.version:
            return None
        return current

    def score(
        self,
        champion: LoadedModel,
        request: BaseModel,
        answer: Callable[[LoadedModel], BaseModel],
        fields: Callable[[BaseModel, BaseModel], LogFields] | None = None,
    ) -> dict[str, Any] | None:
        """``answer(challenger)`` for ``request`` as shadow JSON; None with no challenger.

        ``fields`` defaults to the use case's ``log_fields`` (a route whose champion row uses
        other fields passes the same function here). Never raises: a failure becomes
        ``{"model_version", "error"}`` in the log and a count on ``nexafi_shadow_errors``.
        """
        challenger = self.challenger(champion)
        if challenger is None:
            return None
        start = time.perf_counter()
        try:
            out = answer(challenger)
            logged = (fields or self.use_case.log_fields)(request, out)
        except Exception as exc:
            return self.failed(challenger, exc)
        return shadow_record(challenger, logged, time.perf_counter() - start)

    def failed(self, challenger: LoadedModel, exc: BaseException) -> dict[str, Any]:
        """Log and count a challenger failure; the shadow JSON that records it."""
        self._errors.inc()
        log.warning(
            "%s challenger v%s failed in shadow: %r", self.use_case.name, challenger.version, exc
        )
        return {"model_version": challenger.version, "error": f"{type(exc).__name__}: {exc}"[:500]}
