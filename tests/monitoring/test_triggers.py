"""Retrain triggers: cooldown first, then schedule, drift and performance, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from nexafi_ai.db.tables import audit_log, drift_reports, inference_log, labels, utcnow
from nexafi_ai.monitoring.retrain import RetrainPolicy
from nexafi_ai.monitoring.triggers import retrain_due, training_auc
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.usecases.base import UseCase


def _retrain_row(engine: Engine, model_name: str, when: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(audit_log).values(
                actor="t",
                action="retrain.refused",
                target=model_name,
                from_version="1",
                to_version="2",
                details={},
                created_at=when,
            )
        )


def _drift(engine: Engine, use_case: str, status: str, when: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(drift_reports).values(
                use_case=use_case,
                model_name="nexafi-toy",
                model_version="1",
                window_start=when - timedelta(days=1),
                window_end=when,
                n_rows=100,
                status=status,
                report={},
                created_at=when,
            )
        )


def test_fresh_champion_is_not_due_and_schedule_fires_when_old(
    toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine, registry: ModelRegistry
) -> None:
    now = utcnow()
    quiet = retrain_due(engine, registry, toy, now=now)
    assert (quiet.due, quiet.trigger) == (False, None)
    later = toy_champion.created_at + timedelta(days=31)
    due = retrain_due(engine, registry, toy, now=later)
    assert (due.due, due.trigger) == (True, "schedule")
    assert "31 days old" in due.reason
    assert not retrain_due(
        engine, registry, toy, now=later, policy=RetrainPolicy(schedule_days=40)
    ).due


def test_cooldown_blocks_every_trigger(
    toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine, registry: ModelRegistry
) -> None:
    later = toy_champion.created_at + timedelta(days=31)  # the schedule would fire
    _retrain_row(engine, toy.model_name, later - timedelta(hours=2))
    blocked = retrain_due(engine, registry, toy, now=later)
    assert (blocked.due, blocked.trigger) == (False, None)
    assert blocked.reason.startswith("cooling down")
    # 26 hours after that retrain the 24-hour cooldown is over.
    free = retrain_due(engine, registry, toy, now=later + timedelta(hours=24))
    assert (free.due, free.trigger) == (True, "schedule")
    short = RetrainPolicy(cooldown_hours=1)
    assert retrain_due(engine, registry, toy, now=later, policy=short).due


def test_drift_alert_after_the_promotion_fires(
    toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine, registry: ModelRegistry
) -> None:
    now = utcnow() + timedelta(hours=1)
    _drift(engine, toy.name, "alert", now - timedelta(days=3))  # about an earlier model
    assert not retrain_due(engine, registry, toy, now=now).due
    _drift(engine, "fraud", "alert", now - timedelta(minutes=5))  # another use case
    assert not retrain_due(engine, registry, toy, now=now).due
    _drift(engine, toy.name, "alert", now - timedelta(minutes=10))
    fired = retrain_due(engine, registry, toy, now=now)
    assert (fired.due, fired.trigger) == (True, "drift")
    _drift(engine, toy.name, "ok", now - timedelta(minutes=1))  # the newest report is fine
    assert not retrain_due(engine, registry, toy, now=now).due


def _log_scored(engine: Engine, now: datetime, *, informative: bool) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, size=200)
    score = np.where(y == 1, 0.8, 0.2) if informative else rng.uniform(size=200)
    rows: list[dict[str, Any]] = []
    outcomes: list[dict[str, Any]] = []
    for i in range(200):
        when = now - timedelta(days=3, minutes=i)
        rows.append(
            {
                "request_id": f"toy:{i}",
                "use_case": "toy",
                "entity_id": f"e{i}",
                "model_name": "nexafi-toy",
                "model_version": "1",
                "inputs": {"id": f"e{i}", "x1": 0.0, "x2": 0.0},
                "outputs": {},
                "score": float(score[i]),
                "decision": "review" if score[i] >= 0.5 else "approve",
                "latency_ms": 1.0,
                "created_at": when,
            }
        )
        outcomes.append(
            {
                "use_case": "toy",
                "entity_id": f"e{i}",
                "label": str(int(y[i])),
                "source": "analyst",
                "observed_at": when + timedelta(hours=1),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(inference_log), rows)
        conn.execute(insert(labels), outcomes)


@pytest.mark.parametrize("informative", [True, False])
def test_performance_drop_fires(
    informative: bool,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    engine: Engine,
    registry: ModelRegistry,
) -> None:
    pytest.importorskip("nexafi_ai.monitoring.performance")
    reference = training_auc(toy_champion)
    assert reference is not None
    assert reference > 0.8
    now = utcnow() + timedelta(hours=1)
    _log_scored(engine, now, informative=informative)
    decision = retrain_due(engine, registry, toy, now=now)
    if informative:  # live AUC 1.0: no drop
        assert (decision.due, decision.trigger) == (False, None)
    else:
        assert (decision.due, decision.trigger) == (True, "performance")
        assert "live ROC-AUC" in decision.reason
