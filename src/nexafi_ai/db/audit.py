"""The audit trail: one function writes every ``audit_log`` row, whoever the caller is.

Risk analysts read this table to answer "who changed what a model decides, and when"; keeping
one writer keeps its rows uniform (``target`` as ``name@alias``, reasons in ``details``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select

from nexafi_ai.db.tables import audit_log, utcnow

__all__ = ["latest", "record"]


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


def latest(
    engine: Engine,
    *,
    target: str,
    action_prefix: str = "",
    to_version: str | None = None,
) -> Row[Any] | None:
    """The newest audit row for ``target`` whose action starts with ``action_prefix``.

    ``to_version`` narrows it to moves onto that version. Cooldowns and triggers ask "when did
    this last happen"; the audit trail is the one record of it, so they read it here.
    """
    query = select(audit_log).where(audit_log.c.target == target)
    if action_prefix:
        query = query.where(audit_log.c.action.startswith(action_prefix, autoescape=True))
    if to_version is not None:
        query = query.where(audit_log.c.to_version == to_version)
    query = query.order_by(audit_log.c.created_at.desc(), audit_log.c.id.desc()).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first()
