"""``POST /v1/forecast`` and ``GET /v1/market/{symbol}/trend``.

A fintech app asks for a price forecast with intervals, for a symbol the model was trained on
or for a series it sends (``POST``), or for the direction and volatility of a stored symbol
over the next days (``GET``). Both need the ``score`` scope like the other business endpoints
and log every answer to ``inference_log`` before it leaves (a full log refuses with 503 rather
than answer without a record).

A stored symbol is answered from arrays kept in the model (well under a millisecond), so it
runs on the event loop: a thread hop would cost more than the work. A sent series is fitted on
the fly (tens of milliseconds for thousands of points), which would stall every other request
on the loop, so it runs in the thread pool.

A loaded ``@challenger`` answers the same request in shadow, the same way (on the loop or in the
pool); its answer goes to the log row's ``shadow`` column, never to the caller.

The two routes live under different prefixes, so the router has none and names full paths.
This module deliberately has no ``from __future__ import annotations``: FastAPI reads the
parameter and body types from the handlers' annotations at run time.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from nexafi_ai.serving.answers import ShadowScorer, logged_response
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import ScoreScope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.handles import LoadedModel
from nexafi_ai.serving.routes.predict import request_id_from
from nexafi_ai.usecases.base import LogFields, RequestFieldError, UseCase
from nexafi_ai.usecases.fields import Token
from nexafi_ai.usecases.forecast.model import ForecastModel, UnknownSymbolError
from nexafi_ai.usecases.forecast.schemas import ForecastOut, ForecastRequest, TrendOut

__all__ = ["forecast_router"]

_JSON = "application/json"
_MAX_HORIZON = 60
_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "Symbol unknown to the served model; field symbol"},
    422: {"description": "Invalid request; error.field names the field"},
    503: {"description": "No forecast model loaded, or the inference log is full"},
}


def forecast_router(use_case: UseCase, service: ServiceContext) -> APIRouter:
    """The forecasting endpoints, bound to the service's live model handle."""
    router = APIRouter(tags=[use_case.name])
    handle = service.handles[use_case.name]
    writer = service.log_writer
    shadow = ShadowScorer(use_case, service)

    def challenger_model(challenger: LoadedModel) -> ForecastModel:
        model = challenger.model
        if not isinstance(model, ForecastModel):
            raise TypeError(f"challenger is a {type(model).__name__}, not a ForecastModel")
        return model

    def forecast_shadow(champion: LoadedModel, body: ForecastRequest) -> dict[str, Any] | None:
        """The ``@challenger``'s forecast of the same request, for the log only."""
        return shadow.score(
            champion,
            body,
            lambda challenger: challenger_model(challenger).forecast(body, challenger.version),
        )

    def trend_shadow(
        champion: LoadedModel, symbol: str, horizon: int, answered: TrendOut
    ) -> dict[str, Any] | None:
        """The challenger's trend for the same symbol and horizon (no request model here)."""
        return shadow.score(
            champion,
            answered,
            lambda challenger: challenger_model(challenger).trend(
                symbol, horizon=horizon, version=challenger.version
            ),
            trend_fields,
        )

    def live() -> tuple[LoadedModel, ForecastModel]:
        loaded = handle.current
        if loaded is None:
            raise ApiError(503, "model_not_loaded", f"no {use_case.name} model is loaded")
        model = loaded.model
        if not isinstance(model, ForecastModel):
            raise ApiError(503, "model_not_loaded", f"the {use_case.name} model is not loaded")
        return loaded, model

    def unknown(exc: UnknownSymbolError) -> ApiError:
        field = str(getattr(exc, "field", "symbol"))
        return ApiError(
            404,
            "not_found",
            f"{field}: the served model has no history for this symbol; send its series instead",
            field,
        )

    def logged(
        loaded: LoadedModel,
        request_id: str,
        inputs: dict[str, Any],
        out: BaseModel,
        fields: LogFields,
        start: float,
        shadowed: dict[str, Any] | None,
    ) -> Response:
        return logged_response(
            writer, use_case.name, loaded, request_id, inputs, out, fields, start, shadowed
        )

    async def forecast(
        body: ForecastRequest,
        _: ScoreScope,
        x_request_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        start = time.perf_counter()
        request_id = request_id_from(x_request_id)
        loaded, model = live()
        try:
            if body.series is None:
                out = model.forecast(body, version=loaded.version)
                shadowed = forecast_shadow(loaded, body)
            else:  # a fit on the fly: off the loop, the challenger's too
                out = await run_in_threadpool(model.forecast, body, loaded.version)
                shadowed = None
                if shadow.challenger(loaded) is not None:
                    shadowed = await run_in_threadpool(forecast_shadow, loaded, body)
        except UnknownSymbolError as exc:
            raise unknown(exc) from exc
        except RequestFieldError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from exc
        if out.model_version != loaded.version:  # the registry's version, whatever the model says
            out = out.model_copy(update={"model_version": loaded.version})
        fields = use_case.log_fields(body, out)
        inputs = body.model_dump(mode="json")
        return logged(loaded, request_id, inputs, out, fields, start, shadowed)

    async def trend(
        symbol: Annotated[Token, Path(description="A symbol the served model was trained on.")],
        _: ScoreScope,
        horizon: Annotated[
            int, Query(ge=1, le=_MAX_HORIZON, description="Trading days ahead.")
        ] = 5,
        x_request_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        start = time.perf_counter()
        request_id = request_id_from(x_request_id)
        loaded, model = live()
        try:
            out = model.trend(symbol, horizon=horizon, version=loaded.version)
        except UnknownSymbolError as exc:
            raise unknown(exc) from exc
        except RequestFieldError as exc:
            raise ApiError(422, "validation_error", str(exc), exc.field) from exc
        if out.model_version != loaded.version:
            out = out.model_copy(update={"model_version": loaded.version})
        fields = trend_fields(None, out)
        inputs = {"symbol": symbol, "horizon": horizon, "endpoint": "trend"}
        shadowed = trend_shadow(loaded, symbol, horizon, out)
        return logged(loaded, request_id, inputs, out, fields, start, shadowed)

    router.add_api_route(
        "/v1/forecast",
        forecast,
        methods=["POST"],
        summary="Price forecast with intervals for a stored symbol or a sent series",
        description=(
            "Send symbol (one the served model was trained on) or series (timestamped prices, "
            "enough of them for the model's method), a horizon in trading days (1-60) and the "
            "interval levels (50-99, default 80 and 95). model names the point forecast served; "
            "random_walk_fallback says the validated model did not beat the random walk "
            "significantly, so the random walk is served, and explanation says why. validation "
            "holds the rolling-origin results against the random walk. Requires the `score` "
            "scope."
        ),
        response_model=ForecastOut,
        responses=_ERRORS,
    )
    router.add_api_route(
        "/v1/market/{symbol}/trend",
        trend,
        methods=["GET"],
        summary="Direction and volatility of a stored symbol over the next days",
        description=(
            "The probability that the price is higher after horizon trading days, the expected "
            "return, the daily and annualised volatility forecast, and a signal that is neutral "
            "unless the probability is clearly away from one half. A symbol the model was not "
            "trained on is 404 (field symbol): POST its series to /v1/forecast instead. "
            "Requires the `score` scope."
        ),
        response_model=TrendOut,
        responses=_ERRORS,
    )
    return router


def trend_fields(request: BaseModel | None, response: BaseModel) -> LogFields:
    """A trend answer's indexed log columns (the champion's row and the shadow alike)."""
    assert isinstance(response, TrendOut)
    return LogFields(
        entity_id=response.symbol, score=response.probability_up, decision=response.signal
    )
