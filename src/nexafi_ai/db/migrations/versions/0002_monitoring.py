"""Monitoring tables: drift_reports and the fraud review_queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types as they were at this revision (see 0001).
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("use_case", sa.String(length=32), nullable=False),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_reports")),
    )
    op.create_index(
        op.f("ix_drift_reports_use_case_created_at"), "drift_reports", ["use_case", "created_at"]
    )

    op.create_table(
        "review_queue",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("use_case", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=64), nullable=True),
        sa.Column("analyst", sa.String(length=128), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_queue")),
        sa.UniqueConstraint("request_id", name=op.f("uq_review_queue_request_id")),
    )
    op.create_index(
        op.f("ix_review_queue_status_created_at"), "review_queue", ["status", "created_at"]
    )
    op.create_index(
        op.f("ix_review_queue_use_case_entity_id"), "review_queue", ["use_case", "entity_id"]
    )


def downgrade() -> None:
    op.drop_table("review_queue")
    op.drop_table("drift_reports")
