"""Ground truth for monitoring: ``POST /v1/labels`` stores outcomes, ``GET`` joins them to scores.

Labels (a chargeback, an analyst's verdict, a repayment) arrive days after the score and join
``inference_log`` by the business id the use case logged (transaction id, applicant id...).
A label for an id that was never scored could never join, so it is refused (404 naming the
first such item) rather than silently stored; a batch is checked whole before anything is
written, so a refused batch stores nothing and can be fixed and resent as it is.

Writes are idempotent per (use case, entity, source): resending a batch changes nothing, and a
different label under the same key replaces the old one (an analyst correcting a verdict).
Sending the same key twice in one batch applies the items in order, as if sent one by one.

The store logic (read what is there, count, upsert, then feed the fraud windows after the
commit) is :func:`store_labels` and :func:`feed_fraud_windows`, shared with the review queue's
verdict route so an analyst's verdict is stored exactly as this route would store it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nexafi_ai.db import audit
from nexafi_ai.db.tables import inference_log, labels, review_queue, utcnow
from nexafi_ai.features import OnlineFeatureStore
from nexafi_ai.serving.auth import Principal
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.deps import ContextDep, ReadScope, require_any_scope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.usecases.fields import NoPan, Token
from nexafi_ai.usecases.fraud.state import POSITIVE_LABELS

__all__ = [
    "KNOWN_SOURCES",
    "LabelIn",
    "LabelRecord",
    "LabelsIn",
    "LabelsOut",
    "StoredBatch",
    "feed_fraud_windows",
    "router",
    "store_labels",
]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/labels", tags=["labels"])

#: Sources the built-in use cases know; any other lower-case identifier is accepted too, so a
#: fintech can name its own feeds (``collections``, ``kyc_review``) without a release.
KNOWN_SOURCES = ("chargeback", "analyst", "dispute", "repayment", "default", "outcome", "manual")
#: Ids per ``IN (...)`` list: well under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500
#: Logged inferences returned per entity by ``GET`` (an id scored more than this is unusual).
_MAX_INFERENCES = 100

#: Writing labels changes what monitoring reports and what fraud windows count: analysts record
#: verdicts, admins load chargeback and repayment files. Either scope is enough; ``read`` or
#: ``score`` alone is not.
LabelWriter = Annotated[Principal, Depends(require_any_scope("analyst", "admin"))]

LabelText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:+\-]+$",
        description='The outcome as text: "fraud", "legit", "1", "0", "default", "103.2"',
    ),
    NoPan,
]


class LabelIn(BaseModel):
    """One observed outcome of a scored entity."""

    model_config = ConfigDict(extra="forbid")

    entity_id: Token = Field(description="The business id the score was logged under")
    use_case: str = Field(min_length=1, max_length=32)
    label: LabelText
    source: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,31}$",
        description=f"Where the label comes from, e.g. {', '.join(KNOWN_SOURCES)}",
    )
    observed_at: AwareDatetime = Field(description="When the outcome was known (with timezone)")


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: list[LabelIn] = Field(min_length=1, max_length=10_000)


class LabelsOut(BaseModel):
    """What the batch did: new keys, changed labels, and items that were already stored."""

    inserted: int
    updated: int
    unchanged: int


class StoredLabel(BaseModel):
    label: str
    source: str
    observed_at: datetime
    created_at: datetime


class LoggedInference(BaseModel):
    request_id: str
    model_name: str
    model_version: str
    score: float | None
    decision: str | None
    created_at: datetime


class EntityLabelsOut(BaseModel):
    use_case: str
    entity_id: str
    labels: list[StoredLabel]
    inferences: list[LoggedInference]


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _logged_entities(conn: Connection, use_case: str, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` that have at least one inference logged for ``use_case``."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            conn.execute(
                select(inference_log.c.entity_id)
                .distinct()
                .where(inference_log.c.use_case == use_case)
                .where(inference_log.c.entity_id.in_(chunk))
            ).scalars()
        )
    return found


def _stored_labels(
    conn: Connection, use_case: str, ids: Sequence[str]
) -> dict[tuple[str, str, str], str]:
    """Current labels of ``ids``, keyed like the unique constraint."""
    stored: dict[tuple[str, str, str], str] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(labels.c.entity_id, labels.c.source, labels.c.label)
            .where(labels.c.use_case == use_case)
            .where(labels.c.entity_id.in_(chunk))
        )
        for entity_id, source, label in rows:
            stored[(use_case, entity_id, source)] = label
    return stored


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert, or replace label and observed_at where the stored label differs.

    A native upsert rather than insert-or-update: a concurrent batch that inserted the same key
    between our read and our write then updates instead of failing the whole batch.
    """
    stmt: postgresql.Insert | sqlite.Insert
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(labels)
    elif conn.dialect.name == "sqlite":
        stmt = sqlite.insert(labels)
    else:  # pragma: no cover - the schema supports only these two
        raise RuntimeError(f"unsupported database dialect {conn.dialect.name}")
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=[labels.c.use_case, labels.c.entity_id, labels.c.source],
        set_={"label": stmt.excluded.label, "observed_at": stmt.excluded.observed_at},
        where=labels.c.label != stmt.excluded.label,
    )
    for start in range(0, len(rows), _CHUNK):
        conn.execute(upsert, rows[start : start + _CHUNK])


