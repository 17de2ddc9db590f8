"""The relational schema (SQLAlchemy 2.0 Core), the single source for Alembic migrations.

Core tables rather than ORM classes: the hot writers (inference log, labels) insert plain
dicts in batches, and readers mostly aggregate. Types are chosen to behave the same on SQLite
and PostgreSQL: JSON becomes JSONB on PostgreSQL, timestamps are always timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "JSONType",
    "UTCDateTime",
    "audit_log",
    "batch_jobs",
    "drift_reports",
    "inference_log",
    "labels",
    "metadata",
    "review_queue",
    "utcnow",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSON documents; JSONB on PostgreSQL so monitoring can index and query into them. Python
#: ``None`` is stored as SQL NULL (not JSON ``null``) so ``shadow IS NULL`` finds unshadowed rows.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: Auto-increment primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware.

    SQLite has no timezone type and returns naive values; without this a row written and read
    back would not compare equal to what was written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(stamp, datetime):
            raise TypeError(f"expected a timestamp, got {type(value).__name__}")
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


inference_log = Table(
    "inference_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False, unique=True),
    Column("use_case", String(32), nullable=False),
    #: The business id labels join on: transaction id, applicant id, user id, series id.
    Column("entity_id", String(128), nullable=True),
    Column("model_name", String(128), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("inputs", JSONType, nullable=False),
    Column("outputs", JSONType, nullable=False),
    #: The headline number (probability, PD, forecast) kept apart so monitoring needs no JSON.
    Column("score", Float, nullable=True),
    Column("decision", String(32), nullable=True),
    Column("latency_ms", Float, nullable=False),
    #: Outputs of a shadow (challenger) model on the same inputs, never returned to callers.
    Column("shadow", JSONType, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "use_case", "created_at"),
    Index(None, "use_case", "entity_id"),
)

labels = Table(
    "labels",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("use_case", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    #: Stored as text so one table holds classes ("fraud"), numbers ("1", "103.2") and ids.
    Column("label", String(128), nullable=False),
    Column("source", String(32), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("use_case", "entity_id", "source"),
)

batch_jobs = Table(
    "batch_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("use_case", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", JSONType, nullable=False, default=dict),
    Column("input_uri", Text, nullable=True),
    Column("output_uri", Text, nullable=True),
    Column("rows_total", BigInteger, nullable=True),
    Column("rows_done", BigInteger, nullable=False, default=0),
    #: Resumable jobs record the last committed chunk so a restart continues after it.
    Column("checkpoint", JSONType, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_by", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
    Column("finished_at", UTCDateTime, nullable=True),
    Index(None, "status", "created_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    Column("from_version", String(32), nullable=True),
    Column("to_version", String(32), nullable=True),
    Column("details", JSONType, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "target", "created_at"),
)


drift_reports = Table(
    "drift_reports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("use_case", String(32), nullable=False),
    Column("model_name", String(128), nullable=False),
    #: The version whose frozen reference the window was compared with.
    Column("model_version", String(32), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("n_rows", BigInteger, nullable=False),
    #: Worst feature status: ok, warn or alert (indexed apart so triggers need no JSON).
    Column("status", String(8), nullable=False),
    Column("report", JSONType, nullable=False),
    Column("created_by", String(128), nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Index(None, "use_case", "created_at"),
)

review_queue = Table(
    "review_queue",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("use_case", String(32), nullable=False),
    Column("entity_id", String(128), nullable=False),
    #: One queue entry per logged inference; written in the same transaction as the log row.
    Column("request_id", String(64), nullable=False, unique=True),
    Column("model_version", String(32), nullable=False),
    Column("score", Float, nullable=True),
    #: What an analyst needs at a glance (amount, merchant, reasons), never a card number.
    Column("summary", JSONType, nullable=False, default=dict),
    #: open -> decided; a decided entry may be decided again (a corrected verdict).
    Column("status", String(16), nullable=False, default="open"),
    Column("verdict", String(64), nullable=True),
    Column("analyst", String(128), nullable=True),
    Column("note", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("decided_at", UTCDateTime, nullable=True),
    Index(None, "status", "created_at"),
    Index(None, "use_case", "entity_id"),
)
