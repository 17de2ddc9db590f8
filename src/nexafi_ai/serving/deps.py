"""FastAPI dependencies, as ``Annotated`` aliases routes declare in their signatures.

They are ``async`` on purpose: checking a key is a hash and a dictionary lookup, and FastAPI
runs a plain ``def`` dependency in its thread pool, whose two thread hops per request cost more
than most model calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from nexafi_ai.serving.auth import Principal, presented_key
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.usecases.base import UseCase

__all__ = [
    "AdminScope",
    "ContextDep",
    "ReadScope",
    "ScoreScope",
    "require_any_scope",
    "require_scope",
    "use_case_in_path",
]


async def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and demands ``scope`` (401, then 403)."""

    async def dependency(
        ctx: ContextDep,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        principal = ctx.authenticator.authenticate(presented_key(x_api_key, authorization))
        return principal.require(scope)

    return dependency


def require_any_scope(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """Like :func:`require_scope`, but any one of ``scopes`` is enough (401, then 403).

    For endpoints two roles legitimately share, e.g. labels: analysts record verdicts, admins
    load chargeback files; neither role should need the other's scope for it.
    """
    wanted = frozenset(scopes)
    named = " or ".join(f"'{s}'" for s in sorted(wanted))

    async def dependency(
        ctx: ContextDep,
        x_api_key: Annotated[str | None, Header()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Principal:
        principal = ctx.authenticator.authenticate(presented_key(x_api_key, authorization))
        if not principal.scopes & wanted:
            raise ApiError(403, "forbidden", f"this API key lacks the {named} scope")
        return principal

    return dependency


ScoreScope = Annotated[Principal, Depends(require_scope("score"))]
ReadScope = Annotated[Principal, Depends(require_scope("read"))]
AdminScope = Annotated[Principal, Depends(require_scope("admin"))]


def use_case_in_path(ctx: ServiceContext, name: str) -> UseCase:
    """The use case a ``/{use_case}/...`` path names; 404 naming ``use_case`` when unknown."""
    known = ctx.known_use_cases()
    found = known.get(name)
    if found is None:
        raise ApiError(
            404,
            "not_found",
            f"use_case: unknown use case {name!r}; known {sorted(known)}",
            "use_case",
        )
    return found
