"""Relational storage: one schema, managed by Alembic, identical on SQLite and PostgreSQL."""

from nexafi_ai.db.engine import make_engine, ping
from nexafi_ai.db.migrate import current_revision, head_revision, upgrade
from nexafi_ai.db.tables import (
    audit_log,
    batch_jobs,
    drift_reports,
    inference_log,
    labels,
    metadata,
    review_queue,
)

__all__ = [
    "audit_log",
    "batch_jobs",
    "current_revision",
    "drift_reports",
    "head_revision",
    "inference_log",
    "labels",
    "make_engine",
    "metadata",
    "ping",
    "review_queue",
    "upgrade",
]
