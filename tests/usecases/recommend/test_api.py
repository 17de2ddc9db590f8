"""GET /v1/recommendations/{user_id} and POST /v1/recommendations end to end.

The model is fitted once per session on the tiny built-in data (a few seconds) and registered
per test, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_keys import READER, SCORER, with_keys
from fastapi.testclient import TestClient
from registered import register_packaged
from sqlalchemy import Engine, select

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.serving.log_writer import InferenceRow, LogBackpressure
from nexafi_ai.settings import Settings
from nexafi_ai.training import package_version
from nexafi_ai.usecases.base import FitResult
from nexafi_ai.usecases.recommend import USE_CASE as RECOMMEND
from nexafi_ai.usecases.recommend.data import RecommendData
from nexafi_ai.usecases.recommend.schemas import REASON_CODES, RecommendRequest

PAN = "4111111111111111"  # a Luhn-valid test card number
NEWCOMER = {"age": 29, "income": 48_000.0, "risk_appetite": "medium", "goal": "travel"}


@dataclass(frozen=True)
class Fitted:
    data: RecommendData
    result: FitResult
    directory: Path
    metadata: dict[str, Any]

    @property
    def regular(self) -> str:
        """The customer with the longest history: known to the model, holds products."""
        counts = self.data.interactions["user_id"].value_counts()
        return str(counts.index[0])


@pytest.fixture(scope="session")
def recommend_fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    data = RECOMMEND.builtin_data(size="tiny", seed=3)
    assert isinstance(data, RecommendData)
    result = RECOMMEND.fit(data, seed=3)
    directory = tmp_path_factory.mktemp("recommend-model")
    metadata = package_version(RECOMMEND, result, data, directory, source="test")
    return Fitted(data, result, directory, metadata)


@pytest.fixture
def recommend_champion(
    recommend_fitted: Fitted, registry: ModelRegistry, tmp_path: Path
) -> ModelVersionInfo:
    return register_packaged(
        RECOMMEND,
        registry,
        recommend_fitted.result,
        recommend_fitted.directory,
        recommend_fitted.metadata,
        tmp_path,
    )


def _app(settings: Settings) -> Any:
    return create_app(with_keys(settings), use_cases={"recommend": RECOMMEND})


@pytest.fixture
def client(settings: Settings, recommend_champion: ModelVersionInfo) -> Iterator[TestClient]:
    with TestClient(_app(settings), headers={"X-API-Key": SCORER}) as c:
        yield c


def _logged(client: TestClient, engine: Engine) -> list[dict[str, Any]]:
    client.app.state.ctx.log_writer.close()  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


def test_known_user_gets_k_ranked_reasoned_items_and_is_logged(
    client: TestClient, engine: Engine, recommend_fitted: Fitted
) -> None:
    user = recommend_fitted.regular
    r = client.get(f"/v1/recommendations/{user}?k=5", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["user_id"], body["strategy"], body["k"]) == (user, "hybrid", 5)
    assert body["model_version"] == "1"
    assert (r.headers["X-Model-Version"], r.headers["X-Request-ID"]) == ("1", "req-42")
    items = body["items"]
    assert len(items) == 5
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert all(i["reason_code"] in REASON_CODES and i["reason"] for i in items)
    assert len({i["product_id"] for i in items}) == 5
    # The route answers what the model answers, with the registry's version.
    model_answer = recommend_fitted.result.model.predict([RecommendRequest(user_id=user, k=5)])
    assert [i["product_id"] for i in items] == [
        i.product_id
        for i in model_answer[0].items  # type: ignore[attr-defined]
    ]
    held = set(
        recommend_fitted.data.interactions.query("user_id == @user and event == 'hold'")["item_id"]
    )
    assert not held & {i["product_id"] for i in items}

    default = client.get(f"/v1/recommendations/{user}")
    assert default.status_code == 200
    assert default.json()["k"] == 10
    assert default.headers["X-Request-ID"]  # a fresh id when the caller sends none

    [first, second] = _logged(client, engine)
    assert first["request_id"] == "req-42"
    assert (first["use_case"], first["entity_id"], first["decision"]) == (
        "recommend",
        user,
        "hybrid",
    )
    assert (first["model_name"], first["model_version"]) == ("nexafi-recommend", "1")
    assert first["score"] == pytest.approx(items[0]["score"])
    assert first["inputs"]["user_id"] == user
    assert first["inputs"]["k"] == 5
    assert first["outputs"] == body
    assert first["latency_ms"] >= 0
    assert second["request_id"] == default.headers["X-Request-ID"]


def test_profile_alone_is_a_cold_start_and_exclusions_are_honoured(
    client: TestClient, engine: Engine, recommend_fitted: Fitted
) -> None:
    r = client.post("/v1/recommendations", json={"profile": NEWCOMER, "k": 4})
    assert r.status_code == 200, r.text
    cold = r.json()
    assert (cold["user_id"], cold["strategy"], cold["k"]) == (None, "cold_start", 4)
    assert 1 <= len(cold["items"]) <= 4
    assert cold["model_version"] == "1"

    user = recommend_fitted.regular
    first = client.get(f"/v1/recommendations/{user}?k=3").json()["items"][0]["product_id"]
    r = client.post("/v1/recommendations", json={"user_id": user, "k": 3, "exclude": [first]})
    assert r.status_code == 200, r.text
    assert first not in {i["product_id"] for i in r.json()["items"]}
    # A known customer with a fresher profile is still scored on their history too.
    r = client.post("/v1/recommendations", json={"user_id": user, "profile": NEWCOMER})
    assert r.status_code == 200, r.text
    assert r.json()["strategy"] == "hybrid"

    rows = _logged(client, engine)
    assert (rows[0]["entity_id"], rows[0]["decision"]) == (None, "cold_start")
    assert rows[0]["inputs"]["profile"]["goal"] == "travel"
    assert len(rows) == 4


def test_unknown_user_without_profile_is_404_naming_user_id(client: TestClient) -> None:
    for r in (
        client.get("/v1/recommendations/U999999"),
        client.post("/v1/recommendations", json={"user_id": "U999999"}),
    ):
        assert r.status_code == 404, r.text
        error = _error(r)
        assert (error["code"], error["field"]) == ("not_found", "user_id")
        assert "profile" in error["message"]
    # The same unknown customer with a profile is served as a cold start.
    r = client.post("/v1/recommendations", json={"user_id": "U999999", "profile": NEWCOMER})
    assert r.status_code == 200, r.text
    assert r.json()["strategy"] == "cold_start"


@pytest.mark.parametrize("k", [0, 51, -3])
def test_k_out_of_range_is_422_naming_k(
    client: TestClient, recommend_fitted: Fitted, k: int
) -> None:
    user = recommend_fitted.regular
    for r in (
        client.get(f"/v1/recommendations/{user}?k={k}"),
        client.post("/v1/recommendations", json={"user_id": user, "k": k}),
    ):
        assert r.status_code == 422, r.text
        assert _error(r)["field"] == "k"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"user_id": PAN}, "user_id"),
        ({"user_id": "U1", "exclude": [PAN]}, "exclude.0"),
        ({}, "user_id"),
        ({"profile": {**NEWCOMER, "age": 12}}, "profile.age"),
        ({"profile": {**NEWCOMER, "goal": f"card {PAN}"}}, "profile.goal"),
        ({"user_id": "U1", "surprise": 1}, "surprise"),
    ],
)
def test_bad_requests_are_422_naming_the_field(
    client: TestClient, request_: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/recommendations", json=request_)
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == field
    assert PAN not in r.text


@pytest.mark.parametrize("user_id", [PAN, "a%20b", "x" * 65])
def test_bad_user_id_in_the_path_is_422(client: TestClient, user_id: str) -> None:
    r = client.get(f"/v1/recommendations/{user_id}")
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == "user_id"
    assert PAN not in r.text


def test_score_scope_is_required(client: TestClient, recommend_fitted: Fitted) -> None:
    path = f"/v1/recommendations/{recommend_fitted.regular}"
    assert client.get(path, headers={"X-API-Key": READER}).status_code == 403
    r = client.post(
        "/v1/recommendations", json={"profile": NEWCOMER}, headers={"X-API-Key": READER}
    )
    assert r.status_code == 403
    assert client.get(path, headers={"X-API-Key": "wrong-key-0123456789abcdef"}).status_code == 401
    assert client.get(path).status_code == 200


def test_a_full_log_refuses_with_503(
    client: TestClient, recommend_fitted: Fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(row: InferenceRow) -> None:
        raise LogBackpressure("spool full")

    monkeypatch.setattr(client.app.state.ctx.log_writer, "submit", full)  # type: ignore[attr-defined]
    r = client.get(f"/v1/recommendations/{recommend_fitted.regular}")
    assert r.status_code == 503
    assert _error(r)["code"] == "log_unavailable"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_model_loaded_is_503(settings: Settings) -> None:
    with TestClient(_app(settings), headers={"X-API-Key": SCORER}) as c:
        r = c.post("/v1/recommendations", json={"profile": NEWCOMER})
    assert r.status_code == 503
    assert _error(r)["code"] == "model_not_loaded"
