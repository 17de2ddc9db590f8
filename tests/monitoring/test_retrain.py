"""Retraining from the log: a better challenger is promoted, a worse one refused, all audited.

The fraud champion is fitted once per module on label-shuffled transactions (it ranks at
chance); the traffic it "served" is logged with the point-in-time features the offline
feature code computes, and chargebacks arrive as labels. A retrain on that log learns the
real signal and must win; a retrain on deliberately shuffled data must lose to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from registered import register_packaged
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, insert, select

from nexafi_ai.db.tables import audit_log, inference_log, labels
from nexafi_ai.monitoring.retrain import (
    CannotRebuildError,
    RetrainPolicy,
    _calibration_gate,
    _fairness_gate,
    _gain_gate,
    retrain,
)
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.training import package_version
from nexafi_ai.usecases.base import FitResult, UseCase
from nexafi_ai.usecases.credit import USE_CASE as CREDIT
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.fraud.features import offline_features
from nexafi_ai.usecases.fraud.simulator import SimulatorConfig, simulate_transactions
from nexafi_ai.usecases.fraud.train import FraudTrainConfig, fit_fraud

_TX_FIELDS = ("transaction_id", "card_id", "terminal_id", "currency", "mcc", "channel")
_TX_FIELDS += ("country", "card_country")


@dataclass(frozen=True)
class Scenario:
    transactions: pd.DataFrame
    features: pd.DataFrame
    champion: FitResult
    champion_dir: Path
    champion_metadata: dict[str, Any]
    as_of: datetime


@pytest.fixture(scope="module", autouse=True)
def _quick_fraud_fits() -> Iterator[None]:
    """One LightGBM candidate on one thread: the same pipeline, without the candidate search.

    Model selection is not what these tests check, and it is most of a fit's time.
    """
    quick = FraudTrainConfig(candidates=({"num_leaves": 15, "min_data_in_leaf": 50},), threads=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(fit_fraud.__kwdefaults__, "config", quick)
        yield


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """50 days of simulated traffic and a champion fitted on the same rows, labels shuffled."""
    tx = simulate_transactions(SimulatorConfig(n_customers=50, n_terminals=500, n_days=50, seed=1))
    shuffled = tx.assign(is_fraud=np.random.default_rng(0).permutation(tx["is_fraud"].to_numpy()))
    champion = FRAUD.fit(shuffled, seed=0)
    directory = tmp_path_factory.mktemp("poor-fraud-champion")
    metadata = package_version(FRAUD, champion, shuffled, directory, source="test")
    as_of = tx["timestamp"].max().to_pydatetime() + timedelta(days=46)  # every row matured
    return Scenario(tx, offline_features(tx), champion, directory, metadata, as_of)


def _register_champion(s: Scenario, registry: ModelRegistry, tmp_path: Path) -> ModelVersionInfo:
    return register_packaged(
        FRAUD, registry, s.champion, s.champion_dir, s.champion_metadata, tmp_path, actor="t"
    )


def _inputs(row: Any, features: pd.Series) -> dict[str, Any]:
    body = {f: getattr(row, f) for f in _TX_FIELDS}
    body["amount"] = float(row.amount)
    body["timestamp"] = row.timestamp.isoformat()
    body["features"] = {k: float(v) for k, v in features.items()}
    return body


def _log_traffic(engine: Engine, s: Scenario, version: str) -> None:
    """Log every transaction as served, and a chargeback three days after each fraud."""
    rows, chargebacks = [], []
    for row, (_, feats) in zip(s.transactions.itertuples(), s.features.iterrows(), strict=True):
        when = row.timestamp.to_pydatetime()
        rows.append(
            {
                "request_id": f"fraud:{row.transaction_id}",
                "use_case": "fraud",
                "entity_id": row.transaction_id,
                "model_name": FRAUD.model_name,
                "model_version": version,
                "inputs": _inputs(row, feats),
                "outputs": {},
                "score": 0.5,
                "decision": "approve",
                "latency_ms": 1.0,
                "created_at": when,
            }
        )
        if row.is_fraud:
            chargebacks.append(
                {
                    "use_case": "fraud",
                    "entity_id": row.transaction_id,
                    "label": "chargeback",
                    "source": "chargeback",
                    "observed_at": when + timedelta(days=3),
                }
            )
    with engine.begin() as conn:
        conn.execute(insert(inference_log), rows)
        conn.execute(insert(labels), chargebacks)


def _audit(engine: Engine, prefix: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(
            select(audit_log).where(audit_log.c.action.startswith(prefix)).order_by(audit_log.c.id)
        )
        return [dict(r) for r in found.mappings()]


def test_better_challenger_is_promoted_and_worse_one_refused(
    scenario: Scenario, engine: Engine, registry: ModelRegistry, tmp_path: Path
) -> None:
    champion = _register_champion(scenario, registry, tmp_path)
    _log_traffic(engine, scenario, champion.version)

    won = retrain(engine, registry, FRAUD, as_of=scenario.as_of, actor="tester", trigger="drift")

    assert won.promoted, (won.reason, won.metrics, won.gates)
    assert (won.champion_version, won.challenger_version) == ("1", "2")
    assert registry.alias_version(FRAUD.model_name, "champion") == "2"
    assert registry.alias_version(FRAUD.model_name, "challenger") is None  # it is champion now
    n = len(scenario.transactions)
    assert won.sizes["logged"] == won.sizes["known_outcome"] == n
    assert won.sizes["holdout"] == won.sizes["holdout_scored"] == int(np.ceil(0.2 * n))
    new, old = won.metrics["challenger"], won.metrics["champion"]
    assert new["rows"] == old["rows"] == won.sizes["holdout"]
    assert new["roc_auc"] is not None
    assert old["roc_auc"] is not None
    assert new["roc_auc"] > old["roc_auc"] + 0.15
    assert all(g.passed for g in won.gates)
    # The challenger's AUC is the one scikit-learn gives on the newest 20% of the traffic,
    # scored from the features each transaction was served with.
    holdout = scenario.transactions.tail(won.sizes["holdout"])
    loaded = load_verified(FRAUD, registry, "2")
    model: Any = loaded.model
    x = scenario.features.loc[holdout.index, model.feature_names].to_numpy()
    expected = roc_auc_score(holdout["is_fraud"], model.booster.proba(x))
    assert new["roc_auc"] == pytest.approx(expected, abs=1e-12)
    promoted = _audit(engine, "retrain.")
    assert [r["action"] for r in promoted] == ["retrain.promoted"]
    assert (promoted[0]["target"], promoted[0]["actor"]) == (FRAUD.model_name, "tester")
    assert (promoted[0]["from_version"], promoted[0]["to_version"]) == ("1", "2")
    details = promoted[0]["details"]
    assert details["trigger"] == "drift"
    assert details["metrics"]["challenger"]["roc_auc"] == pytest.approx(new["roc_auc"])
    assert details["metrics"]["champion"]["roc_auc"] == pytest.approx(old["roc_auc"])
    assert {g["name"] for g in details["gates"]} == {"auc_gain", "calibration"}

    # A challenger trained on shuffled labels ranks at chance: refused, champion unchanged.
    start = pd.Timestamp(won.window["holdout_start"])
    poor = scenario.transactions[scenario.transactions["timestamp"] < start]
    poor = poor.assign(is_fraud=np.random.default_rng(1).permutation(poor["is_fraud"].to_numpy()))
    lost = retrain(engine, registry, FRAUD, as_of=scenario.as_of, data=poor, actor="tester")

    assert not lost.promoted
    assert (lost.champion_version, lost.challenger_version) == ("2", "3")
    assert registry.alias_version(FRAUD.model_name, "champion") == "2"
    assert registry.alias_version(FRAUD.model_name, "challenger") == "3"  # keeps shadowing
    gain = next(g for g in lost.gates if g.name == "auc_gain")
    assert not gain.passed
    assert gain.value is not None
    assert gain.value < 0
    assert "auc_gain" in lost.reason
    assert lost.metrics["champion"]["roc_auc"] == pytest.approx(new["roc_auc"], abs=1e-12)
    assert lost.sizes["training"] == len(poor)
    rows = _audit(engine, "retrain.")
    assert [r["action"] for r in rows] == ["retrain.promoted", "retrain.refused"]
    refused = rows[1]
    assert (refused["from_version"], refused["to_version"]) == ("2", "3")
    assert refused["details"]["trigger"] == "manual"
    failing = [g["name"] for g in refused["details"]["gates"] if not g["passed"]]
    assert "auc_gain" in failing


def test_no_labelled_window_is_refused_never_promoted_blind(
    toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine, registry: ModelRegistry
) -> None:
    data = toy.builtin_data(size="tiny", seed=5)
    outcome = retrain(engine, registry, toy, data=data, actor="tester")

    assert not outcome.promoted
    assert "never promote blind" in outcome.reason
    assert (outcome.champion_version, outcome.challenger_version) == ("1", "2")
    assert registry.alias_version(toy.model_name, "champion") == "1"
    assert registry.alias_version(toy.model_name, "challenger") == "2"
    rows = _audit(engine, "retrain.")
    assert [(r["action"], r["to_version"]) for r in rows] == [("retrain.refused", "2")]
    assert rows[0]["details"]["sizes"] == {
        "logged": 0,
        "known_outcome": 0,
        "holdout": 0,
        "training": 300,
    }


def test_use_case_without_log_rebuild_needs_data(
    toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine, registry: ModelRegistry
) -> None:
    with pytest.raises(CannotRebuildError, match="--data FILE"):
        retrain(engine, registry, toy, actor="tester")
    assert _audit(engine, "retrain.") == []


def test_young_unlabelled_traffic_is_not_training_data(
    engine: Engine, registry: ModelRegistry
) -> None:
    """Nothing known yet (no label, younger than the maturity): refused before any fit."""
    now = datetime(2026, 6, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(inference_log),
            [
                {
                    "request_id": f"r{i}",
                    "use_case": "fraud",
                    "entity_id": f"tx{i}",
                    "model_name": FRAUD.model_name,
                    "model_version": "1",
                    "inputs": {"transaction_id": f"tx{i}", "amount": 1.0},
                    "outputs": {},
                    "latency_ms": 1.0,
                    "created_at": now - timedelta(days=i + 1),
                }
                for i in range(5)
            ],
        )
    outcome = retrain(engine, registry, FRAUD, as_of=now, actor="tester")
    assert not outcome.promoted
    assert outcome.challenger_version is None
    assert outcome.reason.startswith("no training data")
    assert [r["action"] for r in _audit(engine, "retrain.")] == ["retrain.refused"]


# ---------------------------------------------------------------------------- the rebuilds
def _logged(inputs: list[dict[str, Any]], label: list[str | None], days_old: list[float]) -> Any:
    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    frame = pd.DataFrame(
        {
            "inputs": inputs,
            "created_at": [as_of - timedelta(days=d) for d in days_old],
            "entity_id": [str(i) for i in range(len(inputs))],
            "label": pd.Series(label, dtype=object),
        }
    )
    frame.attrs["as_of"] = as_of
    return frame


def test_fraud_training_set_applies_the_label_maturity() -> None:
    def tx(i: int, ts: str) -> dict[str, Any]:
        return {
            "transaction_id": f"t{i}",
            "card_id": "c",
            "terminal_id": "m",
            "amount": i,
            "currency": "EUR",
            "timestamp": ts,
            "features": {"amount": float(i)},
        }

    logged = _logged(
        [
            tx(0, "2026-03-01T00:00:00Z"),
            tx(1, "2026-03-02T00:00:00Z"),
            tx(2, "2026-05-20T00:00:00Z"),
            tx(3, "2026-05-25T00:00:00Z"),
            tx(4, "2026-02-01T00:00:00Z"),
        ],
        ["fraud", None, "legit", None, "chargeback"],
        [90, 89, 12, 7, 120],
    )
    table = FRAUD.training_set_from_log(logged)
    # t3 is unlabelled and 7 days old (< 45): unknown, dropped; t1 matured: legitimate.
    assert table["transaction_id"].tolist() == ["t4", "t0", "t1", "t2"]
    assert table["is_fraud"].tolist() == [1, 1, 0, 0]
    assert table["amount"].tolist() == [4.0, 0.0, 1.0, 2.0]
    assert {"card_id", "terminal_id", "timestamp", "currency"} <= set(table.columns)
    assert str(table["timestamp"].dt.tz) == "UTC"


def test_credit_training_set_drops_applicants_without_an_outcome() -> None:
    def app(i: int) -> dict[str, Any]:
        return {
            "applicant_id": f"a{i}",
            "application_date": None,
            "age": 20 + i,
            "annual_income": 1000.0 * (i + 1),
            "purpose": "car" if i % 2 else "home",
            "attributes": {"branch": "north" if i % 3 else "south"},
        }

    n = 240
    outcomes: list[str | None] = [("default" if i % 4 == 0 else "repaid") for i in range(n)]
    outcomes[1], outcomes[2] = None, "current"
    table = CREDIT.training_set_from_log(_logged([app(i) for i in range(n)], outcomes, [1.0] * n))
    assert len(table) == n - 2
    assert "a1" not in set(table["applicant_id"])
    assert "a2" not in set(table["applicant_id"])
    assert table["defaulted"].sum() == n // 4
    assert table.loc[table["applicant_id"] == "a3", "branch"].item() == "south"
    assert table["application_date"].notna().all()


# ---------------------------------------------------------------------------- the gates
def test_gain_gate_is_strict_at_zero_and_calibration_allows_slack() -> None:
    policy = RetrainPolicy()
    tie = _gain_gate({"roc_auc": 0.8, "ece": 0.01}, {"roc_auc": 0.8, "ece": 0.01}, policy)
    assert not tie.passed
    assert tie.value == 0.0
    assert _gain_gate({"roc_auc": 0.81}, {"roc_auc": 0.8}, policy).passed
    margin = RetrainPolicy(min_gain=0.02)
    assert not _gain_gate({"roc_auc": 0.81}, {"roc_auc": 0.8}, margin).passed
    assert _gain_gate({"roc_auc": 0.83}, {"roc_auc": 0.8}, margin).passed
    assert not _gain_gate({"roc_auc": None}, {"roc_auc": 0.8}, policy).passed
    # ECE 0.07 fails the absolute 0.05 bar but is within 0.01 of a champion at 0.065.
    assert _calibration_gate({"ece": 0.07}, {"ece": 0.065}, policy).passed
    worse = _calibration_gate({"ece": 0.08}, {"ece": 0.065}, policy)
    assert not worse.passed
    assert worse.threshold == pytest.approx(0.075)
    assert _calibration_gate({"ece": 0.04}, None, policy).passed


def test_fairness_gate_uses_the_four_fifths_bound() -> None:
    policy = RetrainPolicy()

    def manifest(ratio: float | None) -> dict[str, Any]:
        return {"reports": {"fairness": {"adverse_impact_ratio": ratio}}}

    assert _fairness_gate(manifest(0.85), policy).passed
    assert _fairness_gate(manifest(0.8 - 1e-15), policy).passed  # 4/5 on paper
    assert not _fairness_gate(manifest(0.7), policy).passed
    unknown = _fairness_gate({}, policy)
    assert unknown.passed
    assert unknown.value is None
    assert "not assessed" in unknown.note
    assert not _fairness_gate({}, RetrainPolicy(require_fairness=True)).passed
