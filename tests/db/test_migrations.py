from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from nexafi_ai.db import current_revision, head_revision, inference_log, labels, metadata, upgrade
from nexafi_ai.db.migrate import alembic_config


def test_schema_matches_tables_on_both_databases(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []
    names = set(inspect(engine).get_table_names())
    assert {
        "inference_log",
        "labels",
        "batch_jobs",
        "audit_log",
        "drift_reports",
        "review_queue",
    } <= names


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_downgrade_then_upgrade(engine: Engine) -> None:
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "inference_log" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_inference_row_round_trips_exactly(engine: Engine) -> None:
    created = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = {
        "request_id": "req-1",
        "use_case": "fraud",
        "entity_id": "tx-1",
        "model_name": "nexafi-fraud",
        "model_version": "3",
        "inputs": {"amount": 12.5, "mcc": "5411", "nested": {"a": [1, 2, None]}},
        "outputs": {"fraud_probability": 0.0123, "reasons": ["amount"]},
        "score": 0.0123,
        "decision": "approve",
        "latency_ms": 1.25,
        "shadow": None,
        "created_at": created,
    }
    with engine.begin() as conn:
        conn.execute(insert(inference_log).values(**row))
    with engine.connect() as conn:
        got = conn.execute(select(inference_log)).mappings().one()
    for key, value in row.items():
        if key == "created_at":
            assert got[key] == created
            assert got[key].tzinfo == UTC
        else:
            assert got[key] == value, key


def test_request_id_is_unique(engine: Engine) -> None:
    row = {
        "request_id": "dup",
        "use_case": "toy",
        "model_name": "m",
        "model_version": "1",
        "inputs": {},
        "outputs": {},
        "latency_ms": 1.0,
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        conn.execute(insert(inference_log).values(**row))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(inference_log).values(**row))


def test_labels_unique_per_entity_and_source(engine: Engine) -> None:
    row = {
        "use_case": "fraud",
        "entity_id": "tx-1",
        "label": "1",
        "source": "chargeback",
        "observed_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        conn.execute(insert(labels).values(**row))
        conn.execute(insert(labels).values(**{**row, "source": "analyst"}))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(labels).values(**row))


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive"), engine.begin() as conn:
        conn.execute(
            insert(labels).values(
                use_case="x", entity_id="e", label="1", source="s", observed_at=datetime(2026, 1, 1)
            )
        )


def test_log_writer_columns_match_the_table() -> None:
    from nexafi_ai.serving.log_writer import COLUMNS

    assert tuple(c.name for c in inference_log.columns if c.name != "id") == COLUMNS
