"""Whether a use case is due for a retrain: schedule, drift or a performance drop, cooled down.

Checked in this order, the first that applies wins:

1. **Cooldown.** A retrain (promoted or refused: any ``retrain.*`` audit row for the model)
   within ``cooldown_hours`` means not due, whatever else says so: a drift alert that a
   fresh challenger did not fix must not retrain every few minutes.
2. **Schedule.** The champion version is older than ``schedule_days``.
3. **Drift.** The newest ``drift_reports`` row of the use case is an ``alert`` written after
   the champion was last promoted (an alert about the previous model does not count).
4. **Performance.** Live ROC-AUC over the last ``perf_window_days`` (matured labels) fell
   below the AUC the champion measured on its test period at training minus ``perf_drop``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, select

from nexafi_ai.db import audit
from nexafi_ai.db.tables import drift_reports, utcnow
from nexafi_ai.monitoring.retrain import DEFAULT_POLICY, RetrainPolicy
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.usecases.base import UseCase

__all__ = ["TRAINING_AUC_KEYS", "TriggerDecision", "retrain_due", "training_auc"]

log = logging.getLogger(__name__)

Trigger = Literal["schedule", "drift", "performance"]
#: Where versions record the ROC-AUC measured on their held-out test period, by use case:
#: fraud ``test_roc_auc``, credit ``roc_auc``.
TRAINING_AUC_KEYS = ("test_roc_auc", "roc_auc")


@dataclass(frozen=True, slots=True)
class TriggerDecision:
    """Whether to retrain now, which trigger fired and why (or why not)."""

    due: bool
    reason: str
    trigger: Trigger | None = None


def training_auc(info: ModelVersionInfo) -> float | None:
    """The held-out ROC-AUC a version recorded at training, if it recorded one."""
    for key in TRAINING_AUC_KEYS:
        value = info.metrics.get(key)
        if value is not None:
            return float(value)
    return None


def _promoted_at(engine: Engine, info: ModelVersionInfo) -> datetime:
    """When ``@champion`` last moved onto this version (its registration time if unaudited)."""
    row = audit.latest(
        engine, target=f"{info.name}@champion", action_prefix="alias.", to_version=info.version
    )
    return info.created_at if row is None else row.created_at


def _live_auc(engine: Engine, use_case: UseCase, now: datetime, days: float) -> float | None:
    # Imported here: live performance is its own module, and triggers must not need it to load.
    from nexafi_ai.monitoring.performance import live_performance

    report = live_performance(
        engine,
        use_case,
        start=now - timedelta(days=days),
        end=now,
        as_of=now,
        bucket=None,
        maturity_days=use_case.label_maturity_days,
    )
    value = report["overall"].get("auc")
    return None if value is None else float(value)


def retrain_due(
    engine: Engine,
    registry: ModelRegistry,
    use_case: UseCase,
    *,
    now: datetime | None = None,
    policy: RetrainPolicy = DEFAULT_POLICY,
) -> TriggerDecision:
    """Decide whether ``use_case`` should be retrained at ``now`` (see the module docstring)."""
    now = now or utcnow()
    name = use_case.model_name
    last = audit.latest(engine, target=name, action_prefix="retrain.")
    if last is not None and now - last.created_at < timedelta(hours=policy.cooldown_hours):
        return TriggerDecision(
            False,
            f"cooling down: last retrain ({last.action}) at {last.created_at.isoformat()}, "
            f"within {policy.cooldown_hours:g} h",
        )
    version = registry.alias_version(name, "champion")
    if version is None:
        return TriggerDecision(True, f"{name} has no @champion", "schedule")
    info = registry.get_version(name, version)
    age = now - info.created_at
    if age > timedelta(days=policy.schedule_days):
        return TriggerDecision(
            True,
            f"champion v{version} is {age.days} days old (schedule: {policy.schedule_days:g})",
            "schedule",
        )
    promoted = _promoted_at(engine, info)
    with engine.connect() as conn:
        newest = conn.execute(
            select(drift_reports.c.status, drift_reports.c.created_at, drift_reports.c.id)
            .where(drift_reports.c.use_case == use_case.name)
            .order_by(drift_reports.c.created_at.desc(), drift_reports.c.id.desc())
            .limit(1)
        ).first()
    if newest is not None and newest.status == "alert" and newest.created_at > promoted:
        return TriggerDecision(
            True,
            f"drift report {newest.id} ({newest.created_at.isoformat()}) is an alert "
            f"after v{version} was promoted",
            "drift",
        )
    reference = training_auc(info)
    if reference is not None and use_case.performance_kind == "classification":
        live = _live_auc(engine, use_case, now, policy.perf_window_days)
        if live is not None and live < reference - policy.perf_drop:
            return TriggerDecision(
                True,
                f"live ROC-AUC {live:.4f} over {policy.perf_window_days:g} days is below "
                f"v{version}'s test ROC-AUC {reference:.4f} - {policy.perf_drop}",
                "performance",
            )
    return TriggerDecision(False, f"champion v{version}: no trigger applies")
