"""Drift of logged fraud traffic against the reference frozen into the version at training."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from api_keys import READER, SCORER, with_keys
from fastapi.testclient import TestClient
from fraud_fitted import Packaged
from sqlalchemy import Engine, insert, select

from nexafi_ai.db.tables import drift_reports, inference_log
from nexafi_ai.monitoring.drift_service import (
    DriftSettings,
    NoReferenceError,
    compute_drift,
    recent_reports,
)
from nexafi_ai.monitoring.reference import REFERENCE_KEY, reference_from_manifest
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.train import MONITORED_FIELDS, feature_table

END = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def fresh_traffic(fraud_packaged: Packaged) -> pd.DataFrame:
    """Unshifted traffic: the same customers and terminals in the weeks before the test period
    the reference was frozen from (other rows, the same world)."""
    data = fraud_packaged.data
    features, _ = feature_table(data)
    test_rows = fraud_packaged.metadata[REFERENCE_KEY]["rows"]
    tail = slice(len(data) - test_rows - 2000, len(data) - test_rows)
    frame = features.iloc[tail].reset_index(drop=True)
    for field in MONITORED_FIELDS:
        frame[field] = data[field].iloc[tail].to_numpy()
    return frame


def _log(engine: Engine, frame: pd.DataFrame, packaged: Packaged, version: str, tag: str) -> None:
    """Log ``frame`` as the fraud route would: its features, fields and the model's scores."""
    model = packaged.result.model
    assert isinstance(model, FraudModel)
    names = model.feature_names
    proba = model.booster.proba(frame[names].to_numpy(dtype=float))
    rows = []
    for i, (record, p) in enumerate(zip(frame.to_dict("records"), proba, strict=True)):
        rows.append(
            {
                "request_id": f"{tag}-{i}",
                "use_case": "fraud",
                "entity_id": f"{tag}-{i}",
                "model_name": "nexafi-fraud",
                "model_version": version,
                "inputs": {
                    **{field: record[field] for field in MONITORED_FIELDS},
                    "features": {n: float(record[n]) for n in names},
                },
                "outputs": {},
                "score": float(p),
                "decision": "approve",
                "latency_ms": 1.0,
                "created_at": END - timedelta(hours=1) + timedelta(milliseconds=i),
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(inference_log), rows)


def test_the_version_carries_its_reference(fraud_packaged: Packaged) -> None:
    columns, references = reference_from_manifest(fraud_packaged.metadata) or ({}, {})
    assert set(fraud_packaged.result.model.feature_names) <= set(columns)
    assert {"score", "channel", "country"} <= set(columns)
    assert columns["amount"].path == ("inputs", "features", "amount")
    assert columns["channel"].kind == "categorical"
    assert references["score"].n == fraud_packaged.metadata[REFERENCE_KEY]["rows"]


def test_shifted_traffic_is_flagged_and_unshifted_is_not(
    engine: Engine,
    registry: ModelRegistry,
    fraud_champion: ModelVersionInfo,
    fraud_packaged: Packaged,
    fresh_traffic: pd.DataFrame,
) -> None:
    _log(engine, fresh_traffic, fraud_packaged, fraud_champion.version, "same")
    report = compute_drift(engine, registry, FRAUD, end=END, actor="test")
    assert report["n"] == len(fresh_traffic)
    assert report["model_version"] == fraud_champion.version
    psis = {k: round(f["psi"], 3) for k, f in report["features"].items()}
    assert report["drifted"] == [], str(psis)
    assert report["status"] != "alert"
    assert max(f["psi"] for f in report["features"].values()) < 0.25

    # The next day: amounts tripled and every payment online (a fraud ring, or a broken feed).
    shifted = fresh_traffic.copy()
    shifted["amount"] = shifted["amount"] * 3.0
    shifted["channel"] = "ecommerce"
    with engine.begin() as conn:
        conn.execute(inference_log.delete())
    _log(engine, shifted, fraud_packaged, fraud_champion.version, "shifted")
    report = compute_drift(engine, registry, FRAUD, end=END, actor="test")
    assert report["status"] == "alert"
    assert report["features"]["amount"]["psi"] > 0.25
    assert report["features"]["channel"]["psi"] > 0.25
    assert {"amount", "channel"} <= set(report["drifted"])
    assert report["features"]["country"]["status"] == "ok"
    assert report["features"]["amount"]["ks"] > 0.3

    with engine.connect() as conn:
        stored = conn.execute(select(drift_reports).order_by(drift_reports.c.id)).mappings().all()
    assert stored[0]["status"] in {"ok", "warn"}
    assert stored[1]["status"] == "alert"
    assert stored[1]["n_rows"] == len(shifted)
    assert stored[1]["report"]["features"]["amount"]["psi"] == pytest.approx(
        report["features"]["amount"]["psi"]
    )
    history = recent_reports(engine, "fraud")
    assert [h["id"] for h in history] == [stored[1]["id"], stored[0]["id"]]
    assert set(history[0]["drifted"]) == set(report["drifted"])


def test_thresholds_and_small_windows(
    engine: Engine,
    registry: ModelRegistry,
    fraud_champion: ModelVersionInfo,
    fraud_packaged: Packaged,
    fresh_traffic: pd.DataFrame,
) -> None:
    _log(engine, fresh_traffic.head(50), fraud_packaged, fraud_champion.version, "few")
    report = compute_drift(engine, registry, FRAUD, end=END, store=False)
    assert report["status"] == "insufficient_data"
    assert "id" not in report
    strict = compute_drift(
        engine,
        registry,
        FRAUD,
        end=END,
        store=False,
        settings=DriftSettings(psi_warn=0.0, psi_alert=0.0, min_rows=10),
    )
    assert strict["status"] == "alert"
    assert np.isclose(strict["thresholds"]["psi_alert"], 0.0)
    # Another version's rows are not this version's traffic.
    empty = compute_drift(engine, registry, FRAUD, end=END, version="1", store=False)
    if fraud_champion.version != "1":
        assert empty["n"] == 0


def test_a_version_without_reference_is_a_clear_error(
    engine: Engine, registry: ModelRegistry, toy_champion: ModelVersionInfo
) -> None:
    from nexafi_ai.usecases import all_use_cases

    toy = all_use_cases()["toy"]
    with pytest.raises(NoReferenceError, match="no drift reference"):
        compute_drift(engine, registry, toy, store=False)


def test_drift_api(
    engine: Engine,
    settings: Settings,
    toy: UseCase,
    fraud_champion: ModelVersionInfo,
    fraud_packaged: Packaged,
    fresh_traffic: pd.DataFrame,
) -> None:
    shifted = fresh_traffic.assign(amount=fresh_traffic["amount"] * 3.0)
    _log(engine, shifted, fraud_packaged, fraud_champion.version, "api")
    # Nothing is served here: drift reads the registry and the log, not a loaded model.
    app = create_app(with_keys(settings), use_cases={toy.name: toy})
    with TestClient(app, headers={"X-API-Key": READER}) as client:
        window = {"start": "2026-05-31T00:00:00Z", "end": "2026-06-01T00:00:00Z"}
        got = client.get("/v1/monitoring/fraud/drift", params=window)
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["status"] == "alert"
        assert "amount" in body["drifted"]
        assert body["n"] == len(shifted)
        # A stricter alert band than the default keeps only the big movers.
        loose = client.get("/v1/monitoring/fraud/drift", params={**window, "psi_alert": 5})
        assert loose.json()["drifted"] == []
        history = client.get("/v1/monitoring/fraud/drift/history").json()["reports"]
        assert [h["status"] for h in history] == ["warn", "alert"]

        cases = [
            ({"start": "2026-05-31T00:00:00"}, 422, "start"),
            ({"psi_warn": 0.5, "psi_alert": 0.2}, 422, "psi_warn"),
            ({"version": "999"}, 404, "version"),
        ]
        for params, status, field in cases:
            bad = client.get("/v1/monitoring/fraud/drift", params=params)
            assert bad.status_code == status, (params, bad.text)
            assert bad.json()["error"]["field"] == field
        assert client.get("/v1/monitoring/nope/drift").json()["error"]["field"] == "use_case"
        no_ref = client.get("/v1/monitoring/toy/drift")
        assert no_ref.status_code in {404, 409}
        denied = client.get("/v1/monitoring/fraud/drift", headers={"X-API-Key": SCORER})
        assert denied.status_code == 403


def test_monitor_drift_command(
    engine: Engine,
    cli_env: Settings,
    fraud_champion: ModelVersionInfo,
    fraud_packaged: Packaged,
    fresh_traffic: pd.DataFrame,
) -> None:
    from typer.testing import CliRunner

    from nexafi_ai.cli import FAIL_EXIT, app

    _log(engine, fresh_traffic.assign(channel="atm"), fraud_packaged, fraud_champion.version, "cli")
    runner = CliRunner()
    window = ["--start", "2026-05-31T00:00:00", "--end", "2026-06-01T00:00:00+00:00"]
    result = runner.invoke(app, ["monitor", "drift", "fraud", *window, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["drifted"] == ["channel"]
    assert report["n"] == len(fresh_traffic)
    failing = runner.invoke(app, ["monitor", "drift", "fraud", *window, "--fail-on", "alert"])
    assert failing.exit_code == FAIL_EXIT, failing.output
    assert "channel" in failing.stdout
    unknown = runner.invoke(app, ["monitor", "drift", "fraud", "--start", "yesterday"])
    assert unknown.exit_code == 2
    assert "--start" in unknown.output
