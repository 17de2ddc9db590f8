"""API keys with scopes, compared in constant time.

Keys are held only as sha256 digests and every configured digest is compared on every
request (no early exit), so response time says nothing about how close a guess was. The
caller's identity in logs and the audit trail is a short digest prefix, never the key.
With no keys configured (allowed only on a loopback bind) every caller holds every scope.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from nexafi_ai.serving.errors import ApiError
from nexafi_ai.settings import KNOWN_SCOPES

__all__ = ["Authenticator", "Principal", "presented_key"]

_CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a stable, non-secret id and the scopes its key grants."""

    actor: str
    scopes: frozenset[str]

    def require(self, scope: str) -> Principal:
        """Return self when the scope is granted, else raise 403 naming it."""
        if scope not in self.scopes:
            raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
        return self


LOCAL = Principal("local", KNOWN_SCOPES)


def presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key from ``X-API-Key``, else from ``Authorization: Bearer <key>``."""
    if x_api_key:
        return x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


class Authenticator:
    """Maps a presented key to a :class:`Principal`."""

    def __init__(self, keys: Mapping[str, frozenset[str]]) -> None:
        self._entries = [
            (hashlib.sha256(key.encode()).digest(), frozenset(scopes))
            for key, scopes in keys.items()
        ]

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def authenticate(self, presented: str | None) -> Principal:
        """Resolve a key from ``X-API-Key`` or ``Authorization: Bearer``; 401 when unknown."""
        if not self._entries:
            return LOCAL
        if not presented:
            raise ApiError(401, "unauthorized", "missing API key", "X-API-Key", _CHALLENGE)
        digest = hashlib.sha256(presented.encode()).digest()
        granted: frozenset[str] | None = None
        for known, scopes in self._entries:
            if hmac.compare_digest(known, digest):
                granted = scopes
        if granted is None:
            raise ApiError(401, "unauthorized", "invalid API key", "X-API-Key", _CHALLENGE)
        return Principal(f"key:{digest.hex()[:12]}", granted)
