"""The service skeleton through real HTTP semantics: auth, limits, errors, health, models."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from nexafi_ai.db import audit_log, inference_log
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.training import train_and_register
from nexafi_ai.usecases import UseCase

ADMIN = "admin-key-0123456789abcdef"
SCORER = "score-key-0123456789abcdef"
READER = "read-key-0123456789abcdef"
BODY = {"id": "r1", "x1": 0.3, "x2": -1.2}


def _keyed(settings: Settings) -> Settings:
    keys = {ADMIN: ["admin", "read", "score"], SCORER: ["score"], READER: ["read"]}
    return settings.model_copy(update={"api_keys": {k: frozenset(v) for k, v in keys.items()}})


@pytest.fixture
def client(
    settings: Settings, toy: UseCase, toy_champion: ModelVersionInfo
) -> Iterator[TestClient]:
    app = create_app(_keyed(settings), use_cases={toy.name: toy})
    with TestClient(app) as c:
        yield c


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inference_log)).scalar_one())


def test_health_docs_and_metrics(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["models"]["toy"]["version"] == "1"
    assert ready.json()["checks"] == {"database": True}
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/v1/toy/predict" in schema["paths"]
    client.post("/v1/toy/predict", json=BODY, headers={"X-API-Key": SCORER})
    text = client.get("/metrics").text
    assert 'nexafi_model_loaded_info{model="nexafi-toy",use_case="toy",version="1"} 1.0' in text
    assert 'route="/v1/toy/predict"' in text
    assert "nexafi_http_request_duration_seconds_bucket" in text


def test_predict_answers_and_logs(client: TestClient, engine: Engine) -> None:
    r = client.post(
        "/v1/toy/predict", json=BODY, headers={"X-API-Key": SCORER, "X-Request-ID": "abc-1"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "r1"
    assert 0.0 < r.json()["score"] < 1.0
    assert r.headers["X-Model-Version"] == "1"
    assert r.headers["X-Request-ID"] == "abc-1"
    client.app.state.ctx.log_writer.close()
    with engine.connect() as conn:
        row = conn.execute(select(inference_log)).mappings().one()
    assert row["request_id"] == "abc-1"
    assert row["inputs"] == BODY
    assert row["outputs"] == r.json()
    assert row["entity_id"] == "r1"
    assert row["model_version"] == "1"
    assert row["score"] == pytest.approx(r.json()["score"])


def _error(r: object) -> dict[str, object]:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert {"code", "message", "field"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


def test_auth_missing_wrong_and_scope(client: TestClient) -> None:
    r = client.post("/v1/toy/predict", json=BODY)
    assert r.status_code == 401
    assert _error(r)["code"] == "unauthorized"
    assert _error(r)["field"] == "X-API-Key"
    assert r.headers["WWW-Authenticate"].startswith("ApiKey")
    r = client.post("/v1/toy/predict", json=BODY, headers={"X-API-Key": "wrong-key-0123456789"})
    assert r.status_code == 401
    assert _error(r)["message"] == "invalid API key"
    r = client.post("/v1/toy/predict", json=BODY, headers={"X-API-Key": READER})
    assert r.status_code == 403
    assert _error(r) == {
        "code": "forbidden",
        "message": "this API key lacks the 'score' scope",
        "field": None,
    }
    bearer = {"Authorization": f"Bearer {SCORER}"}
    assert client.post("/v1/toy/predict", json=BODY, headers=bearer).status_code == 200
    assert client.get("/v1/models", headers={"X-API-Key": SCORER}).status_code == 403
    assert client.get("/v1/models", headers={"X-API-Key": READER}).status_code == 200


def test_body_limits_media_type_and_validation(
    client: TestClient, settings: Settings, engine: Engine
) -> None:
    auth = {"X-API-Key": SCORER}
    big = b'{"id": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    r = client.post(
        "/v1/toy/predict", content=big, headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert _error(r)["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must still hold
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    r = client.post(
        "/v1/toy/predict", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 413

    r = client.post(
        "/v1/toy/predict", content=b"id=1", headers={**auth, "Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    assert _error(r)["code"] == "unsupported_media_type"

    r = client.post(
        "/v1/toy/predict",
        content=b'{"id": "r1", "x1": 0.3,',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert _error(r)["code"] == "validation_error"
    assert _error(r)["field"] == "body"
    assert "malformed JSON" in str(_error(r)["message"])

    r = client.post("/v1/toy/predict", json={**BODY, "x2": "abc"}, headers=auth)
    assert r.status_code == 422
    assert _error(r)["field"] == "x2"
    r = client.post("/v1/toy/predict", json={**BODY, "card_number": "4111"}, headers=auth)
    assert r.status_code == 422
    assert _error(r)["field"] == "card_number"
    r = client.post("/v1/toy/predict", json=BODY, headers={**auth, "X-Request-ID": "bad id!"})
    assert r.status_code == 422
    assert _error(r)["field"] == "X-Request-ID"
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert _error(r)["code"] == "not_found"
    client.app.state.ctx.log_writer.close()
    assert _rows(engine) == 0, "rejected requests must not be logged"


def test_list_models(client: TestClient) -> None:
    body = client.get("/v1/models", headers={"X-API-Key": READER}).json()
    (model,) = body["models"]
    assert model["name"] == "nexafi-toy"
    assert model["aliases"] == {"champion": "1"}
    assert model["serving"]["version"] == "1"
    assert model["versions"][0]["metrics"]["roc_auc"] > 0.8


def test_promote_and_rollback_are_audited_and_swap_serving(
    client: TestClient, toy: UseCase, registry: ModelRegistry, engine: Engine
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    admin = {"X-API-Key": ADMIN}
    r = client.post("/v1/models/nexafi-toy/aliases", json={"version": v2.version}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "nexafi-toy",
        "alias": "champion",
        "from_version": "1",
        "to_version": "2",
        "serving_version": "2",
    }
    scored = client.post("/v1/toy/predict", json=BODY, headers=admin)
    assert scored.headers["X-Model-Version"] == "2"
    r = client.post(
        "/v1/models/nexafi-toy/aliases",
        json={"version": "1", "reason": "bad week"},
        headers=admin,
    )
    assert r.json()["serving_version"] == "1"
    r = client.post(
        "/v1/models/nexafi-toy/aliases", json={"version": "1"}, headers={"X-API-Key": READER}
    )
    assert r.status_code == 403
    r = client.post("/v1/models/nexafi-toy/aliases", json={"version": "9"}, headers=admin)
    assert r.status_code == 404
    assert _error(r)["field"] == "version"
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    assert [(r["action"], r["from_version"], r["to_version"]) for r in rows] == [
        ("alias.promote", None, "1"),
        ("alias.promote", "1", "2"),
        ("alias.rollback", "2", "1"),
    ]
    assert rows[1]["actor"].startswith("key:")
    assert ADMIN not in str([dict(r) for r in rows]), "keys never reach the audit log"


def test_tampered_version_is_refused_and_previous_keeps_serving(
    client: TestClient, toy: UseCase, registry: ModelRegistry, engine: Engine
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    run_dir = registry.artifact_root / toy.model_name
    weights = [p for p in run_dir.rglob("weights.json") if v2.run_id in str(p)]
    assert len(weights) == 1
    weights[0].write_text('{"weights": [100.0, 100.0, 100.0]}')
    admin = {"X-API-Key": ADMIN}

    r = client.post("/v1/models/nexafi-toy/aliases", json={"version": "2"}, headers=admin)
    assert r.status_code == 409
    assert _error(r)["code"] == "model_load_failed"
    assert "sha256 mismatch" in str(_error(r)["message"])
    assert registry.alias_version(toy.model_name, "champion") == "1"
    scored = client.post("/v1/toy/predict", json=BODY, headers=admin)
    assert scored.status_code == 200
    assert scored.headers["X-Model-Version"] == "1"

    # Moved behind the service's back (another replica, the CLI): a reload refuses it too.
    registry.set_alias(toy.model_name, "champion", "2", actor="someone")
    r = client.post("/v1/models/nexafi-toy/reload", headers=admin)
    assert r.status_code == 409
    assert (
        client.post("/v1/toy/predict", json=BODY, headers=admin).headers["X-Model-Version"] == "1"
    )
    assert client.get("/readyz").status_code == 200
    with engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars().all()
    assert actions == ["alias.promote", "alias.refused", "alias.promote"]
    assert 'nexafi_model_load_failures_total{use_case="toy"} 2.0' in client.get("/metrics").text


def test_not_ready_without_champion(settings: Settings, toy: UseCase) -> None:
    with TestClient(create_app(settings, use_cases={toy.name: toy})) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["models"]["toy"]["error"] == "nexafi-toy@champion is not set"
        r = c.post("/v1/toy/predict", json=BODY)
        assert r.status_code == 503
        assert _error(r)["code"] == "model_not_loaded"


def test_not_ready_when_database_is_down(
    settings: Settings, toy: UseCase, toy_champion: ModelVersionInfo
) -> None:
    down = settings.model_copy(
        update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    )
    with TestClient(create_app(down, use_cases={toy.name: toy})) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] is False
        c.app.state.ctx.log_writer.close(timeout=0.5)


def test_readiness_checks_real_redis_when_configured(
    settings: Settings, toy: UseCase, toy_champion: ModelVersionInfo, redis_url: str
) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"redis_url": redis_url}), use_cases={toy.name: toy})
    ) as c:
        r = c.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": True, "redis": True}
    dead = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(dead, use_cases={toy.name: toy})) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["redis"] is False
