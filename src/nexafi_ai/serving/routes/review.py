"""The fraud review queue: analysts list held transactions and record their verdicts as labels.

Transactions the model decides ``review`` are queued by the inference log writer, in the same
transaction as their log row (:mod:`nexafi_ai.serving.log_writer`), so scoring pays no extra
database round trip. ``GET /v1/review-queue`` lists them (open ones oldest first, the order an
analyst works them); ``POST /v1/review-queue/{id}/verdict`` decides one.

A verdict is ground truth for monitoring and for the fraud windows, so it is stored exactly as
``POST /v1/labels`` would store a label of source ``analyst`` (the same function does it), in
the same transaction as the queue update and its audit row: the queue never says "decided"
without the label, nor the reverse. Deciding an item again is a correction: the label is
replaced and the audit row says so, with the previous verdict. The label is stored under the
item's use case: ``fraud`` for every item the fraud route queues.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Select, and_, func, or_, select, update

from nexafi_ai.db import audit
from nexafi_ai.db.tables import review_queue, utcnow
from nexafi_ai.serving.auth import Principal
from nexafi_ai.serving.deps import ContextDep, require_any_scope
from nexafi_ai.serving.errors import ApiError
from nexafi_ai.serving.routes.labels import LabelRecord, feed_fraud_windows, store_labels
from nexafi_ai.usecases.fields import NoPan

__all__ = ["ReviewItem", "ReviewPage", "VerdictIn", "VerdictOut", "router"]

router = APIRouter(prefix="/v1/review-queue", tags=["review"])

#: Listing the queue shows transaction summaries (no card numbers): readers, analysts, admins.
ReviewReader = Annotated[Principal, Depends(require_any_scope("read", "analyst", "admin"))]
#: Deciding writes a label that monitoring and the fraud windows trust: analysts or admins.
ReviewWriter = Annotated[Principal, Depends(require_any_scope("analyst", "admin"))]

#: The label source a verdict is stored under (one label per entity and source).
VERDICT_SOURCE = "analyst"

ItemId = Annotated[int, PathParam(ge=1, description="The queue item's id")]


class ReviewItem(BaseModel):
    """One queued inference: what was scored, and what an analyst decided."""

    id: int
    use_case: str
    entity_id: str = Field(description="The business id (a fraud transaction id)")
    request_id: str
    model_version: str
    score: float | None
    summary: dict[str, Any] = Field(description="Amount, merchant, channel, reasons; no PAN")
    status: Literal["open", "decided"]
    verdict: str | None
    analyst: str | None
    note: str | None
    created_at: datetime
    decided_at: datetime | None


class ReviewPage(BaseModel):
    """A page of the queue; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[ReviewItem]
    open_count: int = Field(description="Open items in the queue (of this use case if given)")
    next_cursor: int | None


class VerdictIn(BaseModel):
    """An analyst's decision on a queued transaction."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    verdict: Literal["fraud", "legit"]
    note: Annotated[str, Field(max_length=1000), NoPan] | None = None


class VerdictOut(BaseModel):
    """The decided item; ``corrected`` when it replaced an earlier verdict."""

    item: ReviewItem
    corrected: bool
    label: Literal["inserted", "updated", "unchanged"] = Field(
        description="What happened to the stored analyst label"
    )


def _item(conn: Connection, item_id: int, *, lock: bool = False) -> ReviewItem:
    query = select(review_queue).where(review_queue.c.id == item_id)
    if lock:  # PostgreSQL: two analysts deciding the same item at once are serialised
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise ApiError(404, "not_found", f"no review queue item {item_id}", "id")
    return ReviewItem.model_validate(dict(row))


def _page_query(
    conn: Connection, status: str, use_case: str | None, cursor: int | None
) -> Select[Any]:
    """Keyset pagination on (created_at, id): stable while items are added and decided.

    Ordered by the time of the score, not the id, because spooled rows replayed after an outage
    get later ids than what was scored after them. Open items come oldest first (the order to
    work them), decided and all newest first (what was done lately).
    """
    c = review_queue.c
    query = select(review_queue)
    if status != "all":
        query = query.where(c.status == status)
    if use_case is not None:
        query = query.where(c.use_case == use_case)
    ascending = status == "open"
    if cursor is not None:
        after = conn.execute(select(c.created_at).where(c.id == cursor)).scalar_one_or_none()
        if after is None:
            raise ApiError(422, "validation_error", "cursor: no such review queue item", "cursor")
        if ascending:
            query = query.where(
                or_(c.created_at > after, and_(c.created_at == after, c.id > cursor))
            )
        else:
            query = query.where(
                or_(c.created_at < after, and_(c.created_at == after, c.id < cursor))
            )
    if ascending:
        return query.order_by(c.created_at, c.id)
    return query.order_by(c.created_at.desc(), c.id.desc())


@router.get("", summary="List review queue items (read, analyst or admin)")
def list_review_queue(
    ctx: ContextDep,
    _: ReviewReader,
    status: Annotated[Literal["open", "decided", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the last page")] = None,
    use_case: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> ReviewPage:
    with ctx.engine.connect() as conn:
        query = _page_query(conn, status, use_case, cursor).limit(limit + 1)
        rows = [ReviewItem.model_validate(dict(r)) for r in conn.execute(query).mappings()]
        count = (
            select(func.count()).select_from(review_queue).where(review_queue.c.status == "open")
        )
        if use_case is not None:
            count = count.where(review_queue.c.use_case == use_case)
        open_count = int(conn.execute(count).scalar_one())
    more = len(rows) > limit
    items = rows[:limit]
    return ReviewPage(
        items=items, open_count=open_count, next_cursor=items[-1].id if more else None
    )


@router.get("/{id}", summary="One review queue item (read, analyst or admin)")
def get_review_item(id: ItemId, ctx: ContextDep, _: ReviewReader) -> ReviewItem:
    with ctx.engine.connect() as conn:
        return _item(conn, id)


@router.post("/{id}/verdict", summary="Decide a queued transaction (analyst or admin)")
def post_verdict(
    id: ItemId,  # the public path parameter's name, which errors name (404/422 "id")
    body: VerdictIn,
    ctx: ContextDep,
    who: ReviewWriter,
) -> VerdictOut:
    now = utcnow()
    with ctx.engine.begin() as conn:
        before = _item(conn, id, lock=True)
        corrected = before.status == "decided"
        conn.execute(
            update(review_queue)
            .where(review_queue.c.id == id)
            .values(
                status="decided",
                verdict=body.verdict,
                analyst=who.actor,
                note=body.note,
                decided_at=now,
            )
        )
        label = LabelRecord(before.use_case, before.entity_id, VERDICT_SOURCE, body.verdict, now)
        stored = store_labels(conn, [label])
        change = "inserted" if stored.inserted else "updated" if stored.updated else "unchanged"
        audit.record(
            conn,
            actor=who.actor,
            action="review.verdict_corrected" if corrected else "review.verdict",
            target=f"review_queue:{id}",
            details={
                "use_case": before.use_case,
                "entity_id": before.entity_id,
                "request_id": before.request_id,
                "verdict": body.verdict,
                "previous_verdict": before.verdict,
                "previous_analyst": before.analyst,
                "correction": corrected,
                "label": change,
            },
        )
        after = _item(conn, id)
    feed_fraud_windows(ctx, stored.fraud_labels())
    return VerdictOut(item=after, corrected=corrected, label=change)
