"""The audit trail: one function writes every ``audit_log`` row, whoever the caller is.

Risk analysts read this table to answer "who changed what a model decides, and when"; keeping
one writer keeps its rows uniform (``target`` as ``name@alias``, reasons in ``details``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

from nexafi_ai.db.tables import audit_log, utcnow

__all__ = ["record"]


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    from_version: str | None = None,
    to_version: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Insert one audit row inside the caller's transaction, so it commits with the change."""
    conn.execute(
        insert(audit_log).values(
            actor=actor,
            action=action,
            target=target,
            from_version=from_version,
            to_version=to_version,
            details=dict(details or {}),
            created_at=utcnow(),
        )
    )
