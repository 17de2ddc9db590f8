"""API keys the API tests present, one per scope, and settings that accept them."""

from __future__ import annotations

from nexafi_ai.settings import Settings

ADMIN = "admin-key-0123456789abcdef"
ANALYST = "analyst-key-0123456789abcdef"
SCORER = "score-key-0123456789abcdef"
READER = "read-key-0123456789abcdef"
#: Each key holds exactly its one scope, so a test shows which scope a route needs.
SCOPES: dict[str, frozenset[str]] = {
    ADMIN: frozenset({"admin"}),
    ANALYST: frozenset({"analyst"}),
    SCORER: frozenset({"score"}),
    READER: frozenset({"read"}),
}


def with_keys(settings: Settings) -> Settings:
    """``settings`` with authentication on and the four keys above configured."""
    return settings.model_copy(update={"api_keys": dict(SCOPES)})
