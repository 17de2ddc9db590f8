"""POST /v1/credit/score and GET /v1/models/credit end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_keys import READER, SCORER, with_keys
from credit_fitted import Fitted
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.credit import USE_CASE as CREDIT


def applicant(fitted: Fitted, i: int, **changes: Any) -> dict[str, Any]:
    body = CREDIT.example_requests(fitted.data.iloc[[i]], 1)[0]
    return {**body, **changes}


RISKY = {
    "debt_to_income": 1.3,
    "revolving_utilization": 1.1,
    "delinquencies_2y": 5,
    "months_since_last_delinquency": 1.0,
    "recent_inquiries_6m": 7,
}


@pytest.fixture
def client(settings: Settings, credit_champion: ModelVersionInfo) -> Iterator[TestClient]:
    app = create_app(with_keys(settings), use_cases={"credit": CREDIT})
    with TestClient(app, headers={"X-API-Key": SCORER}) as c:
        yield c


def test_score_answers_and_is_logged(
    client: TestClient, engine: Engine, credit_fitted: Fitted
) -> None:
    declined = client.post("/v1/credit/score", json=applicant(credit_fitted, 11, **RISKY))
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert body["decision"] == "decline"
    assert body["risk_band"] == "E"
    assert 1 <= len(body["reasons"]) <= 4
    assert {"code", "text", "feature", "value", "contribution"} == set(body["reasons"][0])
    assert body["model_version"] == "1"
    assert declined.headers["X-Model-Version"] == "1"
    model = credit_fitted.result.model
    expected = model.predict(
        [CREDIT.request_model.model_validate(applicant(credit_fitted, 11, **RISKY))]
    )
    assert body["probability_of_default"] == pytest.approx(
        expected[0].model_dump()["probability_of_default"], rel=1e-12
    )

    safe = applicant(
        credit_fitted, 12, debt_to_income=0.05, revolving_utilization=0.02, delinquencies_2y=0
    )
    safe.pop("months_since_last_delinquency", None)
    approved = client.post("/v1/credit/score", json=safe)
    assert approved.status_code == 200, approved.text
    assert approved.json()["decision"] == "approve"
    assert approved.json()["reasons"] == []

    client.app.state.ctx.log_writer.close()
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    assert [(r["use_case"], r["entity_id"], r["decision"]) for r in rows] == [
        ("credit", body["applicant_id"], "decline"),
        ("credit", safe["applicant_id"], "approve"),
    ]
    assert rows[0]["score"] == pytest.approx(body["probability_of_default"])
    assert rows[0]["outputs"]["reasons"] == body["reasons"]
    assert "protected_group" not in rows[0]["inputs"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annual_income": -5.0}, "annual_income"),
        ({"protected_group": "B"}, "protected_group"),
        ({"attributes": {"fico": 720.0}}, "attributes.fico"),
        ({"attributes": {"age": 44.0}}, "attributes.age"),
        ({"applicant_id": "4111111111111111"}, "applicant_id"),
    ],
)
def test_bad_applicants_are_422_naming_the_field(
    client: TestClient, credit_fitted: Fitted, change: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/credit/score", json=applicant(credit_fitted, 3, **change))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert "4111111111111111" not in r.text


def test_a_required_field_left_out_is_422(client: TestClient, credit_fitted: Fitted) -> None:
    body = applicant(credit_fitted, 4)
    del body["loan_amount"]
    r = client.post("/v1/credit/score", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "validation_error",
        "message": "loan_amount: required by this model",
        "field": "loan_amount",
    }


def test_scope_is_enforced(client: TestClient, credit_fitted: Fitted) -> None:
    r = client.post(
        "/v1/credit/score", json=applicant(credit_fitted, 5), headers={"X-API-Key": READER}
    )
    assert r.status_code == 403


def test_model_detail_shows_fairness_and_calibration_per_version(
    client: TestClient,
    credit_fitted: Fitted,
    credit_champion: ModelVersionInfo,
    registry: ModelRegistry,
) -> None:
    r = client.get("/v1/models/credit", headers={"X-API-Key": READER})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "nexafi-credit"
    assert body["aliases"] == {"champion": "1"}
    (version,) = body["versions"]
    assert version["kind"] == credit_fitted.result.metadata["kind"]
    fairness = version["reports"]["fairness"]
    assert fairness["attribute"] == "protected_group"
    assert set(fairness["groups"]) == {"A", "B"}
    assert fairness["adverse_impact_ratio"] == pytest.approx(
        credit_fitted.result.metadata["reports"]["fairness"]["adverse_impact_ratio"]
    )
    assert len(version["reports"]["calibration"]) == 10
    assert version["selection"]["chosen"] == version["kind"]
    assert version["metrics"]["roc_auc"] == pytest.approx(credit_fitted.result.metrics["roc_auc"])
    assert client.get("/v1/models/nexafi-credit", headers={"X-API-Key": READER}).json() == body
    missing = client.get("/v1/models/nope", headers={"X-API-Key": READER})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "name"
