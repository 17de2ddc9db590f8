"""The fraud review queue on SQLite and PostgreSQL: enqueue by the log writer, list, decide.

Review rows are enqueued by the real inference log writer (also through its spool), never
inserted by hand, so the tests see what production writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_keys import ADMIN, ANALYST, READER, SCORER, with_keys
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from nexafi_ai.db import audit_log, inference_log, review_queue
from nexafi_ai.features import Event, InMemoryFeatureStore
from nexafi_ai.registry import ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.serving.log_writer import (
    SUMMARY_MAX_BYTES,
    InferenceLogWriter,
    InferenceRow,
    review_summary,
)
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.fraud.features import WINDOWS

PAN = "4111111111111111"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAST: dict[str, Any] = {"flush_interval_s": 0.01, "batch_size": 100}


def fraud_row(tx: str, decision: str, minutes: int = 0, **inputs: Any) -> InferenceRow:
    """A fraud log row shaped like the fraud route's (inputs = transaction + features)."""
    return InferenceRow(
        request_id=f"fraud:{tx}",
        use_case="fraud",
        entity_id=tx,
        model_name="nexafi-fraud",
        model_version="4",
        inputs={
            "transaction_id": tx,
            "card_id": "card_tok_1",
            "terminal_id": "term9",
            "amount": 912.5,
            "currency": "EUR",
            "mcc": "5732",
            "channel": "ecommerce",
            "country": "FR",
            "merchant_name": "Electro Shop",
            "features": {"amount_z": 3.1},
            **inputs,
        },
        outputs={
            "transaction_id": tx,
            "fraud_probability": 0.42,
            "decision": decision,
            "reasons": [
                {
                    "code": "AMOUNT_HIGH",
                    "feature": "amount_z",
                    "description": "amount far above this card's usual",
                    "value": 3.1,
                    "contribution": 0.8,
                },
                {"code": "NEW_TERMINAL", "feature": "t", "description": "first use", "value": 1},
            ],
        },
        score=0.42,
        decision=decision,
        latency_ms=1.5,
        shadow=None,
        created_at=T0 + timedelta(minutes=minutes),
    )


def write(engine: Engine, spool: Path, rows: list[InferenceRow]) -> InferenceLogWriter:
    writer = InferenceLogWriter(engine, spool, **FAST)
    writer.start()
    for row in rows:
        writer.submit(row)
    writer.close()
    return writer


def queued(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(review_queue).order_by(review_queue.c.id)).mappings()
        return [dict(r) for r in rows]


# -- enqueue by the log writer -----------------------------------------------------------------


def test_writer_enqueues_review_rows_and_only_them(engine: Engine, tmp_path: Path) -> None:
    rows = [
        fraud_row("tx1", "approve"),
        fraud_row("tx2", "review", 1),
        fraud_row("tx3", "decline", 2),
        fraud_row("tx4", "review", 3, merchant_name=f"shop {PAN}", card_id=None),
        {**fraud_row("tx5", "review", 4), "entity_id": None},  # can never be labelled
        {**fraud_row("c1", "refer", 5), "use_case": "credit"},
    ]
    writer = write(engine, tmp_path / "spool", rows)  # type: ignore[arg-type]
    assert (writer.stats.written, writer.stats.rejected) == (6, 0)

    got = queued(engine)
    assert [(q["use_case"], q["entity_id"], q["request_id"]) for q in got] == [
        ("fraud", "tx2", "fraud:tx2"),
        ("fraud", "tx4", "fraud:tx4"),
    ]
    with engine.connect() as conn:
        logged = conn.execute(
            select(inference_log.c.created_at).where(inference_log.c.request_id == "fraud:tx2")
        ).scalar_one()
    first = got[0]
    assert (first["model_version"], first["score"], first["status"]) == ("4", 0.42, "open")
    assert first["created_at"] == logged == T0 + timedelta(minutes=1)
    assert (first["verdict"], first["analyst"], first["note"], first["decided_at"]) == (None,) * 4
    assert first["summary"] == {
        "amount": 912.5,
        "currency": "EUR",
        "merchant_name": "Electro Shop",
        "mcc": "5732",
        "channel": "ecommerce",
        "country": "FR",
        "card_id": "card_tok_1",
        "reasons": [
            {"code": "AMOUNT_HIGH", "description": "amount far above this card's usual"},
            {"code": "NEW_TERMINAL", "description": "first use"},
        ],
    }
    # Text holding a card number is dropped, not stored; absent fields are left out.
    assert "merchant_name" not in got[1]["summary"]
    assert "card_id" not in got[1]["summary"]
    assert PAN not in json.dumps(got[1]["summary"])


