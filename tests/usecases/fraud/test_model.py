"""The fitted fraud model: reasons add up, batch equals real time, save/load, metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nexafi_ai.features import InMemoryFeatureStore
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD
from nexafi_ai.usecases.fraud.features import WINDOWS
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.schemas import TransactionIn


def _requests(frame: pd.DataFrame) -> list[TransactionIn]:
    return [
        TransactionIn(
            transaction_id=r.transaction_id,
            card_id=r.card_id,
            terminal_id=r.terminal_id,
            amount=r.amount,
            timestamp=r.timestamp.to_pydatetime(),
        )
        for r in frame.itertuples()
    ]


def test_contributions_plus_bias_equal_the_raw_margin(fraud_packaged) -> None:
    model = fraud_packaged.result.model
    assert isinstance(model, FraudModel)
    x = model.feature_frame(fraud_packaged.data.tail(500)).to_numpy()
    contrib = model.booster.contrib(x)
    raw = model.booster.raw(x)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, rtol=0, atol=1e-9)
    for row in x[:50]:
        one = model.booster.contrib_one(list(row))
        assert math.isclose(math.fsum(one), model.booster.raw_one(list(row)), abs_tol=1e-9)


def test_real_time_scores_equal_batch_scores(fraud_packaged) -> None:
    """Replaying a day of transactions through the online store gives the batch answers."""
    model = fraud_packaged.result.model
    data = fraud_packaged.data
    batch = model.score_frame(data)
    store = InMemoryFeatureStore(WINDOWS)
    labels = dict(zip(data["transaction_id"], data["is_fraud"], strict=True))
    last_day = data["day"].max()
    checked = 0
    for request, index in zip(_requests(data), data.index, strict=True):
        row = model.feature_row(request, store)
        store.record_label(request.transaction_id, int(labels[request.transaction_id]))
        if data.at[index, "day"] < last_day:
            continue
        answer = model.score_row(request, row, "1")
        assert answer.fraud_probability == pytest.approx(
            batch.at[index, "fraud_probability"], abs=1e-12
        )
        assert answer.decision == batch.at[index, "decision"]
        assert ";".join(r.code for r in answer.reasons) == batch.at[index, "reasons"]
        checked += 1
    assert checked > 50


def test_held_out_metrics_are_reported_with_the_baseline(fraud_packaged) -> None:
    metrics = fraud_packaged.result.metrics
    for key in (
        "test_roc_auc",
        "test_average_precision",
        "baseline_test_roc_auc",
        "baseline_test_average_precision",
        "test_card_precision_at_100",
        "test_flagged_precision",
        "test_flagged_recall",
        "test_flagged_f1",
        "test_flagged_tp",
        "test_policy_cost",
    ):
        assert key in metrics, key
    assert metrics["test_roc_auc"] > 0.75
    assert metrics["test_policy_cost"] <= metrics["test_approve_all_cost"]


def test_predict_is_deterministic_after_save_and_load(fraud_packaged, tmp_path) -> None:
    model = fraud_packaged.result.model
    model.save(tmp_path)
    loaded = FRAUD.load(tmp_path)
    requests = _requests(fraud_packaged.data.head(20))
    assert [a.model_dump() for a in model.predict(requests)] == [
        a.model_dump() for a in loaded.predict(requests)
    ]
    assert loaded.policy == model.policy