class LabelRecord(NamedTuple):
    """One label to store, already validated (from a request, or an analyst's verdict)."""

    use_case: str
    entity_id: str
    source: str
    label: str
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What :func:`store_labels` did; ``written`` holds the rows actually inserted or changed."""

    inserted: int
    updated: int
    unchanged: int
    written: dict[tuple[str, str, str], dict[str, Any]]

    def fraud_labels(self) -> dict[str, str]:
        """Transaction id -> latest written label, for :func:`feed_fraud_windows`."""
        return {
            entity: row["label"] for (uc, entity, _), row in self.written.items() if uc == "fraud"
        }


def store_labels(conn: Connection, items: Sequence[LabelRecord]) -> StoredBatch:
    """Upsert ``items`` in the caller's transaction, in order, counting what changed.

    The caller checks that the entities were scored (or knows it) and writes its own audit row
    in the same transaction; after the commit it calls :func:`feed_fraud_windows` with
    :meth:`StoredBatch.fraud_labels`.
    """
    current: dict[tuple[str, str, str], str] = {}
    by_use_case: dict[str, set[str]] = defaultdict(set)
    for item in items:
        by_use_case[item.use_case].add(item.entity_id)
    for use_case, ids in by_use_case.items():
        current.update(_stored_labels(conn, use_case, sorted(ids)))
    inserted = updated = unchanged = 0
    final: dict[tuple[str, str, str], dict[str, Any]] = {}
    now = utcnow()
    for item in items:
        key = (item.use_case, item.entity_id, item.source)
        before = current.get(key)
        if before == item.label:
            unchanged += 1
            continue
        if before is None:
            inserted += 1
        else:
            updated += 1
        current[key] = item.label
        final[key] = {
            "use_case": item.use_case,
            "entity_id": item.entity_id,
            "source": item.source,
            "label": item.label,
            "observed_at": item.observed_at,
            "created_at": now,
        }
    if final:
        _upsert(conn, list(final.values()))
    return StoredBatch(inserted, updated, unchanged, final)


def close_reviews(conn: Connection, stored: StoredBatch, actor: str) -> int:
    """Close the open review-queue items that a written label has already decided.

    A chargeback (or a verdict loaded from a case-management system) settles a queued
    transaction: leaving it open would have an analyst spend time on a known outcome. The
    item records the label as its verdict (``fraud`` or ``legit``), who sent it and from which
    source; a later verdict through the queue is still possible and is audited as a correction.
    Returns the number of items closed.
    """
    outcomes: dict[str, tuple[str, str]] = {}
    for (use_case, entity, source), row in stored.written.items():
        if use_case == "fraud":
            verdict = "fraud" if str(row["label"]).lower() in POSITIVE_LABELS else "legit"
            outcomes[entity] = (verdict, source)
    # One UPDATE per (verdict, source) and chunk of ids, not one per transaction.
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entity, key in outcomes.items():
        groups[key].append(entity)
    closed = 0
    now = utcnow()
    for (verdict, source), entities in groups.items():
        for chunk in _chunks(entities):
            result = conn.execute(
                update(review_queue)
                .where(
                    review_queue.c.use_case == "fraud",
                    review_queue.c.entity_id.in_(chunk),
                    review_queue.c.status == "open",
                )
                .values(
                    status="decided",
                    verdict=verdict,
                    analyst=actor,
                    note=f"closed by a {source} label",
                    decided_at=now,
                )
            )
            closed += result.rowcount
    return closed


def feed_fraud_windows(ctx: ServiceContext, written: dict[str, str]) -> None:
    """Set confirmed fraud labels in the online terminal windows (terminal fraud rates).

    Best effort after the commit: the label is durable in the database (and replayed into the
    in-process windows at restart); a Redis hiccup must not turn a stored batch into an error.
    Only the latest written label per transaction is fed, whichever source it came from.
    """
    store = ctx.extras.get("fraud_online_store")
    if not isinstance(store, OnlineFeatureStore) or not written:
        return
    try:
        for entity_id, label in written.items():
            store.record_label(entity_id, 1 if label.lower() in POSITIVE_LABELS else 0)
    except Exception:
        log.exception("could not feed %d fraud labels to the online windows", len(written))


@router.post("", summary="Store observed outcomes of scored entities (analyst or admin)")
def post_labels(body: LabelsIn, ctx: ContextDep, who: LabelWriter) -> LabelsOut:
    known = ctx.known_use_cases()
    by_use_case: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(body.labels):
        if item.use_case not in known:
            field = f"labels.{i}.use_case"
            raise ApiError(
                422, "validation_error", f"{field}: unknown use case; known {sorted(known)}", field
            )
        by_use_case[item.use_case].append(i)

    with ctx.engine.begin() as conn:
        unknown: list[int] = []
        for use_case, positions in by_use_case.items():
            ids = sorted({body.labels[i].entity_id for i in positions})
            logged = _logged_entities(conn, use_case, ids)
            unknown += [i for i in positions if body.labels[i].entity_id not in logged]
        if unknown:
            first = min(unknown)
            field = f"labels.{first}.entity_id"
            raise ApiError(
                404,
                "not_found",
                f"{field}: no inference logged for this {body.labels[first].use_case} entity; "
                f"{len(unknown)} item(s) unknown, nothing was stored",
                field,
            )
        stored = store_labels(
            conn,
            [
                LabelRecord(
                    item.use_case, item.entity_id, item.source, item.label, item.observed_at
                )
                for item in body.labels
            ],
        )
        closed = close_reviews(conn, stored, who.actor)
        audit.record(
            conn,
            actor=who.actor,
            action="labels.ingest",
            target="labels:" + ",".join(sorted(by_use_case))[:120],
            details={
                "items": len(body.labels),
                "inserted": stored.inserted,
                "updated": stored.updated,
                "unchanged": stored.unchanged,
                "sources": sorted({item.source for item in body.labels}),
                "review_items_closed": closed,
            },
        )
    feed_fraud_windows(ctx, stored.fraud_labels())
    return LabelsOut(inserted=stored.inserted, updated=stored.updated, unchanged=stored.unchanged)


@router.get("/{use_case}/{entity_id}", summary="An entity's labels joined with its logged scores")
def get_entity_labels(
    use_case: Annotated[str, PathParam(min_length=1, max_length=32)],
    entity_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    ctx: ContextDep,
    _: ReadScope,
) -> EntityLabelsOut:
    if use_case not in ctx.known_use_cases():
        raise ApiError(422, "validation_error", "use_case: unknown use case", "use_case")
    with ctx.engine.connect() as conn:
        stored = conn.execute(
            select(labels.c.label, labels.c.source, labels.c.observed_at, labels.c.created_at)
            .where(labels.c.use_case == use_case, labels.c.entity_id == entity_id)
            .order_by(labels.c.observed_at, labels.c.source)
        ).mappings()
        label_rows = [StoredLabel.model_validate(dict(r)) for r in stored]
        logged = conn.execute(
            select(
                inference_log.c.request_id,
                inference_log.c.model_name,
                inference_log.c.model_version,
                inference_log.c.score,
                inference_log.c.decision,
                inference_log.c.created_at,
            )
            .where(inference_log.c.use_case == use_case, inference_log.c.entity_id == entity_id)
            .order_by(inference_log.c.created_at.desc(), inference_log.c.id.desc())
            .limit(_MAX_INFERENCES)
        ).mappings()
        inferences = [LoggedInference.model_validate(dict(r)) for r in logged]
    if not label_rows and not inferences:
        raise ApiError(404, "not_found", f"no {use_case} entity {entity_id}", "entity_id")
    return EntityLabelsOut(
        use_case=use_case, entity_id=entity_id, labels=label_rows, inferences=inferences
    )
