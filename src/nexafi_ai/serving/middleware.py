"""A pure-ASGI guard in front of every route: body cap (413), JSON only (415), metrics.

Pure ASGI instead of ``BaseHTTPMiddleware``: it adds no task or stream copy per request, which
matters on the scoring hot path. The body is read here, bounded by the cap, and replayed to
the app, so an oversized body is refused before any parsing and a chunked upload cannot
bypass the limit by omitting ``Content-Length``.

Hot-path routes registered in ``fast_routes`` are answered right here with the body already
in hand: no routing, no dependency resolution, no response re-validation. They keep the
same limits, error envelope and metrics as every other route.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexafi_ai.serving.context import FastHandler
from nexafi_ai.serving.errors import ApiError, error_body
from nexafi_ai.serving.metrics import ServiceMetrics

__all__ = ["GuardMiddleware"]

log = logging.getLogger(__name__)

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: bytes) -> bool:
    """``application/json`` or any ``+json`` type, parameters ignored.

    >>> _is_json(b"application/json; charset=utf-8"), _is_json(b"application/problem+json")
    (True, True)
    >>> _is_json(b"text/plain")
    False
    """
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


async def _send(
    send: Send, status: int, payload: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    await _send(send, status, json.dumps(error_body(code, message, "body")).encode())


class GuardMiddleware:
    """Enforces body size and media type, and records request count and latency per route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: ServiceMetrics,
        fast_routes: Mapping[tuple[str, str], FastHandler] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.fast_routes = fast_routes if fast_routes is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        fast = self.fast_routes.get((scope["method"], scope["path"]))
        try:
            if scope["method"] in _BODY_METHODS:
                body = await self._read_body(scope, receive, send_wrapper)
                if body is None:
                    return
                if fast is not None:
                    await self._answer_fast(fast, body, scope, send_wrapper)
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or (
                scope["path"] if fast is not None else "unmatched"
            )
            self.metrics.observe_request(
                template, scope["method"], status_holder[0], time.perf_counter() - start
            )

    async def _answer_fast(
        self, handler: FastHandler, body: bytes, scope: Scope, send: Send
    ) -> None:
        try:
            status, payload, headers = await handler(body, scope["headers"])
        except ApiError as exc:
            headers = [(k.encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            payload = json.dumps(error_body(exc.code, exc.message, exc.field)).encode()
            status = exc.status
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            payload = json.dumps(error_body("internal_error", "internal server error")).encode()
            status, headers = 500, []
        await _send(send, status, payload, headers)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """Read the whole body within the cap; None when an error response was sent."""
        content_type = b""
        declared = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        too_large = f"request body exceeds {self.max_body_bytes} bytes"
        if declared > self.max_body_bytes:
            await _send_error(send, 413, "payload_too_large", too_large)
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _send_error(send, 413, "payload_too_large", too_large)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if (body or content_type) and not _is_json(content_type):
            shown = content_type.decode("latin-1") or "none"
            await _send_error(
                send, 415, "unsupported_media_type", f"expected application/json, got {shown}"
            )
            return None
        return body


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the server."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
