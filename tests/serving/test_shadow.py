"""Champion / challenger: ``@challenger`` scores every request in shadow, logged, never returned."""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from registered import register_packaged
from sqlalchemy import Engine, delete, select

from nexafi_ai.db import inference_log
from nexafi_ai.models import FastBooster
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.training import package_version, train_and_register
from nexafi_ai.usecases import UseCase
from nexafi_ai.usecases.base import FitResult
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.fraud.features import offline_features
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.policy import DecisionPolicy
from nexafi_ai.usecases.fraud.router import challenger_row
from nexafi_ai.usecases.fraud.schemas import TransactionIn

BODY = {"id": "r1", "x1": 0.3, "x2": -1.2}
FAST = {"reload_interval_s": 0.05}


def _rows(app: Any, engine: Engine) -> list[dict[str, Any]]:
    app.state.ctx.log_writer.close()
    with engine.connect() as conn:
        rows = conn.execute(select(inference_log).order_by(inference_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def _toy_score(registry: ModelRegistry, version: str, x1: float, x2: float) -> float:
    """The toy model's probability computed by hand from the version's stored weights."""
    path = registry.fetch("nexafi-toy", version).path / "weights.json"
    w = json.loads(path.read_text())["weights"]
    return 1.0 / (1.0 + math.exp(-(x1 * w[0] + x2 * w[1] + w[2])))


def _wait_for(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --------------------------------------------------------------------------- generic route
def test_generic_route_logs_the_challenger_in_shadow_and_answers_as_without_it(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
    engine: Engine,
) -> None:
    train_and_register(toy, registry, size="tiny", seed=7)
    app = create_app(settings, use_cases={toy.name: toy})
    with TestClient(app) as c:
        plain = c.post("/v1/toy/predict", json=BODY)
        ready = c.get("/readyz")
        assert ready.status_code == 200, "a missing challenger is normal"
        assert ready.json()["models"]["toy"]["challenger"] == {
            "alias": "challenger",
            "version": None,
            "error": None,
        }
    (unshadowed,) = _rows(app, engine)
    assert unshadowed["shadow"] is None
    with engine.begin() as conn:
        conn.execute(delete(inference_log))

    registry.set_alias(toy.model_name, "challenger", "2", actor="test")
    app = create_app(settings, use_cases={toy.name: toy})
    with TestClient(app) as c:
        shadowed = c.post("/v1/toy/predict", json=BODY)
        ready = c.get("/readyz").json()
        detail = c.get("/v1/models/toy").json()
        metrics = c.get("/metrics").text
    assert shadowed.status_code == 200
    assert shadowed.content == plain.content, "the challenger never changes the answer"
    assert shadowed.headers["X-Model-Version"] == "1"
    assert ready["models"]["toy"]["version"] == "1"
    assert ready["models"]["toy"]["challenger"]["version"] == "2"
    assert detail["serving"]["version"] == "1"
    assert detail["serving"]["challenger"]["alias"] == "challenger"
    assert detail["serving"]["challenger"]["version"] == "2"
    assert 'nexafi_challenger_loaded_info{model="nexafi-toy",use_case="toy",version="2"}' in metrics

    (row,) = _rows(app, engine)
    expected = _toy_score(registry, "2", 0.3, -1.2)
    assert expected != pytest.approx(row["score"], abs=1e-3), "the two versions must differ"
    assert row["score"] == pytest.approx(_toy_score(registry, "1", 0.3, -1.2))
    assert row["model_version"] == "1"
    shadow = row["shadow"]
    assert set(shadow) == {"model_version", "score", "decision", "latency_ms"}
    assert shadow["model_version"] == "2"
    assert shadow["score"] == pytest.approx(expected, rel=1e-9)
    assert shadow["decision"] == ("review" if expected >= 0.5 else "approve")
    assert shadow["latency_ms"] >= 0


def test_a_failing_challenger_never_fails_the_request(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train_and_register(toy, registry, size="tiny", seed=7, promote_to="challenger")
    app = create_app(settings, use_cases={toy.name: toy})
    with TestClient(app) as c:
        challenger = app.state.ctx.challengers["toy"].current
        assert challenger.version == "2"

        def boom(requests: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(challenger.model, "predict", boom)
        r = c.post("/v1/toy/predict", json=BODY)
        assert r.status_code == 200
        assert r.json()["score"] == pytest.approx(_toy_score(registry, "1", 0.3, -1.2))
        assert 'nexafi_shadow_errors_total{use_case="toy"} 1.0' in c.get("/metrics").text
    (row,) = _rows(app, engine)
    assert row["shadow"] == {"model_version": "2", "error": "RuntimeError: boom"}


def test_challenger_follows_its_alias_while_serving_and_never_touches_readiness(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
    engine: Engine,
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    v3 = train_and_register(toy, registry, size="tiny", seed=11)
    # A broken challenger version: refused, counted, and scoring stays ready.
    run_dir = registry.artifact_root / toy.model_name
    (weights,) = [p for p in run_dir.rglob("weights.json") if str(v3.run_id) in str(p)]
    weights.write_text('{"weights": [1.0, 1.0, 1.0]}')
    app = create_app(settings.model_copy(update=FAST), use_cases={toy.name: toy})
    with TestClient(app) as c:
        handle = app.state.ctx.challengers["toy"]
        registry.set_alias(toy.model_name, "challenger", v2.version, actor="retrain")
        _wait_for(lambda: handle.serving_version == "2", "the watcher to load the challenger")
        c.post("/v1/toy/predict", json={**BODY, "id": "a"})

        r = c.post("/v1/models/nexafi-toy/aliases", json={"alias": "challenger", "version": "3"})
        assert r.status_code == 409, "an alias move verifies the challenger first"
        assert handle.serving_version == "2"
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert "sha256 mismatch" in ready.json()["models"]["toy"]["challenger"]["error"]

        registry.delete_alias(toy.model_name, "challenger", actor="retrain")
        _wait_for(lambda: handle.current is None, "the watcher to drop the challenger")
        c.post("/v1/toy/predict", json={**BODY, "id": "b"})
        assert c.get("/readyz").status_code == 200
        metrics = c.get("/metrics").text
        assert "nexafi_challenger_loaded_info{" not in metrics
        assert 'nexafi_model_load_failures_total{use_case="toy"} 1.0' in metrics
    rows = {r["entity_id"]: r["shadow"] for r in _rows(app, engine)}
    assert rows["a"]["model_version"] == "2"
    assert rows["b"] is None


# --------------------------------------------------------------------------- fraud
@dataclass(frozen=True)
class Packaged:
    """A packaged fraud challenger, trained in about a second: enough to tell it apart."""

    result: FitResult
    directory: Path
    metadata: dict[str, Any]


def _fraud_fit(data: pd.DataFrame, x: pd.DataFrame, rounds: int, seed: int) -> FitResult:
    names = list(x.columns)
    params = {"objective": "binary", "learning_rate": 0.2, "num_leaves": 8, "num_threads": 1}
    train = lgb.Dataset(
        x.to_numpy(dtype=float), data["is_fraud"].to_numpy(dtype=int), feature_name=names
    )
    booster = lgb.train({**params, "seed": seed, "verbosity": -1}, train, num_boost_round=rounds)
    model = FraudModel(FastBooster(booster), names, DecisionPolicy(review_at=0.3, decline_at=0.7))
    return FitResult(model=model, metrics={"rounds": float(rounds)})


@pytest.fixture(scope="module")
def fraud_challenger_packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    """A small LightGBM on the same windowed features as the session's fraud champion."""
    data = FRAUD.builtin_data(size="tiny", seed=3)
    result = _fraud_fit(data, offline_features(data), rounds=8, seed=2)
    directory = tmp_path_factory.mktemp("fraud-challenger")
    return Packaged(
        result, directory, package_version(FRAUD, result, data, directory, source="test")
    )


def _tx(i: int, **changes: Any) -> dict[str, Any]:
    body = {
        "transaction_id": f"tx-{i}",
        "card_id": "card_000042",
        "terminal_id": "term_000007",
        "amount": 950.0,
        "currency": "EUR",
        "timestamp": f"2025-06-01T12:{i % 60:02d}:00Z",
        "mcc": "5411",
        "channel": "contactless",
        "country": "FR",
    }
    return {**body, **changes}


def _independent(
    registry: ModelRegistry, version: str, features: dict[str, float], amount: float
) -> tuple[float, str]:
    """Score a logged feature row with the raw LightGBM booster of ``version``."""
    path = registry.fetch(FRAUD.model_name, version).path
    booster = lgb.Booster(model_file=str(path / "model.txt"))
    row = np.array([[features.get(n, math.nan) for n in booster.feature_name()]], dtype=float)
    proba = float(booster.predict(row)[0])
    policy = DecisionPolicy.load(path)
    return proba, policy.decide(proba, amount)


def test_fraud_challenger_scores_the_champion_feature_row_in_shadow(
    settings: Settings,
    fraud_champion: ModelVersionInfo,
    fraud_challenger_packaged: Packaged,
    registry: ModelRegistry,
    engine: Engine,
    tmp_path: Path,
) -> None:
    packaged = fraud_challenger_packaged
    register_packaged(
        FRAUD,
        registry,
        packaged.result,
        packaged.directory,
        packaged.metadata,
        tmp_path,
        promote_to=None,
    )

    app = create_app(settings, use_cases={"fraud": FRAUD})
    with TestClient(app) as c:
        plain = c.post("/v1/fraud/score", json=_tx(1))
    (unshadowed,) = _rows(app, engine)
    assert unshadowed["shadow"] is None
    with engine.begin() as conn:  # the next server must start from the same (empty) windows
        conn.execute(delete(inference_log))

    registry.set_alias(FRAUD.model_name, "challenger", "2", actor="test")
    app = create_app(settings, use_cases={"fraud": FRAUD})
    with TestClient(app) as c:
        shadowed = c.post("/v1/fraud/score", json=_tx(1))
        second = c.post("/v1/fraud/score", json=_tx(2, amount=12.5))
        assert second.status_code == 200
        assert c.post("/v1/fraud/score", json=_tx(2, amount=12.5)).content == second.content
    assert plain.status_code == shadowed.status_code == 200
    assert shadowed.content == plain.content, "the challenger never changes the answer"
    assert plain.json()["decision"] != "approve", "a flagged transaction: TreeSHAP reasons ran"
    assert plain.json()["reasons"]

    first_row, second_row = _rows(app, engine)  # the idempotent replay is not scored again
    for row in (first_row, second_row):
        features = row["inputs"]["features"]
        proba, decision = _independent(registry, "2", features, row["inputs"]["amount"])
        champion_proba, _ = _independent(registry, "1", features, row["inputs"]["amount"])
        assert row["score"] == pytest.approx(champion_proba, rel=1e-6)
        assert proba != pytest.approx(champion_proba, rel=1e-3), "the versions must differ"
        assert row["shadow"]["model_version"] == "2"
        assert row["shadow"]["score"] == pytest.approx(proba, rel=1e-6)
        assert row["shadow"]["decision"] == decision
        assert set(row["shadow"]) == {"model_version", "score", "decision", "latency_ms"}
    # The windows recorded the first transaction once (not again for the challenger).
    first, second = first_row["inputs"]["features"], second_row["inputs"]["features"]
    assert second["card_count_1d"] == first["card_count_1d"] + 1


def test_challenger_row_is_built_by_name_with_missing_features_as_nan() -> None:
    champion = SimpleNamespace(feature_names=["a", "b", "amount"])
    same = SimpleNamespace(feature_names=["a", "b", "amount"])
    other = SimpleNamespace(feature_names=["b", "sent", "new", "a"])
    tx = TransactionIn.model_validate({**_tx(1), "features": {"sent": 4.0}})
    row = [1.0, 2.0, 950.0]
    assert challenger_row(champion, same, tx, row) is row  # type: ignore[arg-type]
    built = challenger_row(champion, other, tx, row)  # type: ignore[arg-type]
    assert built[:2] == [2.0, 4.0]  # from the champion's row, then from the sent features
    assert math.isnan(built[2])  # neither has it: LightGBM's missing value
    assert built[3] == 1.0