def test_summary_is_bounded_and_total(engine: Engine, tmp_path: Path) -> None:
    long = {key: key[0] * 500 for key in ("currency", "merchant_name", "mcc", "channel")}
    row = fraud_row("tx1", "review", **long, country="c" * 500, card_id="k" * 500)
    row["outputs"]["reasons"] = [{"code": f"C{i}", "description": "d" * 500} for i in range(50)]
    summary = review_summary(row)
    assert (summary["merchant_name"], len(summary["reasons"])) == ("m" * 80, 5)
    write(engine, tmp_path / "spool", [row])
    [stored] = queued(engine)
    assert len(json.dumps(stored["summary"], separators=(",", ":"))) <= SUMMARY_MAX_BYTES
    assert stored["summary"]["card_id"] == "k" * 80  # fields kept, trailing reasons dropped
    assert [r["code"] for r in stored["summary"]["reasons"]] == ["C0", "C1", "C2"]

    odd = {**row, "inputs": {"amount": float("nan"), "channel": ["x"]}, "outputs": {"reasons": 7}}
    assert review_summary(odd) == {}  # type: ignore[arg-type]


def test_spooled_review_row_is_enqueued_exactly_once(engine: Engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    row = fraud_row("tx7", "review")

    def spool_it() -> None:  # queue_size=0 and never started: straight to a spool file
        offline = InferenceLogWriter(engine, spool, queue_size=0)
        offline.submit(row)
        offline.close(timeout=0)

    spool_it()
    assert queued(engine) == []
    replayer = write(engine, spool, [])
    assert [q["request_id"] for q in queued(engine)] == ["fraud:tx7"]

    # The same row again (a replay of rows that did commit), spooled and queued: no duplicate.
    spool_it()
    again = write(engine, spool, [row])
    assert [q["request_id"] for q in queued(engine)] == ["fraud:tx7"]
    assert (replayer.stats.rejected, again.stats.rejected) == (0, 0)
    assert list(spool.glob("spool-*.jsonl")) == []

    # First write wins in the log: an id logged "approve" stays out of the queue when resent.
    write(engine, spool, [fraud_row("tx8", "approve")])
    write(engine, spool, [fraud_row("tx8", "review")])
    assert [q["request_id"] for q in queued(engine)] == ["fraud:tx7"]


def test_bad_row_in_a_batch_keeps_the_good_reviews(engine: Engine, tmp_path: Path) -> None:
    """Row-by-row isolation after a poison row still enqueues the good rows' reviews."""
    bad = {**fraud_row("bad", "review", 1), "model_name": None}  # NOT NULL: IntegrityError
    rows = [fraud_row("tx1", "review"), bad, fraud_row("tx2", "review", 2)]
    writer = write(engine, tmp_path / "spool", rows)  # type: ignore[arg-type]
    assert (writer.stats.written, writer.stats.rejected) == (2, 1)
    assert [q["entity_id"] for q in queued(engine)] == ["tx1", "tx2"]


# -- the routes --------------------------------------------------------------------------------


class SpyStore(InMemoryFeatureStore):
    """The in-process fraud windows, recording which labels were fed to them."""

    def __init__(self) -> None:
        super().__init__(WINDOWS)
        self.fed: list[tuple[str, int]] = []

    def record_label(self, event_id: str, label: int) -> bool:
        self.fed.append((event_id, label))
        return super().record_label(event_id, label)


@pytest.fixture
def client(
    settings: Settings, toy: UseCase, engine: Engine, tmp_path: Path
) -> Iterator[TestClient]:
    # Three queued transactions, submitted out of time order (a spool replay does that).
    rows = [fraud_row("tx3", "review", 30), fraud_row("tx1", "review", 10)]
    rows += [fraud_row("tx2", "review", 20), fraud_row("tx0", "approve", 5)]
    write(engine, tmp_path / "seed", rows)
    app = create_app(with_keys(settings), use_cases={toy.name: toy})  # no model needed
    with TestClient(app, headers={"X-API-Key": ANALYST}) as c:
        c.app.state.ctx.extras["fraud_online_store"] = SpyStore()  # type: ignore[attr-defined]
        yield c


def _ids_by_entity(client: TestClient) -> dict[str, int]:
    items = client.get("/v1/review-queue", params={"status": "all"}).json()["items"]
    return {item["entity_id"]: item["id"] for item in items}


def test_list_oldest_open_first_with_cursor(client: TestClient) -> None:
    first = client.get("/v1/review-queue", params={"limit": 2}, headers={"X-API-Key": READER})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [i["entity_id"] for i in page["items"]] == ["tx1", "tx2"]
    assert page["open_count"] == 3
    assert page["next_cursor"] == page["items"][-1]["id"]
    item = page["items"][0]
    assert (item["status"], item["verdict"], item["score"], item["model_version"]) == (
        "open",
        None,
        0.42,
        "4",
    )
    assert datetime.fromisoformat(item["created_at"]) == T0 + timedelta(minutes=10)
    assert item["summary"]["amount"] == 912.5
    assert item["request_id"] == "fraud:tx1"

    second = client.get("/v1/review-queue", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [i["entity_id"] for i in second.json()["items"]] == ["tx3"]
    assert second.json()["next_cursor"] is None

    one = client.get(f"/v1/review-queue/{item['id']}")
    assert one.status_code == 200
    assert one.json() == item
    assert client.get("/v1/review-queue", params={"use_case": "credit"}).json() == {
        "items": [],
        "open_count": 0,
        "next_cursor": None,
    }


def test_verdict_round_trip_and_correction(client: TestClient, engine: Engine) -> None:
    ids = _ids_by_entity(client)
    spy = client.app.state.ctx.extras["fraud_online_store"]  # type: ignore[attr-defined]
    analyst = client.app.state.ctx.authenticator.authenticate(ANALYST).actor  # type: ignore[attr-defined]

    r = client.post(
        f"/v1/review-queue/{ids['tx2']}/verdict",
        json={"verdict": "fraud", "note": "cardholder denies it"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["corrected"], body["label"]) == (False, "inserted")
    decided = body["item"]
    assert (decided["status"], decided["verdict"], decided["analyst"], decided["note"]) == (
        "decided",
        "fraud",
        analyst,
        "cardholder denies it",
    )
    assert datetime.fromisoformat(decided["decided_at"]) > T0
    assert spy.fed == [("tx2", 1)]

    labels = client.get("/v1/labels/fraud/tx2", headers={"X-API-Key": READER}).json()
    assert [(x["label"], x["source"]) for x in labels["labels"]] == [("fraud", "analyst")]
    assert [x["request_id"] for x in labels["inferences"]] == ["fraud:tx2"]

    page = client.get("/v1/review-queue").json()
    assert ([i["entity_id"] for i in page["items"]], page["open_count"]) == (["tx1", "tx3"], 2)
    done = client.get("/v1/review-queue", params={"status": "decided"}).json()
    assert [i["entity_id"] for i in done["items"]] == ["tx2"]
    newest_first = client.get("/v1/review-queue", params={"status": "all", "limit": 2}).json()
    assert [i["entity_id"] for i in newest_first["items"]] == ["tx3", "tx2"]

    # A correction, by an admin: the label is replaced, the audit row says so.
    fix = client.post(
        f"/v1/review-queue/{ids['tx2']}/verdict",
        json={"verdict": "legit"},
        headers={"X-API-Key": ADMIN},
    )
    assert fix.status_code == 200, fix.text
    assert (fix.json()["corrected"], fix.json()["label"]) == (True, "updated")
    assert (fix.json()["item"]["verdict"], fix.json()["item"]["note"]) == ("legit", None)
    labels = client.get("/v1/labels/fraud/tx2", headers={"X-API-Key": READER}).json()
    assert [(x["label"], x["source"]) for x in labels["labels"]] == [("legit", "analyst")]
    assert spy.fed == [("tx2", 1), ("tx2", 0)]

    with engine.connect() as conn:
        audits = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.target, audit_log.c.details)
            .where(audit_log.c.action.like("review.%"))
            .order_by(audit_log.c.id)
        ).all()
    assert [(a.action, a.target) for a in audits] == [
        ("review.verdict", f"review_queue:{ids['tx2']}"),
        ("review.verdict_corrected", f"review_queue:{ids['tx2']}"),
    ]
    assert audits[0].actor == analyst
    assert audits[1].details["previous_verdict"] == "fraud"
    assert audits[1].details["correction"] is True


def test_scopes(client: TestClient) -> None:
    item = _ids_by_entity(client)["tx1"]
    path = f"/v1/review-queue/{item}/verdict"
    for key in (SCORER, READER):
        r = client.post(path, json={"verdict": "fraud"}, headers={"X-API-Key": key})
        assert r.status_code == 403
        assert "'admin' or 'analyst'" in r.json()["error"]["message"]
    assert (
        client.post(path, json={"verdict": "fraud"}, headers={"X-API-Key": "x"}).status_code == 401
    )
    assert client.get("/v1/review-queue", headers={"X-API-Key": SCORER}).status_code == 403
    for key in (READER, ANALYST, ADMIN):
        assert client.get("/v1/review-queue", headers={"X-API-Key": key}).status_code == 200
    assert client.post(path, json={"verdict": "fraud"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "params", "field", "status"),
    [
        ("get", "/v1/review-queue/999", None, "id", 404),
        ("post", "/v1/review-queue/999/verdict", {"verdict": "fraud"}, "id", 404),
        ("get", "/v1/review-queue/0", None, "id", 422),
        ("post", "/{tx1}/verdict", {"verdict": "maybe"}, "verdict", 422),
        ("post", "/{tx1}/verdict", {}, "verdict", 422),
        ("post", "/{tx1}/verdict", {"verdict": "fraud", "note": "n" * 1001}, "note", 422),
        ("post", "/{tx1}/verdict", {"verdict": "fraud", "note": f"card {PAN}"}, "note", 422),
        ("post", "/{tx1}/verdict", {"verdict": "fraud", "extra": 1}, "extra", 422),
        ("get", "/v1/review-queue", {"status": "closed"}, "status", 422),
        ("get", "/v1/review-queue", {"limit": 501}, "limit", 422),
        ("get", "/v1/review-queue", {"limit": 0}, "limit", 422),
        ("get", "/v1/review-queue", {"cursor": 999}, "cursor", 422),
    ],
)
def test_errors_name_the_field(
    client: TestClient,
    engine: Engine,
    method: str,
    path: str,
    params: dict[str, Any] | None,
    field: str,
    status: int,
) -> None:
    if path.startswith("/{tx1}"):
        path = f"/v1/review-queue/{_ids_by_entity(client)['tx1']}" + path.removeprefix("/{tx1}")
    r = client.get(path, params=params) if method == "get" else client.post(path, json=params)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field
    assert PAN not in r.text
    assert all(q["status"] == "open" for q in queued(engine))


def test_scored_review_transaction_is_queued_and_decided(
    settings: Settings, fraud_champion: ModelVersionInfo, engine: Engine
) -> None:
    """End to end: the fraud route's own log rows feed the queue; a verdict feeds its windows."""
    app = create_app(with_keys(settings), use_cases={"fraud": FRAUD})
    with TestClient(app, headers={"X-API-Key": ANALYST}) as c:
        decided: dict[str, str] = {}
        for i, amount in enumerate((100.0, 150.0, 200.0, 230.0)):
            tx_id = f"tx-{i}"
            body = {
                "transaction_id": tx_id,
                "card_id": f"card_{i}",
                "terminal_id": "term_7",
                "amount": amount,
                "timestamp": f"2025-06-01T12:{i:02d}:00Z",
                "channel": "contactless",
                "country": "FR",
            }
            r = c.post("/v1/fraud/score", json=body, headers={"X-API-Key": SCORER})
            assert r.status_code == 200, r.text
            decided[tx_id] = r.json()["decision"]
        reviews = [tx for tx, decision in decided.items() if decision == "review"]
        assert reviews, f"the tiny model reviews mid-size amounts; got {decided}"
        c.app.state.ctx.log_writer.close()  # type: ignore[attr-defined]

        page = c.get("/v1/review-queue").json()
        assert [item["entity_id"] for item in page["items"]] == reviews
        first = page["items"][0]
        assert first["summary"]["channel"] == "contactless"
        assert first["summary"]["reasons"][0]["code"]

        store = c.app.state.ctx.extras["fraud_online_store"]  # type: ignore[attr-defined]
        # Ten days on: the terminal's fraud rate counts labels older than the label delay.
        ten_days_on = 1_748_779_200 + 10 * 86_400
        probe = Event("probe", ten_days_on, 1000, {"card_id": "x", "terminal_id": "term_7"})
        rate = WINDOWS.feature_names.index("terminal_label_rate_30d")
        assert store.lookup(probe)[rate] == 0
        r = c.post(f"/v1/review-queue/{first['id']}/verdict", json={"verdict": "fraud"})
        assert r.status_code == 200, r.text
        assert store.lookup(probe)[rate] > 0


def test_a_chargeback_closes_the_open_review_item(client: TestClient, engine: Engine) -> None:
    """Nobody should review a transaction whose outcome is already known."""
    ids = _ids_by_entity(client)
    label = {
        "entity_id": "tx3",
        "use_case": "fraud",
        "label": "chargeback",
        "source": "chargeback",
        "observed_at": "2026-03-10T00:00:00Z",
    }
    r = client.post("/v1/labels", json={"labels": [label]}, headers={"X-API-Key": ADMIN})
    assert r.status_code == 200, r.text
    item = client.get(f"/v1/review-queue/{ids['tx3']}").json()
    assert (item["status"], item["verdict"], item["note"]) == (
        "decided",
        "fraud",
        "closed by a chargeback label",
    )
    page = client.get("/v1/review-queue").json()
    assert ([i["entity_id"] for i in page["items"]], page["open_count"]) == (["tx1", "tx2"], 2)
    with engine.connect() as conn:
        details = conn.execute(
            select(audit_log.c.details).where(audit_log.c.action == "labels.ingest")
        ).scalar_one()
    assert details["review_items_closed"] == 1
    # An analyst may still overrule it through the queue: an audited correction.
    again = client.post(f"/v1/review-queue/{ids['tx3']}/verdict", json={"verdict": "legit"})
    assert again.status_code == 200, again.text
    assert again.json()["corrected"] is True
