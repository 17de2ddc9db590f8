"""One error body for every client fault: ``{"error": {"code", "message", "field"}}``.

Callers (payment services, analysts' tools) branch on ``code`` and show ``message``; ``field``
names the offending input (dotted path, ``body`` for an unparsable body) so a 422 is fixable
without reading server logs. Unexpected exceptions become a 500 with no internals exposed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "error_body", "install_error_handlers", "validation_response"]

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports as-is: HTTP status, stable code, message, offending field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The error envelope.

    >>> error_body("not_found", "no such model", None)
    {'error': {'code': 'not_found', 'message': 'no such model', 'field': None}}
    """
    return {"error": {"code": code, "message": message, "field": field, **extra}}


def field_path(loc: Sequence[Any]) -> str:
    """Dotted field name from a pydantic location, without the leading ``body``.

    >>> field_path(("body", "items", 0, "amount"))
    'items.0.amount'
    >>> field_path(("body",))
    'body'
    """
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_response(raw_errors: Sequence[Any]) -> JSONResponse:
    """422 in the envelope from pydantic errors, naming the first offending field.

    The offending *values* are never echoed: they may be card numbers or personal data.
    """
    errors: list[dict[str, Any]] = [dict(e) for e in raw_errors]
    first: dict[str, Any] = errors[0] if errors else {"loc": ("body",), "msg": "invalid"}
    loc = tuple(first.get("loc", ("body",)))
    if first.get("type") == "json_invalid":
        ctx: dict[str, Any] = first.get("ctx") or {}
        field, message = "body", f"malformed JSON: {ctx.get('error', 'invalid')}"
    elif first.get("type") == "missing" and loc == ("body",):
        field, message = "body", "a JSON request body is required"
    else:
        field, message = field_path(loc), f"{field_path(loc)}: {first.get('msg', 'invalid')}"
    details = [
        {
            "field": field_path(tuple(e.get("loc", ()))),
            "message": e.get("msg"),
            "type": e.get("type"),
        }
        for e in errors
    ]
    return JSONResponse(
        error_body("validation_error", message, field, details=details), status_code=422
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every error type through the single envelope."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse(
            error_body(exc.code, exc.message, exc.field),
            status_code=exc.status,
            headers=exc.headers,
        )

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_response(exc.errors())

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
