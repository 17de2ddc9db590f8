"""Fit and evaluate fraud models with the handbook's protocol: train, delay, test, by time.

Rows are split ``[burn-in | fit | valid | delay | test]``: the burn-in lets 30-day windows fill,
hyper-parameters are chosen by prequential validation (weekly folds moving back in time inside
the training period, each with its own delay gap), the validation slice (the most recent part
of training) drives early stopping and the policy thresholds, the 7-day delay stands for labels
not yet known when the model is deployed, and the test period is only ever scored once, at the
end. A logistic regression on the
same features is reported beside LightGBM, so every number has a baseline.

Class imbalance (under 1% fraud) is handled by the metric, not by reweighting: early stopping
and selection use average precision, and probabilities stay calibrated, which the cost-based
policy needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nexafi_ai.evaluation import binary_metrics, card_precision_at_k, threshold_metrics, time_split
from nexafi_ai.models import FastBooster
from nexafi_ai.monitoring.reference import REFERENCE_KEY, SCORE, freeze_reference
from nexafi_ai.monitoring.window import LoggedColumn
from nexafi_ai.usecases.base import FitResult
from nexafi_ai.usecases.fraud.data import OPTIONAL_FIELDS
from nexafi_ai.usecases.fraud.features import LABEL_DELAY_DAYS, offline_features
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.policy import CostModel, fit_policy, realised_cost

__all__ = ["FraudTrainConfig", "feature_table", "fit_fraud", "has_history"]

log = logging.getLogger(__name__)

#: Columns of a standardised transaction table that are never model inputs.
NON_FEATURES = frozenset(
    {
        "transaction_id",
        "timestamp",
        "card_id",
        "terminal_id",
        "is_fraud",
        "fraud_scenario",
        "customer_index",
        "terminal_index",
        "day",
        "currency",
        "mcc",
        "channel",
        "country",
        "card_country",
        "merchant_name",
    }
)


@dataclass(frozen=True, slots=True)
class FraudTrainConfig:
    """Training knobs; the defaults suit both the simulator and typical card exports."""

    learning_rate: float = 0.05
    max_rounds: int = 1000
    early_stopping_rounds: int = 50
    candidates: Sequence[Mapping[str, Any]] = field(
        default_factory=lambda: (
            {"num_leaves": 31, "min_data_in_leaf": 100},
            {"num_leaves": 63, "min_data_in_leaf": 50},
        )
    )
    burn_in_days: int = 30
    #: Prequential model selection: folds, and each fold's training and validation length.
    selection_folds: int = 3
    selection_train_days: int = 28
    selection_valid_days: int = 7
    test_days: int = 28
    valid_days: int = 14
    threads: int = 0
    costs: CostModel = field(default_factory=CostModel)


def has_history(data: pd.DataFrame) -> bool:
    """Whether the table has the card, terminal and amount columns windowed features need."""
    return {"card_id", "terminal_id", "amount"} <= set(data.columns)


def feature_table(data: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The model inputs of a standardised table and the mode they imply.

    With card and terminal columns: the windowed features ("windows"). Without: every numeric
    column except ids, labels and time ("columns"), as in anonymised bank exports.
    """
    if has_history(data):
        return offline_features(data), "windows"
    numeric = [
        c for c in data.columns if c not in NON_FEATURES and pd.api.types.is_numeric_dtype(data[c])
    ]
    if not numeric:
        raise ValueError("no card/terminal columns and no numeric feature columns to learn from")
    return data[numeric].astype(float), "columns"


def _params(config: FraudTrainConfig, candidate: Mapping[str, Any], seed: int) -> dict[str, Any]:
    return {
        "objective": "binary",
        "learning_rate": config.learning_rate,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "metric": "average_precision",
        "seed": seed,
        "deterministic": True,
        "num_threads": config.threads,
        "verbosity": -1,
        **candidate,
    }


def _fit_booster(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    names: list[str],
    params: dict[str, Any],
    config: FraudTrainConfig,
) -> lgb.Booster:
    train = lgb.Dataset(x_fit, y_fit, feature_name=names, free_raw_data=True)
    valid = lgb.Dataset(x_valid, y_valid, reference=train)
    return lgb.train(
        params,
        train,
        num_boost_round=config.max_rounds,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )


def _baseline(x_fit: np.ndarray, y_fit: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(max_iter=1000, random_state=seed),
    )
    model.fit(x_fit, y_fit)
    return np.asarray(model.predict_proba(x_test)[:, 1])


