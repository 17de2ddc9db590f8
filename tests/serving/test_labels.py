"""POST /v1/labels and GET /v1/labels/{use_case}/{entity_id}, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from api_keys import ADMIN, ANALYST, READER, SCORER, with_keys
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, insert, select

from nexafi_ai.db import audit_log, inference_log, labels
from nexafi_ai.features import Event, InMemoryFeatureStore
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase
from nexafi_ai.usecases.fraud.features import WINDOWS

WHEN = "2026-03-01T12:00:00Z"


@pytest.fixture
def client(settings: Settings, toy: UseCase) -> Iterator[TestClient]:
    # No model is needed: labels join rows already in the inference log.
    app = create_app(with_keys(settings), use_cases={toy.name: toy})
    with TestClient(app, headers={"X-API-Key": ANALYST}) as c:
        yield c


def _log(engine: Engine, use_case: str, entity_id: str, score: float, decision: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(inference_log).values(
                request_id=f"{use_case}:{entity_id}",
                use_case=use_case,
                entity_id=entity_id,
                model_name=f"nexafi-{use_case}",
                model_version="3",
                inputs={},
                outputs={},
                score=score,
                decision=decision,
                latency_ms=1.0,
                created_at=datetime(2026, 2, 1, tzinfo=UTC),
            )
        )


def _item(entity_id: str, label: str = "fraud", source: str = "chargeback", **kw: Any) -> Any:
    return {
        "entity_id": entity_id,
        "use_case": "toy",
        "label": label,
        "source": source,
        "observed_at": WHEN,
        **kw,
    }


def _stored(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(labels.c.use_case, labels.c.entity_id, labels.c.source, labels.c.label).order_by(
                labels.c.entity_id, labels.c.source
            )
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_store_replay_and_correct(client: TestClient, engine: Engine) -> None:
    _log(engine, "toy", "t1", 0.91, "decline")
    _log(engine, "toy", "t2", 0.05, "approve")
    batch = {"labels": [_item("t1"), _item("t2", "legit", "analyst")]}

    first = client.post("/v1/labels", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 2, "updated": 0, "unchanged": 0}

    replay = client.post("/v1/labels", json=batch)
    assert replay.json() == {"inserted": 0, "updated": 0, "unchanged": 2}

    # An analyst corrects a verdict; a second source for the same entity is a new row.
    fix = {"labels": [_item("t2", "fraud", "analyst"), _item("t2", "fraud", "chargeback")]}
    corrected = client.post("/v1/labels", json=fix, headers={"X-API-Key": ADMIN})
    assert corrected.json() == {"inserted": 1, "updated": 1, "unchanged": 0}
    assert _stored(engine) == [
        ("toy", "t1", "chargeback", "fraud"),
        ("toy", "t2", "analyst", "fraud"),
        ("toy", "t2", "chargeback", "fraud"),
    ]
    with engine.connect() as conn:
        audits = conn.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.details).order_by(
                audit_log.c.id
            )
        ).all()
    assert [a.action for a in audits] == ["labels.ingest"] * 3
    assert audits[0].actor.startswith("key:")
    assert audits[2].details["updated"] == 1


def test_same_key_twice_in_a_batch_applies_in_order(client: TestClient, engine: Engine) -> None:
    _log(engine, "toy", "t1", 0.5, "review")
    batch = {"labels": [_item("t1", "legit", "analyst"), _item("t1", "fraud", "analyst")]}
    assert client.post("/v1/labels", json=batch).json() == {
        "inserted": 1,
        "updated": 1,
        "unchanged": 0,
    }
    assert _stored(engine) == [("toy", "t1", "analyst", "fraud")]


def test_unknown_entity_is_404_and_stores_nothing(client: TestClient, engine: Engine) -> None:
    _log(engine, "toy", "t1", 0.9, "decline")
    _log(engine, "credit", "t9", 0.2, "approve")  # logged, but for another use case
    batch = {"labels": [_item("t1"), _item("t9"), _item("nope")]}
    r = client.post("/v1/labels", json=batch)
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["field"] == "labels.1.entity_id"
    assert "nothing was stored" in error["message"]
    assert _count(engine, labels) == 0
    assert _count(engine, audit_log) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"observed_at": "2026-03-01T12:00:00"}, "labels.1.observed_at"),
        ({"use_case": "astrology"}, "labels.1.use_case"),
        ({"source": "Chargeback!"}, "labels.1.source"),
        ({"entity_id": "4111111111111111"}, "labels.1.entity_id"),
        ({"extra": 1}, "labels.1.extra"),
    ],
)
def test_invalid_items_are_422_naming_the_field(
    client: TestClient, engine: Engine, change: dict[str, Any], field: str
) -> None:
    _log(engine, "toy", "t1", 0.9, "decline")
    r = client.post("/v1/labels", json={"labels": [_item("t1"), {**_item("t1"), **change}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert "4111" not in r.text
    assert _count(engine, labels) == 0


def test_empty_batch_is_422(client: TestClient) -> None:
    r = client.post("/v1/labels", json={"labels": []})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "labels"


def test_scopes(client: TestClient, engine: Engine) -> None:
    _log(engine, "toy", "t1", 0.9, "decline")
    batch = {"labels": [_item("t1")]}
    for key in (SCORER, READER):
        r = client.post("/v1/labels", json=batch, headers={"X-API-Key": key})
        assert r.status_code == 403
        assert "'admin' or 'analyst'" in r.json()["error"]["message"]
    assert client.post("/v1/labels", json=batch, headers={"X-API-Key": "x"}).status_code == 401
    assert client.post("/v1/labels", json=batch, headers={"X-API-Key": ADMIN}).status_code == 200
    path = "/v1/labels/toy/t1"
    assert client.get(path, headers={"X-API-Key": SCORER}).status_code == 403
    assert client.get(path, headers={"X-API-Key": READER}).status_code == 200


def test_get_joins_labels_with_logged_scores(client: TestClient, engine: Engine) -> None:
    _log(engine, "toy", "t1", 0.91, "decline")
    client.post("/v1/labels", json={"labels": [_item("t1")]})
    r = client.get("/v1/labels/toy/t1", headers={"X-API-Key": READER})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["use_case"], body["entity_id"]) == ("toy", "t1")
    assert [(x["label"], x["source"]) for x in body["labels"]] == [("fraud", "chargeback")]
    assert datetime.fromisoformat(body["labels"][0]["observed_at"]) == datetime(
        2026, 3, 1, 12, tzinfo=UTC
    )
    [logged] = body["inferences"]
    assert (logged["score"], logged["decision"], logged["model_version"]) == (0.91, "decline", "3")

    missing = client.get("/v1/labels/toy/zz", headers={"X-API-Key": READER})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "entity_id"
    unknown = client.get("/v1/labels/astrology/t1", headers={"X-API-Key": READER})
    assert unknown.status_code == 422


def test_scored_entities_can_be_labelled(
    settings: Settings, toy: UseCase, toy_champion: Any, engine: Engine
) -> None:
    """The join key is what the use case logs, not something tests invent."""
    app = create_app(with_keys(settings), use_cases={toy.name: toy})
    with TestClient(app) as c:
        scored = c.post(
            "/v1/toy/predict",
            json={"id": "r7", "x1": 0.3, "x2": -1.2},
            headers={"X-API-Key": SCORER},
        )
        assert scored.status_code == 200, scored.text
        c.app.state.ctx.log_writer.close()  # type: ignore[attr-defined]
        r = c.post("/v1/labels", json={"labels": [_item("r7")]}, headers={"X-API-Key": ANALYST})
        assert r.json() == {"inserted": 1, "updated": 0, "unchanged": 0}
        joined = c.get("/v1/labels/toy/r7", headers={"X-API-Key": READER}).json()
    assert joined["inferences"][0]["score"] == scored.json()["score"]


def test_fraud_labels_feed_the_online_windows(client: TestClient, engine: Engine) -> None:
    store = InMemoryFeatureStore(WINDOWS)
    keys = {"card_id": "c1", "terminal_id": "term1"}
    store.lookup_and_record(Event("tx1", 1_000_000, 1000, keys))
    client.app.state.ctx.extras["fraud_online_store"] = store  # type: ignore[attr-defined]
    _log(engine, "fraud", "tx1", 0.97, "decline")

    def fraud_rate_features() -> dict[str, float]:
        later = Event("probe", 1_000_000 + 10 * 86_400, 1000, keys)
        values = dict(zip(WINDOWS.feature_names, store.lookup(later), strict=True))
        return {k: v for k, v in values.items() if "label_rate" in k}

    before = fraud_rate_features()
    item = {**_item("tx1"), "use_case": "fraud"}
    assert client.post("/v1/labels", json={"labels": [item]}).status_code == 200
    after = fraud_rate_features()
    assert before["terminal_label_rate_30d"] == 0
    assert after["terminal_label_rate_30d"] > 0


def test_large_batch_is_checked_and_written_in_chunks(
    settings: Settings, toy: UseCase, engine: Engine
) -> None:
    big = with_keys(settings).model_copy(update={"max_body_bytes": 4_000_000})
    n = 1_201  # more than two IN-list / upsert chunks
    with engine.begin() as conn:
        conn.execute(
            insert(inference_log),
            [
                {
                    "request_id": f"toy:e{i}",
                    "use_case": "toy",
                    "entity_id": f"e{i}",
                    "model_name": "nexafi-toy",
                    "model_version": "1",
                    "inputs": {},
                    "outputs": {},
                    "latency_ms": 1.0,
                    "created_at": datetime(2026, 2, 1, tzinfo=UTC),
                }
                for i in range(n)
            ],
        )
    with TestClient(create_app(big, use_cases={toy.name: toy})) as c:
        headers = {"X-API-Key": ADMIN}
        batch = {"labels": [_item(f"e{i}") for i in range(n)]}
        assert c.post("/v1/labels", json=batch, headers=headers).json()["inserted"] == n
        batch["labels"][-1] = _item("missing")
        r = c.post("/v1/labels", json=batch, headers=headers)
        assert r.status_code == 404
        assert r.json()["error"]["field"] == f"labels.{n - 1}.entity_id"
    assert _count(engine, labels) == n
