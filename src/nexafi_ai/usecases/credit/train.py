"""Training and honest evaluation of both credit models on the same split.

**Split.** With application dates, out of time, as lenders validate: the oldest 70% of
applications fit the models, the next 15% select between them (and stop LightGBM's boosting),
the newest 15% are the test period no model or choice has seen. Without dates, a stratified
random split of the same shares (said so in the metadata).

**Candidates.** A WoE scorecard (optbinning) and LightGBM with monotone constraints. Both are
registered; the one with the higher ROC-AUC on the validation slice is the champion. Each is
also cross-validated over the fit + validation part (forward-chaining folds when dated), so
the registry shows how stable the figure is, not only one split's luck.

**Reports** stored with each version: test-period AUC, Gini, KS, Brier score, expected
calibration error and a calibration table; approval and bad rates at the policy's cutoff; a
fairness report per protected group (approval rate, default rate, AUC, adverse impact ratio
against the four-fifths rule) when the data has a protected attribute, which is never a model
input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold, TimeSeriesSplit, train_test_split

from nexafi_ai.evaluation import calibration_table, credit_metrics, fairness_report
from nexafi_ai.monitoring.reference import REFERENCE_KEY, SCORE, freeze_reference
from nexafi_ai.monitoring.window import LoggedColumn
from nexafi_ai.usecases.base import FitResult, check_options
from nexafi_ai.usecases.credit.catalog import builtin_catalog
from nexafi_ai.usecases.credit.data import NON_FEATURES, TIME, infer_features
from nexafi_ai.usecases.credit.gbm import GbmScorer
from nexafi_ai.usecases.credit.generator import PROTECTED, TARGET
from nexafi_ai.usecases.credit.model import CreditModel, ModelKind
from nexafi_ai.usecases.credit.policy import CreditPolicy
from nexafi_ai.usecases.credit.scaling import FeatureSpec
from nexafi_ai.usecases.credit.schemas import ApplicantIn
from nexafi_ai.usecases.credit.scorecard import Scorecard

__all__ = ["KNOWN_OPTIONS", "fit_credit"]

log = logging.getLogger(__name__)

KNOWN_OPTIONS = (
    "cutoff_pd",
    "bands",
    "base_points",
    "base_odds",
    "pdo",
    "max_reasons",
    "models",
    "cv_folds",
)
_KINDS: tuple[ModelKind, ...] = ("scorecard", "lightgbm")
_FIT, _VALID = 0.70, 0.15
_MIN_ROWS = 200

IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Split:
    """Row positions of the fit, validation and test parts, and how they were cut."""

    fit: IntArray
    valid: IntArray
    test: IntArray
    description: dict[str, Any]


def split_rows(data: pd.DataFrame, seed: int) -> Split:
    """Out of time when ``application_date`` exists, else stratified at random."""
    n = len(data)
    if TIME in data:
        a, b = int(n * _FIT), int(n * (_FIT + _VALID))
        order = np.argsort(data[TIME].to_numpy(), kind="stable")
        parts = (order[:a], order[a:b], order[b:])
        description: dict[str, Any] = {"kind": "out_of_time"}
        for label, part in zip(("fit", "valid", "test"), parts, strict=True):
            dates = data[TIME].iloc[part]
            description[label] = {
                "rows": len(part),
                "from": str(dates.min()),
                "to": str(dates.max()),
            }
        return Split(*parts, description=description)
    y = data[TARGET].to_numpy()
    positions = np.arange(n)
    fit, rest = train_test_split(positions, train_size=_FIT, stratify=y, random_state=seed)
    valid, test = train_test_split(
        rest, train_size=_VALID / (1 - _FIT), stratify=y[rest], random_state=seed
    )
    description = {
        "kind": "stratified_random",
        "why": "no application date: an out-of-time test was not possible",
        "fit": {"rows": len(fit)},
        "valid": {"rows": len(valid)},
        "test": {"rows": len(test)},
    }
    return Split(np.sort(fit), np.sort(valid), np.sort(test), description)


def _fit_kind(
    kind: ModelKind,
    fit: pd.DataFrame,
    valid: pd.DataFrame,
    features: Sequence[FeatureSpec],
    policy: CreditPolicy,
    required: Sequence[str],
    seed: int,
    inputs: Sequence[str] = (),
) -> CreditModel:
    y_fit = fit[TARGET].to_numpy(dtype=np.int8)
    if kind == "scorecard":
        scorecard = Scorecard.fit(fit, y_fit, features, scaling=policy.scaling)
        return CreditModel(
            kind,
            scorecard.features,
            policy,
            builtin_catalog(),
            required=required,
            inputs=inputs,
            scorecard=scorecard,
        )
    y_valid = valid[TARGET].to_numpy(dtype=np.int8)
    gbm = GbmScorer.fit(fit, y_fit, valid, y_valid, features, seed=seed)
    return CreditModel(
        kind, features, policy, builtin_catalog(), required=required, inputs=inputs, gbm=gbm
    )


def _cross_validate(
    kind: ModelKind,
    data: pd.DataFrame,
    features: Sequence[FeatureSpec],
    policy: CreditPolicy,
    folds: int,
    dated: bool,
    seed: int,
) -> dict[str, Any]:
    """ROC-AUC per fold: forward-chaining in time when dated, stratified otherwise."""
    if folds < 2:
        return {"folds": 0}
    y = data[TARGET].to_numpy()
    splitter = (
        TimeSeriesSplit(n_splits=folds).split(data)
        if dated
        else StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(data, y)
    )
    aucs = []
    for train_idx, test_idx in splitter:
        part = data.iloc[train_idx]
        # LightGBM stops on the fold's own latest 15%; the scorecard ignores it.
        cut = int(len(part) * 0.85)
        model = _fit_kind(kind, part.iloc[:cut], part.iloc[cut:], features, policy, (), seed)
        held = data.iloc[test_idx]
        aucs.append(credit_metrics(held[TARGET], model.probabilities(held))["roc_auc"])
    return {
        "folds": folds,
        "scheme": "forward_chaining" if dated else "stratified_kfold",
        "roc_auc": [round(a, 6) for a in aucs],
        "roc_auc_mean": float(np.mean(aucs)),
        "roc_auc_std": float(np.std(aucs)),
    }


def _kinds(options: Mapping[str, str]) -> tuple[ModelKind, ...]:
    raw = [k.strip() for k in options.get("models", ",".join(_KINDS)).split(",") if k.strip()]
    unknown = [k for k in raw if k not in _KINDS]
    if unknown or not raw:
        raise ValueError(f"models: expected a list of {', '.join(_KINDS)}, got {raw}")
    return tuple(k for k in _KINDS if k in raw)


def drift_reference(
    model: CreditModel, test: pd.DataFrame, proba: np.ndarray, seed: int
) -> dict[str, Any]:
    """The test period's model inputs and PDs, at the paths the credit route logs them.

    Standard applicant fields are logged at the top of ``inputs``; a lender's own columns
    travel in ``inputs.attributes``.
    """
    standard = set(ApplicantIn.model_fields)
    columns: dict[str, LoggedColumn] = {}
    for feature in model.features:
        path = (
            ("inputs", feature.name)
            if feature.name in standard
            else ("inputs", "attributes", feature.name)
        )
        if feature.kind == "categorical":
            columns[feature.name] = LoggedColumn(path, "categorical")
        else:
            columns[feature.name] = LoggedColumn(path, "numeric")
    frame = test[[f.name for f in model.features]].reset_index(drop=True).copy()
    columns["score"] = SCORE
    frame["score"] = proba
    return freeze_reference(frame, columns, seed=seed)


def fit_credit(
    data: pd.DataFrame, *, seed: int = 0, options: Mapping[str, str] | None = None
) -> FitResult:
    """Fit every candidate, evaluate each on the test period, return the champion first.

    The returned :class:`FitResult` is the candidate with the best validation ROC-AUC; the
    others are its ``alternatives`` (registered beside it, not promoted).
    """
    opts = check_options(options, KNOWN_OPTIONS)
    policy = CreditPolicy.from_options(opts)
    kinds = _kinds(opts)
    folds = int(opts.get("cv_folds", 3))
    if TARGET not in data:
        raise ValueError(f"no {TARGET!r} column: pass --target")
    if len(data) < _MIN_ROWS:
        raise ValueError(f"{len(data)} rows: credit models need at least {_MIN_ROWS}")
    features = infer_features(data)
    required = [f.name for f in features if data[f.name].notna().all()]
    # The lender's whole record: requests may carry columns no model uses.
    inputs = [str(c) for c in data.columns if c not in NON_FEATURES]
    split = split_rows(data, seed)
    fit, valid, test = (data.iloc[p] for p in (split.fit, split.valid, split.test))
    for label, part in (("fit", fit), ("valid", valid), ("test", test)):
        if part[TARGET].nunique() < 2:
            raise ValueError(f"the {label} part has a single class; more data is needed")
    dated = TIME in data

    results: dict[ModelKind, tuple[CreditModel, dict[str, float], dict[str, Any]]] = {}
    references: dict[ModelKind, dict[str, Any]] = {}
    for kind in kinds:
        start = time.perf_counter()
        model = _fit_kind(kind, fit, valid, features, policy, required, seed, inputs)
        fit_seconds = time.perf_counter() - start
        valid_auc = credit_metrics(valid[TARGET], model.probabilities(valid))["roc_auc"]
        p_test = model.probabilities(test)
        y_test = test[TARGET].to_numpy()
        approved = p_test < policy.cutoff_pd
        metrics = credit_metrics(y_test, p_test)
        metrics.update(
            valid_roc_auc=valid_auc,
            approval_rate=float(approved.mean()),
            bad_rate_approved=float(y_test[approved].mean()) if approved.any() else float("nan"),
            bad_rate_declined=(
                float(y_test[~approved].mean()) if (~approved).any() else float("nan")
            ),
            fit_seconds=fit_seconds,
        )
        cv = _cross_validate(kind, pd.concat([fit, valid]), features, policy, folds, dated, seed)
        if cv["folds"]:
            metrics.update(cv_roc_auc_mean=cv["roc_auc_mean"], cv_roc_auc_std=cv["roc_auc_std"])
        reports: dict[str, Any] = {
            "calibration": calibration_table(y_test, p_test, bins=10),
            "cross_validation": cv,
        }
        if PROTECTED in test:
            reports["fairness"] = fairness_report(
                y_test,
                p_test,
                approved,
                test[PROTECTED].astype(str).to_numpy(),
                attribute=PROTECTED,
            )
        results[kind] = (model, metrics, reports)
        references[kind] = drift_reference(model, test, p_test, seed)
        log.info("credit %s: valid AUC %.4f, test AUC %.4f", kind, valid_auc, metrics["roc_auc"])

    ranking = sorted(kinds, key=lambda k: (-results[k][1]["valid_roc_auc"], kinds.index(k)))
    champion = ranking[0]
    selection = {k: results[k][1]["valid_roc_auc"] for k in kinds}

    def result_for(kind: ModelKind) -> FitResult:
        model, metrics, reports = results[kind]
        others = [k for k in ranking if k != kind]
        all_metrics = dict(metrics)
        if others:  # the best other candidate, side by side (for the LightGBM model: the card)
            base = results[others[0]][1]
            all_metrics.update({f"baseline_{k}": v for k, v in base.items()})
        metadata = {
            "kind": kind,
            "baseline": others[0] if others else None,
            "features": [f.to_json() for f in model.features],
            "required": model.required,
            "split": split.description,
            "policy": policy.to_json(),
            "reason_catalog_version": model.catalog.version,
            "selection": {
                "rule": "highest validation ROC-AUC",
                "valid_roc_auc": selection,
                "chosen": champion,
            },
            "reports": reports,
            REFERENCE_KEY: references[kind],
        }
        params = {
            "kind": kind,
            "baseline": others[0] if others else "",
            "cutoff_pd": policy.cutoff_pd,
            "features": len(model.features),
        }
        return FitResult(model=model, metrics=all_metrics, params=params, metadata=metadata)

    return replace(result_for(champion), alternatives=tuple(result_for(k) for k in ranking[1:]))
