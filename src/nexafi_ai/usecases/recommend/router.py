"""``GET /v1/recommendations/{user_id}`` and ``POST /v1/recommendations``.

A fintech app asks for a known customer's top products by id (``GET``), or sends a new
customer's profile, or a known customer with a fresher profile and products not to show
(``POST``). Both answer the same :class:`RecommendationsOut`, need the ``score`` scope like the
other business endpoints, and log every answer to ``inference_log`` before it leaves (a full log
refuses with 503 rather than answer without a record).

A loaded ``@challenger`` answers the same request in shadow; its answer goes to the log row's
``shadow`` column, never to the caller.

The model is pure NumPy on a few dozen products and answers in well under a millisecond, so the
handlers are ``async`` and call it on the event loop: a thread hop would cost more than the
work. The answer is serialised straight from the model's pydantic object, without FastAPI's
re-validation of a response model.

This module deliberately has no ``from __future__ import annotations``: FastAPI reads the
parameter and body types from the handlers' annotations at run time.
"""

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel

from nexafi_ai.serving.answers import ShadowScorer, logged_response
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import ScoreScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import LoadedModel
from nexafi_ai.serving.routes.predict import request_id_from
from nexafi_ai.usecases.base import RequestFieldError, UseCase
from nexafi_ai.usecases.fields import Token
from nexafi_ai.usecases.recommend.model import RecommendModel, UnknownUserError
from nexafi_ai.usecases.recommend.schemas import RecommendationsOut, RecommendRequest

__all__ = ["recommend_router"]

_JSON = "application/json"
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "Unknown user_id and no profile to recommend from; field user_id"},
    422: {"description": "Invalid request; error.field names the field"},
    503: {"description": "No recommend model loaded, or the inference log is full"},
}


def recommend_router(use_case: UseCase, service: ServiceContext) -> APIRouter:
    """The recommendation endpoints, bound to the service's live model handle."""
    router = APIRouter(prefix="/v1/recommendations", tags=[use_case.name])
    handle = service.handles[use_case.name]
    writer = service.log_writer
    shadow = ShadowScorer(use_case, service)

    def challenger_answer(request: RecommendRequest) -> Callable[[LoadedModel], BaseModel]:
        """The same request to the ``@challenger`` (shadow only: logged, never returned)."""

        def run(challenger: LoadedModel) -> BaseModel:
            model = challenger.model
            if not isinstance(model, RecommendModel):
                raise TypeError(f"challenger is a {type(model).__name__}, not a RecommendModel")
            return model.recommend(request, version=challenger.version)

        return run

    def answer(request: RecommendRequest, x_request_id: str | None, start: float) -> Response:
        request_id = request_id_from(x_request_id)
        loaded = handle.current
        if loaded is None:
            raise ApiError(503, "model_not_loaded", f"no {use_case.name} model is loaded")
        model = loaded.model
        if not isinstance(model, RecommendModel):
            raise ApiError(503, "model_not_loaded", f"the {use_case.name} model is not loaded")
        try:
            out = model.recommend(request, version=loaded.version)
        except UnknownUserError as exc:
            field = str(getattr(exc, "field", "user_id"))
            raise ApiError(
                404,
                "not_found",
                f"{field}: no history for this user; send a profile to recommend from",
                field,
            ) from exc
        except RequestFieldError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from exc
        if out.model_version != loaded.version:  # the registry's version, whatever the model says
            out = out.model_copy(update={"model_version": loaded.version})
        # The customer (None for an anonymous profile), the top score and the strategy.
        fields = use_case.log_fields(request, out)
        inputs = request.model_dump(mode="json")
        shadowed = shadow.score(loaded, request, challenger_answer(request))
        return logged_response(
            writer, use_case.name, loaded, request_id, inputs, out, fields, start, shadowed
        )

    async def for_user(
        user_id: Annotated[Token, Path(description="Your customer id or token.")],
        _: ScoreScope,
        k: Annotated[int, Query(ge=1, le=50, description="How many products at most.")] = 10,
        x_request_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        start = time.perf_counter()
        return answer(RecommendRequest(user_id=user_id, k=k), x_request_id, start)

    async def for_request(
        body: RecommendRequest,
        _: ScoreScope,
        x_request_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        start = time.perf_counter()
        return answer(body, x_request_id, start)

    router.add_api_route(
        "/{user_id}",
        for_user,
        methods=["GET"],
        summary="Top products for a known customer",
        description=(
            "Up to k products the customer is eligible for and does not hold, best first, each "
            "with a reason code and a sentence; strategy says how they were chosen. A customer "
            "with no history is 404 (field user_id): POST their profile instead. Requires the "
            "`score` scope."
        ),
        response_model=RecommendationsOut,
        responses=_ERRORS,
    )
    router.add_api_route(
        "",
        for_request,
        methods=["POST"],
        summary="Top products for a new customer's profile, or a known one with options",
        description=(
            "Send user_id, profile or both. A profile alone is a cold start (strategy "
            "cold_start: profile and product features only); a known user_id with a profile is "
            "scored on that profile. exclude lists products not to show. Requires the `score` "
            "scope."
        ),
        response_model=RecommendationsOut,
        responses=_ERRORS,
    )
    return router
