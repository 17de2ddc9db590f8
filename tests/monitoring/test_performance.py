"""Live performance from labels joined to the inference log, on SQLite and PostgreSQL.

Rows are inserted directly (no model needed); every number is checked against scikit-learn or
the evaluation functions on the same rows, or computed by hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from api_keys import READER, SCORER, with_keys
from fastapi.testclient import TestClient
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sqlalchemy import Engine, insert

from nexafi_ai.db.tables import inference_log, labels
from nexafi_ai.evaluation.classification import expected_calibration_error
from nexafi_ai.evaluation.forecasting import mase
from nexafi_ai.monitoring.performance import METRIC_KEYS, live_performance
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase
from nexafi_ai.usecases.credit import USE_CASE as CREDIT
from nexafi_ai.usecases.forecast import USE_CASE as FORECAST
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.recommend import USE_CASE as RECOMMEND

T0 = datetime(2026, 5, 1, tzinfo=UTC)  # a Friday
AS_OF = datetime(2026, 8, 1, tzinfo=UTC)
TOL = 1e-12


def _row(
    use_case: str,
    request_id: str,
    entity: str | None,
    when: datetime,
    *,
    score: float | None = None,
    decision: str | None = None,
    version: str = "1",
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "use_case": use_case,
        "entity_id": entity,
        "model_name": f"nexafi-{use_case}",
        "model_version": version,
        "inputs": inputs or {},
        "outputs": outputs or {},
        "score": score,
        "decision": decision,
        "latency_ms": 1.0,
        "created_at": when,
    }


def _label(
    use_case: str, entity: str, label: str, when: datetime, source: str = "chargeback"
) -> dict[str, Any]:
    return {
        "use_case": use_case,
        "entity_id": entity,
        "label": label,
        "source": source,
        "observed_at": when,
    }


def _insert(engine: Engine, rows: list[dict[str, Any]], marks: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(inference_log), rows)
        if marks:
            conn.execute(insert(labels), marks)


# -- classification ----------------------------------------------------------------------------


def _fraud_traffic(engine: Engine, n: int = 60, seed: int = 7) -> dict[str, np.ndarray]:
    """``n`` scored transactions over three days, each labelled a day later (one unreadable)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.35 * y + 0.65 * rng.random(n), 0.0, 1.0)
    decisions = np.where(p >= 0.8, "decline", np.where(p >= 0.5, "review", "approve"))
    version = np.where(np.arange(n) < n // 2, "1", "2")
    rows, marks = [], []
    for i in range(n):
        when = T0 + timedelta(hours=i * 72 / n)
        rows.append(
            _row(
                "fraud",
                f"r{i}",
                f"tx{i}",
                when,
                score=float(p[i]),
                decision=str(decisions[i]),
                version=str(version[i]),
            )
        )
        text = ("fraud" if i % 2 else "chargeback") if y[i] else ("legit" if i % 2 else "0")
        marks.append(_label("fraud", f"tx{i}", text, when + timedelta(days=1)))
    # An unreadable verdict: counted, never graded.
    rows.append(_row("fraud", "odd", "tx-odd", T0, score=0.5, decision="review"))
    marks.append(_label("fraud", "tx-odd", "maybe", T0 + timedelta(days=1), "analyst"))
    _insert(engine, rows, marks)
    return {"y": y, "p": p, "flagged": (decisions != "approve").astype(int), "version": version}


def _sklearn(y: np.ndarray, p: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    return {
        "auc": roc_auc_score(y, p),
        "average_precision": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "precision": precision_score(y, flagged),
        "recall": recall_score(y, flagged),
    }


def test_classification_metrics_equal_sklearn_on_the_same_rows(engine: Engine) -> None:
    truth = _fraud_traffic(engine)
    got = live_performance(engine, FRAUD, as_of=AS_OF, bucket=None)
    assert got["kind"] == "classification"
    assert got["n_labelled"] == 61
    overall = got["overall"]
    assert set(overall) == set(METRIC_KEYS["classification"])
    y, p, flagged = truth["y"], truth["p"], truth["flagged"]
    for key, expected in _sklearn(y, p, flagged).items():
        assert overall[key] == pytest.approx(expected, abs=TOL), key
    assert overall["ece"] == pytest.approx(expected_calibration_error(y, p), abs=TOL)
    assert overall["n"] == 60
    assert overall["positives"] == int(y.sum())
    assert overall["positive_rate"] == pytest.approx(y.mean(), abs=TOL)
    assert overall["flag_rate"] == pytest.approx(flagged.mean(), abs=TOL)
    assert overall["unreadable_labels"] == 1
    assert overall["threshold"] == "decision != approve"
    assert got["windows"] == []
    json.dumps(got, allow_nan=False)  # plain JSON: no NaN, no numpy types

    assert list(got["by_version"]) == ["1", "2"]
    for version, metrics in got["by_version"].items():
        mask = truth["version"] == version
        for key, expected in _sklearn(y[mask], p[mask], flagged[mask]).items():
            assert metrics[key] == pytest.approx(expected, abs=TOL), (version, key)


def test_credit_reads_lenders_words_and_one_class_gives_null_auc(engine: Engine) -> None:
    rows = [
        _row("credit", "c1", "a1", T0, score=0.7, decision="decline"),
        _row("credit", "c2", "a2", T0, score=0.2, decision="approve"),
        _row("credit", "c3", "a3", T0, score=0.1, decision="approve"),
    ]
    later = T0 + timedelta(days=90)
    marks = [
        _label("credit", "a1", "Charged_Off", later, "repayment"),
        _label("credit", "a2", "current", later, "repayment"),  # still running: no outcome
        _label("credit", "a3", "Fully Paid", later, "repayment"),
    ]
    _insert(engine, rows, marks)
    overall = live_performance(engine, CREDIT, as_of=AS_OF)["overall"]
    assert (overall["n"], overall["positives"], overall["unreadable_labels"]) == (2, 1, 1)
    assert overall["auc"] == 1.0
    assert (overall["precision"], overall["recall"]) == (1.0, 1.0)
    empty = live_performance(engine, CREDIT, as_of=T0 + timedelta(days=1))
    assert empty["n_labelled"] == 0
    assert empty["overall"]["n"] == 0
    assert empty["overall"]["auc"] is None
    assert empty["overall"]["precision"] is None
    assert empty["by_version"] == {}
    assert empty["windows"] == []


def test_maturity_counts_old_unlabelled_inferences_as_negatives(engine: Engine) -> None:
    old, recent = AS_OF - timedelta(days=60), AS_OF - timedelta(days=10)
    rows = [
        _row("fraud", "f1", "fraud-1", old, score=0.9, decision="decline"),
        _row("fraud", "f2", "quiet-old", old, score=0.6, decision="review"),  # matured: legit
        _row("fraud", "f3", "quiet-old-2", old, score=0.1, decision="approve"),  # matured: legit
        _row("fraud", "f4", "quiet-new", recent, score=0.8, decision="decline"),  # too young
        _row("fraud", "f5", "odd", old, score=0.4, decision="approve"),  # unreadable: not legit
        _row("fraud", "f6", "late", old, score=0.3, decision="approve"),  # label after as_of
    ]
    marks = [
        _label("fraud", "fraud-1", "chargeback", old + timedelta(days=20)),
        _label("fraud", "odd", "unsure", old + timedelta(days=2), "analyst"),
        _label("fraud", "late", "fraud", AS_OF + timedelta(days=1)),
    ]
    _insert(engine, rows, marks)

    plain = live_performance(engine, FRAUD, as_of=AS_OF)
    assert plain["overall"]["n"] == 1
    assert plain["overall"]["auc"] is None  # one class only

    matured = live_performance(engine, FRAUD, as_of=AS_OF, maturity_days=45)
    overall = matured["overall"]
    assert matured["n_labelled"] == 2
    # fraud-1 (positive), quiet-old, quiet-old-2 and late (no label known at as_of) negatives.
    assert (overall["n"], overall["positives"], overall["unreadable_labels"]) == (4, 1, 1)
    y, p = np.array([1, 0, 0, 0]), np.array([0.9, 0.6, 0.1, 0.3])
    flagged = np.array([1, 1, 0, 0])
    for key, expected in _sklearn(y, p, flagged).items():
        assert overall[key] == pytest.approx(expected, abs=TOL), key

    # With a later as_of, "late" has its fraud label, so it is a positive, not a negative.
    after = live_performance(engine, FRAUD, as_of=AS_OF + timedelta(days=2), maturity_days=45)
    assert (after["overall"]["n"], after["overall"]["positives"]) == (4, 2)


def test_as_of_hides_labels_observed_later(engine: Engine) -> None:
    rows = [
        _row("fraud", "a", "tx-a", T0, score=0.9, decision="decline"),
        _row("fraud", "b", "tx-b", T0, score=0.2, decision="approve"),
    ]
    marks = [
        _label("fraud", "tx-a", "fraud", T0 + timedelta(days=2)),
        _label("fraud", "tx-b", "legit", T0 + timedelta(days=5), "analyst"),
    ]
    _insert(engine, rows, marks)
    early = live_performance(engine, FRAUD, as_of=T0 + timedelta(days=3))
    assert early["n_labelled"] == 1
    assert (early["overall"]["n"], early["overall"]["positives"]) == (1, 1)
    assert early["as_of"] == "2026-05-04T00:00:00+00:00"
    late = live_performance(engine, FRAUD, as_of=T0 + timedelta(days=6))
    assert late["n_labelled"] == 2
    assert late["overall"]["auc"] == 1.0


def test_buckets_split_by_inference_day_week_and_month(engine: Engine) -> None:
    # Thu 30 Apr, Fri 1 May (twice), Mon 4 May: two ISO weeks, two months, three days.
    stamps = [
        datetime(2026, 4, 30, 23, 59, tzinfo=UTC),
        datetime(2026, 5, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 18, 0, tzinfo=UTC),
        datetime(2026, 5, 4, 9, 0, tzinfo=UTC),
    ]
    rows = [
        _row("fraud", f"r{i}", f"tx{i}", when, score=0.1 * (i + 1), decision="approve")
        for i, when in enumerate(stamps)
    ]
    marks = [_label("fraud", f"tx{i}", str(i % 2), AS_OF - timedelta(days=1)) for i in range(4)]
    _insert(engine, rows, marks)

    def split(bucket: Any) -> list[tuple[str, str, int]]:
        got = live_performance(engine, FRAUD, as_of=AS_OF, bucket=bucket)
        return [(w["start"][:10], w["end"][:10], w["n"]) for w in got["windows"]]

    assert split("day") == [
        ("2026-04-30", "2026-05-01", 1),
        ("2026-05-01", "2026-05-02", 2),
        ("2026-05-04", "2026-05-05", 1),
    ]
    assert split("week") == [("2026-04-27", "2026-05-04", 3), ("2026-05-04", "2026-05-11", 1)]
    assert split("month") == [("2026-04-01", "2026-05-01", 1), ("2026-05-01", "2026-06-01", 3)]
    window = live_performance(engine, FRAUD, as_of=AS_OF, bucket="day")["windows"][1]
    assert window["start"] == "2026-05-01T00:00:00+00:00"
    assert window["auc"] == 0.0  # the fraud scored 0.2, the legitimate one 0.3
    ranged = live_performance(
        engine, FRAUD, as_of=AS_OF, start=stamps[1], end=stamps[3], bucket="month"
    )
    assert ranged["overall"]["n"] == 2
    with pytest.raises(ValueError, match="start"):
        live_performance(engine, FRAUD, start=datetime(2026, 5, 1))


# -- ranking -----------------------------------------------------------------------------------


def _listing(products: list[str], k: int) -> dict[str, Any]:
    items = [
        {"product_id": pid, "score": 1.0 - r / 10, "rank": r + 1} for r, pid in enumerate(products)
    ]
    return {"user_id": "u", "strategy": "hybrid", "k": k, "items": items[::-1]}  # any order


def test_ranking_metrics_on_a_hand_computed_example(engine: Engine) -> None:
    rows = [
        _row("recommend", "q1", "u1", T0, outputs=_listing(["a", "b", "c"], 3), decision="hybrid"),
        _row("recommend", "q2", "u2", T0, outputs=_listing(["c", "a", "d"], 3)),
        _row("recommend", "q3", "u3", T0, outputs=_listing(["d", "e"], 3)),  # shorter than k
        _row("recommend", "q4", "u4", T0, outputs=_listing(["a"], 3)),  # never took anything
    ]
    took = T0 + timedelta(days=3)
    marks = [
        _label("recommend", "u1", "b", took, "apply"),
        _label("recommend", "u2", "x", took, "apply"),
        _label("recommend", "u3", "d", took, "apply"),
    ]
    _insert(engine, rows, marks)
    got = live_performance(engine, RECOMMEND, as_of=AS_OF)
    assert got["kind"] == "ranking"
    assert got["n_labelled"] == 3
    overall = got["overall"]
    assert set(overall) == set(METRIC_KEYS["ranking"])
    # u1: hit at rank 2; u2: miss; u3: hit at rank 1 (a 2-item list padded to k = 3).
    assert overall["n"] == 3
    assert overall["k"] == 3
    assert overall["hit_rate"] == pytest.approx(2 / 3, abs=TOL)
    assert overall["precision_at_k"] == pytest.approx((1 / 3 + 0 + 1 / 3) / 3, abs=TOL)
    assert overall["recall_at_k"] == pytest.approx(2 / 3, abs=TOL)
    assert overall["ndcg_at_k"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3, abs=TOL)
    assert overall["mrr"] == pytest.approx((1 / 2 + 0 + 1) / 3, abs=TOL)
    assert got["windows"][0]["n"] == 3


# -- forecast ----------------------------------------------------------------------------------


def _day(i: int) -> datetime:
    return T0 + timedelta(days=i)


def _points(values: dict[int, float]) -> list[dict[str, Any]]:
    return [
        {"timestamp": _day(d).isoformat().replace("+00:00", "Z"), "value": v}
        for d, v in values.items()
    ]


def _steps(means: dict[int, float], width80: float, width95: float) -> dict[str, Any]:
    forecasts = [
        {
            "timestamp": _day(d).isoformat(),
            "mean": m,
            "lower": {"80": m - width80, "95": m - width95},
            "upper": {"80": m + width80, "95": m + width95},
        }
        for d, m in means.items()
    ]
    return {"symbol": "ACME", "model": "theta", "horizon": len(means), "forecasts": forecasts}


def test_forecast_mase_mae_and_coverage_from_later_series(engine: Engine) -> None:
    history = {0: 100.0, 1: 102.0, 2: 101.0, 3: 104.0}
    market = {**history, 4: 105.0, 5: 103.0, 6: 108.0}
    rows = [
        # A forecast that saw a series: MASE is scaled by that history.
        _row(
            "forecast",
            "f1",
            "ACME",
            _day(3) + timedelta(hours=20),
            version="1",
            inputs={"series": _points(history), "horizon": 2},
            outputs=_steps({4: 104.5, 5: 106.0}, 1.0, 4.0),
        ),
        # A stored-symbol forecast: no series seen, scaled by the later series before day 5.
        _row(
            "forecast",
            "f2",
            "ACME",
            _day(4) + timedelta(hours=20),
            version="2",
            inputs={"symbol": "ACME", "horizon": 3},
            outputs=_steps({5: 104.0, 6: 105.0, 7: 106.0}, 0.5, 2.0),
        ),
        # A trend answer has no forecasts; another symbol's forecast is never realised.
        _row("forecast", "t1", "ACME", _day(5), outputs={"probability_up": 0.6}),
        _row("forecast", "f3", "OTHER", _day(5), outputs=_steps({6: 10.0}, 1.0, 2.0)),
        # The market data sent later (day 7 never arrives); a copy sent even later with a
        # re-adjusted day 5 is ignored: the earliest report of a price wins.
        _row(
            "forecast",
            "s1",
            "ACME",
            _day(6) + timedelta(hours=20),
            inputs={"series": _points(market)},
        ),
        _row("forecast", "s2", "ACME", _day(7), inputs={"series": _points({5: 51.5})}),
    ]
    _insert(engine, rows, [])
    got = live_performance(engine, FORECAST, as_of=AS_OF)
    assert got["kind"] == "forecast"
    assert got["n_labelled"] == 2
    overall = got["overall"]
    assert set(overall) == set(METRIC_KEYS["forecast"])
    mase_1 = mase([105.0, 103.0], [104.5, 106.0], y_train=list(history.values()))
    mase_2 = mase([103.0, 108.0], [104.0, 105.0], y_train=[market[d] for d in range(5)])
    assert overall["n_forecasts"] == 2
    assert overall["n_points"] == 4
    assert overall["mase"] == pytest.approx((mase_1 + mase_2) / 2, abs=TOL)
    assert overall["mae"] == pytest.approx((0.5 + 3.0 + 1.0 + 3.0) / 4, abs=TOL)
    assert overall["coverage_80"] == pytest.approx(1 / 4, abs=TOL)
    assert overall["coverage_95"] == pytest.approx(3 / 4, abs=TOL)
    assert got["by_version"]["1"]["mase"] == pytest.approx(mase_1, abs=TOL)
    assert got["by_version"]["2"]["mase"] == pytest.approx(mase_2, abs=TOL)
    assert [w["n_forecasts"] for w in got["windows"]] == [1, 1]
    json.dumps(got, allow_nan=False)

    # as_of before the market data arrived: nothing is realised yet.
    early = live_performance(engine, FORECAST, as_of=_day(6))
    assert early["n_labelled"] == 0
    assert early["overall"]["mase"] is None


# -- API ---------------------------------------------------------------------------------------


@pytest.fixture
def client(settings: Settings, toy: UseCase) -> Iterator[TestClient]:
    app = create_app(with_keys(settings), use_cases={toy.name: toy})
    with TestClient(app, headers={"X-API-Key": READER}) as c:
        yield c


def test_performance_route(client: TestClient, engine: Engine) -> None:
    url = "/v1/monitoring/fraud/performance"
    empty = client.get(url)
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["n_labelled"] == 0
    assert body["overall"]["auc"] is None

    truth = _fraud_traffic(engine)
    old = datetime.now(UTC) - timedelta(days=400)
    _insert(engine, [_row("fraud", "old", "tx-old", old, score=0.05, decision="approve")], [])
    got = client.get(url, params={"start": "2026-04-01T00:00:00Z", "bucket": "day"})
    assert got.status_code == 200, got.text
    body = got.json()
    expected = _sklearn(truth["y"], truth["p"], truth["flagged"])
    assert body["overall"]["auc"] == pytest.approx(expected["auc"], abs=TOL)
    assert body["start"] == "2026-04-01T00:00:00+00:00"
    assert [w["start"][:10] for w in body["windows"]] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    # The fraud default maturity (45 days) reaches tx-old only when it is inside the window.
    everything = client.get(url, params={"bucket": "none"}).json()
    assert everything["overall"]["n"] == 61
    assert everything["windows"] == []
    young = client.get(url, params={"bucket": "none", "maturity_days": 500}).json()
    assert young["overall"]["n"] == 60

    missing = client.get("/v1/monitoring/nope/performance")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "use_case"
    naive = client.get(url, params={"start": "2026-04-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["error"]["field"] == "start"
    backwards = client.get(
        url, params={"start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "end"
    assert client.get(url, headers={"X-API-Key": SCORER}).status_code == 403


def test_label_words_of_fraud_and_credit() -> None:
    assert [FRAUD.label_value(t) for t in ("Fraud", "chargeback", "1", "legit", " 0 ")] == [
        1.0,
        1.0,
        1.0,
        0.0,
        0.0,
    ]
    assert [CREDIT.label_value(t) for t in ("default", "Charged Off", "1", "repaid", "0")] == [
        1.0,
        1.0,
        1.0,
        0.0,
        0.0,
    ]
    for use_case, text in ((FRAUD, "maybe"), (CREDIT, "Current"), (CREDIT, "late")):
        with pytest.raises(ValueError, match="outcome"):
            use_case.label_value(text)


def test_challenger_in_shadow_is_graded_beside_the_champion_on_the_same_rows(
    engine: Engine,
) -> None:
    rng = np.random.default_rng(3)
    n = 80
    y = (rng.random(n) < 0.3).astype(int)
    champion = np.clip(0.2 * y + 0.8 * rng.random(n), 0, 1)
    challenger = np.clip(0.5 * y + 0.5 * rng.random(n), 0, 1)
    rows, marks = [], []
    for i in range(n):
        when = T0 + timedelta(hours=i)
        row = _row("fraud", f"s{i}", f"st{i}", when, score=float(champion[i]), decision="approve")
        # The challenger was only loaded after the first ten requests.
        row["shadow"] = None
        if i >= 10:
            row["shadow"] = {
                "model_version": "7",
                "score": float(challenger[i]),
                "decision": "decline" if challenger[i] > 0.6 else "approve",
            }
        rows.append(row)
        marks.append(_label("fraud", f"st{i}", "fraud" if y[i] else "legit", when + timedelta(1)))
    _insert(engine, rows, marks)
    got = live_performance(engine, FRAUD, as_of=AS_OF, bucket=None)
    assert list(got["shadow"]) == ["7"]
    duel = got["shadow"]["7"]
    assert duel["n"] == n - 10
    assert duel["champion_versions"] == ["1"]
    both = slice(10, n)
    assert duel["champion"]["auc"] == pytest.approx(roc_auc_score(y[both], champion[both]), abs=TOL)
    assert duel["challenger"]["auc"] == pytest.approx(
        roc_auc_score(y[both], challenger[both]), abs=TOL
    )
    flagged = (challenger[both] > 0.6).astype(int)
    assert duel["challenger"]["recall"] == pytest.approx(recall_score(y[both], flagged), abs=TOL)
    assert got["overall"]["n"] == n  # the champion's own numbers still cover every row
    json.dumps(got, allow_nan=False)