def _day_numbers(timestamps: pd.Series) -> np.ndarray:
    return np.asarray(pd.to_datetime(timestamps, utc=True).astype("int64") // 86_400_000_000_000)


def prequential_folds(
    days: np.ndarray, training: np.ndarray, config: FraudTrainConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) masks moving back in time inside the training period.

    Each fold trains on ``selection_train_days``, skips the label delay, and validates on the
    next ``selection_valid_days``, as a model retrained every week would be judged. Folds
    without fraud in both parts are dropped.
    """
    if not training.any():
        return []
    end = int(days[training].max()) + 1
    folds = []
    for k in range(config.selection_folds):
        valid_end = end - k * config.selection_valid_days
        valid_start = valid_end - config.selection_valid_days
        fit_end = valid_start - LABEL_DELAY_DAYS
        fit_start = fit_end - config.selection_train_days
        fit = training & (days >= fit_start) & (days < fit_end)
        valid = training & (days >= valid_start) & (days < valid_end)
        if fit.any() and valid.any():
            folds.append((fit, valid))
    return folds


def _select(
    x: np.ndarray,
    y: np.ndarray,
    days: np.ndarray,
    training: np.ndarray,
    names: list[str],
    config: FraudTrainConfig,
    seed: int,
) -> list[tuple[float, Mapping[str, Any]]]:
    """Mean prequential average precision of every candidate (empty: too little history)."""
    folds = [
        (f, v) for f, v in prequential_folds(days, training, config) if y[f].any() and y[v].any()
    ]
    if len(config.candidates) < 2 or not folds:
        return []
    results = []
    for candidate in config.candidates:
        params = _params(config, candidate, seed)
        scores = []
        for fit, valid in folds:
            booster = _fit_booster(x[fit], y[fit], x[valid], y[valid], names, params, config)
            scores.append(binary_metrics(y[valid], booster.predict(x[valid]))["average_precision"])
        log.info("candidate %s: prequential AP %s", dict(candidate), np.round(scores, 4))
        results.append((float(np.mean(scores)), candidate))
    return results


#: Request fields monitored for drift beside the model's features (logged as ``inputs.<field>``).
MONITORED_FIELDS = OPTIONAL_FIELDS


def drift_reference(
    rows: pd.DataFrame, features: pd.DataFrame, proba: np.ndarray, seed: int
) -> dict[str, Any]:
    """The test period's features, request fields and scores, as the fraud route logs them."""
    columns = {name: LoggedColumn(("inputs", "features", name)) for name in features.columns}
    frame = features.reset_index(drop=True).copy()
    for request_field in MONITORED_FIELDS:
        if request_field in rows and rows[request_field].notna().any():
            columns[request_field] = LoggedColumn(("inputs", request_field), "categorical")
            frame[request_field] = rows[request_field].to_numpy()
    columns["score"] = SCORE
    frame["score"] = proba
    return freeze_reference(frame, columns, seed=seed)


def fit_fraud(
    data: pd.DataFrame, *, seed: int = 0, config: FraudTrainConfig | None = None
) -> FitResult:
    """Fit LightGBM (chosen on validation) and a logistic baseline; evaluate on the test period."""
    config = config or FraudTrainConfig()
    started = time.perf_counter()
    features, mode = feature_table(data)
    names = list(features.columns)
    split = time_split(
        data["timestamp"],
        burn_in_days=config.burn_in_days if mode == "windows" else 0,
        delay_days=LABEL_DELAY_DAYS,
        test_days=config.test_days,
        valid_days=config.valid_days,
    )
    x = features.to_numpy(dtype=float)
    y = data["is_fraud"].to_numpy(dtype=int)
    x_fit, y_fit = x[split.fit], y[split.fit]
    x_valid, y_valid = x[split.valid], y[split.valid]
    if y_fit.sum() == 0 or y_valid.sum() == 0:
        raise ValueError("the training or validation period has no positive (fraud) rows")

    days = _day_numbers(data["timestamp"])
    selection = _select(x, y, days, split.fit | split.valid, names, config, seed)
    chosen = max(selection, key=lambda s: s[0])[1] if selection else config.candidates[0]
    booster = _fit_booster(
        x_fit, y_fit, x_valid, y_valid, names, _params(config, chosen, seed), config
    )
    fast = FastBooster(booster)
    valid_proba = fast.proba(x_valid)
    valid_ap = binary_metrics(y_valid, valid_proba)["average_precision"]
    amounts = data["amount"].to_numpy(dtype=float)
    policy, policy_valid = fit_policy(
        valid_proba, y_valid, amounts[split.valid], days[split.valid], config.costs
    )
    model = FraudModel(fast, names, policy, mode=mode)

    test = split.test
    test_proba = fast.proba(x[test])
    base_proba = _baseline(x_fit, y_fit, x[test], seed)
    decisions = policy.decide_many(test_proba, amounts[test])
    metrics: dict[str, float] = {}
    for prefix, proba in (("test", test_proba), ("baseline_test", base_proba)):
        for key, value in binary_metrics(y[test], proba).items():
            metrics[f"{prefix}_{key}"] = value
    if mode == "windows":
        frame = pd.DataFrame(
            {"day": days[test], "card_id": data["card_id"].to_numpy()[test], "is_fraud": y[test]}
        )
        metrics["test_card_precision_at_100"] = card_precision_at_k(frame.assign(proba=test_proba))
        metrics["baseline_test_card_precision_at_100"] = card_precision_at_k(
            frame.assign(proba=base_proba)
        )
    for key, value in threshold_metrics(y[test], decisions != "approve").items():
        metrics[f"test_flagged_{key}"] = value
    for key, value in threshold_metrics(y[test], decisions == "decline").items():
        metrics[f"test_declined_{key}"] = value
    metrics["test_reviews_per_day"] = float(
        (decisions == "review").sum() / max(1, len(np.unique(days[test])))
    )
    metrics["test_policy_cost"] = realised_cost(decisions, y[test], amounts[test], config.costs)
    metrics["test_approve_all_cost"] = realised_cost(
        np.full(int(test.sum()), "approve", dtype=object), y[test], amounts[test], config.costs
    )
    metrics["valid_average_precision"] = valid_ap
    metrics["train_seconds"] = time.perf_counter() - started
    params = {
        "mode": mode,
        "learning_rate": config.learning_rate,
        "best_iteration": booster.best_iteration,
        **{f"lgbm_{k}": v for k, v in chosen.items()},
        "review_at": policy.review_at,
        "decline_at": policy.decline_at,
    }
    metadata = {
        "features": names,
        "mode": mode,
        REFERENCE_KEY: drift_reference(data[test], features[test], test_proba, seed),
        "split": split.describe(),
        "policy": policy.to_json(),
        "policy_validation": policy_valid,
        "selection": [
            {"params": dict(c), "prequential_average_precision": ap} for ap, c in selection
        ],
    }
    return FitResult(model=model, metrics=metrics, params=params, metadata=metadata)
