"""POST /v1/fraud/score end to end: validation, PAN refusal, idempotency, logging, windows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_keys import READER, SCORER, with_keys
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD

PAN = "4111111111111111"


def tx(i: int = 1, **changes: Any) -> dict[str, Any]:
    body = {
        "transaction_id": f"tx-{i}",
        "card_id": "card_000042",
        "terminal_id": "term_000007",
        "amount": 57.3,
        "currency": "EUR",
        "timestamp": f"2025-06-01T12:{i % 60:02d}:00Z",
        "mcc": "5411",
        "channel": "contactless",
        "country": "FR",
    }
    return {**body, **changes}


@pytest.fixture
def client(settings: Settings, fraud_champion: ModelVersionInfo) -> Iterator[TestClient]:
    app = create_app(with_keys(settings), use_cases={"fraud": FRAUD})
    with TestClient(app, headers={"X-API-Key": SCORER}) as c:
        yield c


def _logged(client: TestClient, engine: Engine) -> list[dict[str, Any]]:
    client.app.state.ctx.log_writer.close()
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_score_answers_with_decision_reasons_and_is_logged(
    client: TestClient, engine: Engine
) -> None:
    r = client.post("/v1/fraud/score", json=tx(amount=950.0))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "transaction_id",
        "fraud_probability",
        "risk_score",
        "decision",
        "reasons",
        "model_version",
    }
    assert body["transaction_id"] == "tx-1"
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["risk_score"] == round(body["fraud_probability"] * 100)
    assert body["decision"] in {"review", "decline"}, "every amount over 220 is fraud here"
    assert body["model_version"] == "1"
    assert 1 <= len(body["reasons"]) <= 3
    assert body["reasons"][0]["code"] in {"AMOUNT_HIGH", "AMOUNT_UNUSUAL_FOR_CARD"}
    assert all(reason["contribution"] > 0 for reason in body["reasons"])
    contributions = [reason["contribution"] for reason in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)
    (row,) = _logged(client, engine)
    assert row["request_id"] == "fraud:tx-1"
    assert row["entity_id"] == "tx-1"
    assert row["use_case"] == "fraud"
    assert row["model_version"] == "1"
    assert row["decision"] == body["decision"]
    assert row["score"] == pytest.approx(body["fraud_probability"])
    assert row["outputs"] == body
    assert row["inputs"]["features"]["amount"] == 950.0
    assert row["inputs"]["features"]["card_count_1d"] == 1.0


def test_approvals_carry_no_reasons(client: TestClient) -> None:
    body = client.post("/v1/fraud/score", json=tx(amount=12.0)).json()
    assert body["decision"] == "approve"
    assert body["reasons"] == []


def test_card_windows_accumulate_across_requests(client: TestClient, engine: Engine) -> None:
    for i in range(1, 4):
        assert client.post("/v1/fraud/score", json=tx(i, amount=10.0 * i)).status_code == 200
    rows = _logged(client, engine)
    assert [r["inputs"]["features"]["card_count_1d"] for r in rows] == [1.0, 2.0, 3.0]
    assert [r["inputs"]["features"]["card_mean_amount_1d"] for r in rows] == [10.0, 15.0, 20.0]


def test_retry_is_idempotent_and_a_changed_body_conflicts(
    client: TestClient, engine: Engine
) -> None:
    first = client.post("/v1/fraud/score", json=tx(7))
    again = client.post("/v1/fraud/score", json=tx(7))
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["X-Idempotent-Replay"] == "true"
    changed = client.post("/v1/fraud/score", json=tx(7, amount=1.0))
    assert changed.status_code == 409
    assert changed.json()["error"]["field"] == "transaction_id"
    rows = _logged(client, engine)
    assert [r["request_id"] for r in rows] == ["fraud:tx-7"]
    assert rows[0]["inputs"]["features"]["card_count_1d"] == 1.0, "a retry is not counted twice"


@pytest.mark.parametrize(("body", "field"), FRAUD.invalid_requests(), ids=lambda v: str(v)[:40])
def test_invalid_transactions_get_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    r = client.post(
        "/v1/fraud/score",
        content=json.dumps(body, allow_nan=True),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["field"] == field
    assert PAN not in r.text
    assert "4111-1111" not in r.text


def test_malformed_json_names_the_body(client: TestClient) -> None:
    r = client.post(
        "/v1/fraud/score",
        content=b'{"transaction_id": ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "body"


def test_card_numbers_are_never_stored(client: TestClient, engine: Engine) -> None:
    assert client.post("/v1/fraud/score", json=tx(1, card_id=PAN)).status_code == 422
    assert client.post("/v1/fraud/score", json=tx(2, transaction_id=PAN)).status_code == 422
    assert client.post("/v1/fraud/score", json=tx(3)).status_code == 200
    rows = _logged(client, engine)
    assert len(rows) == 1
    with engine.connect() as conn:
        dump = conn.execute(text("SELECT inputs, outputs FROM inference_log")).all()
    assert PAN not in str(dump)


def test_scope_and_key_are_enforced(client: TestClient) -> None:
    r = client.post("/v1/fraud/score", json=tx(), headers={"X-API-Key": READER})
    assert r.status_code == 403
    r = client.post("/v1/fraud/score", json=tx(), headers={"X-API-Key": ""})
    assert r.status_code == 401


def test_openapi_documents_the_request(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/v1/fraud/score"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    assert "card_id" in request["properties"]
    assert "409" in post["responses"]


def test_windows_survive_a_restart(
    settings: Settings, fraud_champion: ModelVersionInfo, engine: Engine
) -> None:
    """The in-process windows are refilled from the inference log when the service restarts."""
    for i in range(1, 4):
        with TestClient(create_app(settings, use_cases={"fraud": FRAUD})) as c:
            assert c.post("/v1/fraud/score", json=tx(i, amount=10.0)).status_code == 200
    rows = _logged_rows(engine)
    assert [r["inputs"]["features"]["card_count_1d"] for r in rows] == [1.0, 2.0, 3.0]


def _logged_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_any_logged_decision_can_be_explained(client: TestClient, engine: Engine) -> None:
    approved = client.post("/v1/fraud/score", json=tx(1, amount=12.0)).json()
    assert approved["decision"] == "approve"
    assert approved["reasons"] == []
    client.app.state.ctx.log_writer.close()
    reader = {"X-API-Key": READER}
    r = client.get("/v1/fraud/transactions/tx-1/explanation", headers=reader)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "1"
    assert body["decision"] == "approve"
    assert body["fraud_probability"] == pytest.approx(approved["fraud_probability"])
    assert body["features"]["amount"] == 12.0
    assert 1 <= len(body["reasons"]) <= 3
    assert all(reason["contribution"] > 0 for reason in body["reasons"])
    r = client.get("/v1/fraud/transactions/nope/explanation", headers=reader)
    assert r.status_code == 404
    assert client.get("/v1/fraud/transactions/tx-1/explanation").status_code == 403


def test_redis_backed_windows_and_idempotency_are_shared_by_replicas(
    settings: Settings, fraud_champion: ModelVersionInfo, redis_url: str, engine: Engine
) -> None:
    """Two app instances (replicas) on one Redis see each other's history and answers."""
    shared = settings.model_copy(update={"redis_url": redis_url})
    with (
        TestClient(create_app(shared, use_cases={"fraud": FRAUD})) as a,
        TestClient(create_app(shared, use_cases={"fraud": FRAUD})) as b,
    ):
        first = a.post("/v1/fraud/score", json=tx(1, amount=10.0))
        assert b.post("/v1/fraud/score", json=tx(2, amount=30.0)).status_code == 200
        retried = b.post("/v1/fraud/score", json=tx(1, amount=10.0))
        assert retried.content == first.content
        assert retried.headers["X-Idempotent-Replay"] == "true"
        assert b.post("/v1/fraud/score", json=tx(1, amount=99.0)).status_code == 409
    # Each replica has its own log writer, so the rows may land in either order.
    rows = {r["request_id"]: r for r in _logged_rows(engine)}
    assert sorted(rows) == ["fraud:tx-1", "fraud:tx-2"]
    assert rows["fraud:tx-2"]["inputs"]["features"]["card_count_1d"] == 2.0
    assert rows["fraud:tx-2"]["inputs"]["features"]["card_mean_amount_1d"] == 20.0
