"""Refill the in-process feature windows from the inference log after a restart.

The embedded default keeps card and terminal windows in memory. Without this, a restart would
make every card look new for the next 30 days (counts of one, no spending history), which is
not what the model was trained on. Redis-backed windows survive restarts and are left alone.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from nexafi_ai.db.tables import inference_log, labels
from nexafi_ai.features import Event, InMemoryFeatureStore
from nexafi_ai.usecases.fraud.features import WINDOWS, epoch_seconds
from nexafi_ai.usecases.fraud.schemas import TransactionIn

if TYPE_CHECKING:
    from nexafi_ai.serving.context import ServiceContext

__all__ = ["POSITIVE_LABELS", "restore_windows"]

log = logging.getLogger(__name__)

#: Label values (the ``labels.label`` text) that mean "this transaction was fraud".
POSITIVE_LABELS = frozenset({"1", "true", "fraud", "yes", "chargeback"})
#: At most this many logged transactions are replayed, newest last.
MAX_EVENTS = 5_000_000


def _event(entity_id: str, inputs: dict[str, Any]) -> Event | None:
    try:
        tx = TransactionIn.model_validate({k: v for k, v in inputs.items() if k != "features"})
    except ValueError:
        return None  # logged by an older schema; skip rather than guess
    return Event(
        event_id=entity_id,
        ts=epoch_seconds(tx.timestamp),
        amount_cents=round(tx.amount * 100),
        keys={"card_id": tx.card_id, "terminal_id": tx.terminal_id},
    )


def restore_windows(service: ServiceContext) -> int:
    """Replay the logged fraud transactions of the window horizon; return how many."""
    store = service.extras.get("fraud_online_store")
    if not isinstance(store, InMemoryFeatureStore) or len(store):
        return 0
    started = time.perf_counter()
    horizon = timedelta(days=WINDOWS.horizon_days + 1)
    with service.engine.connect() as conn:
        newest = conn.execute(
            select(func.max(inference_log.c.created_at)).where(inference_log.c.use_case == "fraud")
        ).scalar_one()
        if newest is None:
            return 0
        rows = conn.execute(
            select(inference_log.c.entity_id, inference_log.c.inputs)
            .where(inference_log.c.use_case == "fraud")
            .where(inference_log.c.created_at >= newest - horizon)
            .order_by(inference_log.c.id.desc())
            .limit(MAX_EVENTS)
        ).all()
        known = conn.execute(
            select(labels.c.entity_id, labels.c.label).where(labels.c.use_case == "fraud")
        ).all()
    events = [e for e in (_event(r.entity_id, r.inputs) for r in rows if r.entity_id) if e]
    events.sort(key=lambda e: e.ts)
    for event in events:
        store.lookup_and_record(event)
    labelled = sum(
        store.record_label(entity, 1 if str(value).lower() in POSITIVE_LABELS else 0)
        for entity, value in known
    )
    log.info(
        "fraud windows: replayed %d logged transactions and %d labels in %.1fs",
        len(events),
        labelled,
        time.perf_counter() - started,
    )
    return len(events)
