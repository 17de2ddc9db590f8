"""Retrain a use case from its own traffic, and promote the challenger only through gates.

``nexafi-ai retrain USE_CASE`` runs :func:`retrain`:

1. **Point in time.** The logged inferences of the window ending at ``as_of`` are read with
   their raw inputs, and joined with the labels *as known at* ``as_of`` (a label observed
   later does not exist yet). A row's outcome is known when it has a readable label, or, for
   use cases with a label maturity (fraud: no chargeback within 45 days), when it is
   unlabelled and older than the maturity.
2. **Time-ordered split.** The newest ``holdout_share`` of the rows with a known outcome is
   the comparison window; every logged row before it is what the use case rebuilds its
   training table from (``UseCase.training_set_from_log``), so the challenger never saw the
   rows it is judged on. With ``data=`` (a prepared file or built-in data) the challenger
   learns from that instead, but is still judged on the logged window.
3. **Same rows for both.** Champion and challenger, each loaded through
   :func:`~nexafi_ai.serving.handles.load_verified`, score the very same logged requests:
   rebuilt from the logged inputs and answered in chunks, or, for a use case that knows how
   to grade a version on its logged features (``UseCase.score_logged``: fraud, whose features are
   point-in-time windows the model cannot recompute from one request), that way.
4. **Gates.** ROC-AUC gain over the champion, calibration (expected calibration error under
   an absolute bar, or not worse than the champion's by more than a slack) and, for credit,
   the four-fifths adverse impact ratio of the challenger's fairness report. All must pass.
5. **Audit.** Promotion moves ``@champion`` through the registry (which audits the alias
   move) and drops the now redundant ``@challenger``; a refusal leaves the challenger on
   ``@challenger`` to keep scoring in shadow. Either way one ``retrain.promoted`` /
   ``retrain.refused`` row records the trigger, window, sizes, both models' metrics and every
   gate. With no labelled comparison window at all, the retrain is refused: never promote
   blind.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from nexafi_ai.db import audit
from nexafi_ai.db.tables import utcnow
from nexafi_ai.evaluation import binary_metrics, brier_score, expected_calibration_error
from nexafi_ai.monitoring.window import labelled_inferences, logged_values
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.handles import LoadedModel, load_verified
from nexafi_ai.training import train_and_register
from nexafi_ai.usecases.base import TrainingData, UseCase

__all__ = [
    "AS_OF_ATTR",
    "DEFAULT_POLICY",
    "CannotRebuildError",
    "Gate",
    "RetrainOutcome",
    "RetrainPolicy",
    "holdout_scores",
    "retrain",
]

log = logging.getLogger(__name__)

#: ``logged.attrs`` key carrying the cut-off to ``training_set_from_log`` (maturity rules).
AS_OF_ATTR = "as_of"
#: Requests answered per ``model.predict`` call when grading a version on logged traffic.
CHUNK = 1000
_RATIO_TOLERANCE = 1e-12


@dataclass(frozen=True, slots=True)
class RetrainPolicy:
    """When a challenger may replace the champion, and when a retrain is due.

    ``min_gain``: the challenger's ROC-AUC on the comparison window must reach the champion's
    plus this; at 0 it must be strictly higher (a tie never moves the alias). Calibration
    passes under ``max_ece``, or when not worse than the champion's by more than
    ``ece_slack`` (a champion that is itself off should not block a better ranker). Fairness
    (use cases in ``fairness_use_cases``) needs the adverse impact ratio of the challenger's
    fairness report at ``four_fifths`` or above; without a protected attribute in the training
    data it is reported as not assessed and passes unless ``require_fairness``.
    """

    holdout_share: float = 0.2
    min_gain: float = 0.0
    max_ece: float = 0.05
    ece_slack: float = 0.01
    four_fifths: float = 0.8
    fairness_use_cases: tuple[str, ...] = ("credit",)
    require_fairness: bool = False
    #: Fewer rows with a known outcome than this in the comparison window: refused.
    min_holdout_rows: int = 50
    cooldown_hours: float = 24.0
    schedule_days: float = 30.0
    perf_drop: float = 0.03
    perf_window_days: float = 7.0

    def __post_init__(self) -> None:
        if not 0.0 < self.holdout_share < 1.0:
            raise ValueError(f"holdout_share must be in (0, 1), got {self.holdout_share}")
        if self.min_gain < 0:
            raise ValueError(f"min_gain must be >= 0, got {self.min_gain}")


#: The policy used when none is given (frozen, so one shared instance is safe).
DEFAULT_POLICY = RetrainPolicy()


@dataclass(frozen=True, slots=True)
class Gate:
    """One promotion check: the measured value, the bar and whether it was met."""

    name: str
    value: float | None
    threshold: float | None
    passed: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    """What a retrain did and why; ``to_json`` is what the audit row and the CLI show."""

    use_case: str
    model_name: str
    trigger: str
    as_of: datetime
    champion_version: str | None
    challenger_version: str | None
    promoted: bool
    reason: str
    metrics: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    gates: tuple[Gate, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    window: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "use_case": self.use_case,
            "model_name": self.model_name,
            "trigger": self.trigger,
            "as_of": self.as_of.isoformat(),
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "promoted": self.promoted,
            "reason": self.reason,
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "gates": [asdict(g) for g in self.gates],
            "sizes": dict(self.sizes),
            "window": dict(self.window),
        }


class CannotRebuildError(ValueError):
    """The use case cannot rebuild training data from its log: pass ``data=`` instead."""


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _logged_window(
    engine: Engine, use_case: UseCase, start: datetime | None, as_of: datetime
) -> pd.DataFrame:
    """Every logged inference in ``[start, as_of)`` with its label as known at ``as_of``."""
    logged = logged_values(engine, use_case.name, {}, start=start, end=as_of, raw=("inputs",))
    labelled = labelled_inferences(engine, use_case.name, start=start, end=as_of, as_of=as_of)
    if labelled.empty:
        logged["label"] = None
        logged["observed_at"] = pd.NaT
        return logged
    known = labelled[["request_id", "label", "observed_at"]]
    merged = logged.merge(known, on="request_id", how="left", validate="one_to_one")
    merged["label"] = merged["label"].astype(object).where(merged["label"].notna(), None)
    return merged


def _outcomes(use_case: UseCase, logged: pd.DataFrame, as_of: datetime) -> np.ndarray:
    """1.0 / 0.0 where the outcome is known at ``as_of``, NaN where it is not (yet)."""
    # Unreadable labels stay NaN: neither a positive nor a negative.
    y = use_case.outcomes(logged["label"])
    maturity = use_case.label_maturity_days
    if maturity is not None and len(logged):
        old = (logged["created_at"] <= as_of - timedelta(days=maturity)).to_numpy()
        y[np.isnan(y) & old & logged["label"].isna().to_numpy()] = 0.0
    return y


def holdout_scores(
    use_case: UseCase, model: LoadedModel, inputs: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """The score a version gives each logged request (NaN where it cannot answer one).

    A use case whose ``score_logged`` answers grades from what was logged (fraud: the
    point-in-time features); the others rebuild each request from its logged inputs and read
    the score the way the log does (``log_fields``), in chunks.
    """
    custom = use_case.score_logged(model.model, inputs)
    if custom is not None:
        return np.asarray(custom, dtype=float)
    scores = np.full(len(inputs), np.nan)
    requests: list[Any] = []
    positions: list[int] = []
    for i, body in enumerate(inputs):
        try:
            requests.append(use_case.request_model.model_validate(body))
        except ValueError:
            continue  # logged under an older schema: not scored by either version
        positions.append(i)
    for begin in range(0, len(requests), CHUNK):
        chunk = requests[begin : begin + CHUNK]
        try:
            answers: list[Any] = model.model.predict(chunk)
        except ValueError:
            # One request this version refuses (a field it requires) must not void the chunk.
            answers = [_answer_one(model, request) for request in chunk]
        for k, (request, answer) in enumerate(zip(chunk, answers, strict=True)):
            score = None if answer is None else use_case.log_fields(request, answer).score
            if score is not None:
                scores[positions[begin + k]] = score
    return scores


def _answer_one(model: LoadedModel, request: Any) -> Any:
    try:
        return model.model.predict([request])[0]
    except ValueError:
        return None


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    base = binary_metrics(y, p)
    return {
        "roc_auc": _finite(base["roc_auc"]),
        "average_precision": _finite(base["average_precision"]),
        "brier": _finite(brier_score(y, p)),
        "ece": _finite(expected_calibration_error(y, p)),
        "prevalence": _finite(base["prevalence"]),
        "rows": len(y),
    }


def _gain_gate(
    challenger: Mapping[str, float | None],
    champion: Mapping[str, float | None] | None,
    policy: RetrainPolicy,
) -> Gate:
    new = challenger["roc_auc"]
    if champion is None:
        ok = new is not None
        return Gate("auc_gain", new, None, ok, "no champion to beat")
    old = champion["roc_auc"]
    if new is None or old is None:
        return Gate("auc_gain", None, policy.min_gain, False, "ROC-AUC undefined on the window")
    gain = new - old
    ok = gain > 0 if policy.min_gain == 0 else gain >= policy.min_gain - 1e-12
    note = f"challenger {new:.4f} vs champion {old:.4f}"
    return Gate("auc_gain", gain, policy.min_gain, ok, note)


def _calibration_gate(
    challenger: Mapping[str, float | None],
    champion: Mapping[str, float | None] | None,
    policy: RetrainPolicy,
) -> Gate:
    ece = challenger["ece"]
    bar = policy.max_ece
    old = None if champion is None else champion["ece"]
    if old is not None:
        bar = max(bar, old + policy.ece_slack)
    ok = ece is not None and ece <= bar
    note = f"ECE <= {policy.max_ece} or <= champion ECE {old} + {policy.ece_slack}"
    return Gate("calibration", ece, bar, ok, note)


def _fairness_gate(manifest: Mapping[str, Any], policy: RetrainPolicy) -> Gate:
    reports = manifest.get("reports")
    report = reports.get("fairness") if isinstance(reports, Mapping) else None
    ratio = report.get("adverse_impact_ratio") if isinstance(report, Mapping) else None
    if ratio is None:
        return Gate(
            "fairness",
            None,
            policy.four_fifths,
            not policy.require_fairness,
            "not assessed: no protected attribute (or too few per group) in the training data",
        )
    ratio = float(ratio)
    ok = ratio >= policy.four_fifths - _RATIO_TOLERANCE
    return Gate("fairness", ratio, policy.four_fifths, ok, "adverse impact ratio (four-fifths)")


def _record(
    engine: Engine, outcome: RetrainOutcome, actor: str, details: Mapping[str, Any] | None = None
) -> None:
    action = "retrain.promoted" if outcome.promoted else "retrain.refused"
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=actor,
            action=action,
            target=outcome.model_name,
            from_version=outcome.champion_version,
            to_version=outcome.challenger_version,
            details={**outcome.to_json(), **(details or {})},
        )


def _training_data(
    use_case: UseCase, logged: pd.DataFrame, before: pd.Timestamp | None, as_of: datetime
) -> TrainingData:
    rows = logged if before is None else logged[logged["created_at"] < before]
    rows = rows.reset_index(drop=True)
    rows.attrs[AS_OF_ATTR] = as_of
    try:
        return use_case.training_set_from_log(rows)
    except NotImplementedError as exc:
        raise CannotRebuildError(
            f"{exc} (give a file: nexafi-ai retrain USE_CASE --data FILE)"
        ) from exc


def retrain(
    engine: Engine,
    registry: ModelRegistry,
    use_case: UseCase,
    *,
    as_of: datetime | None = None,
    window_days: float | None = None,
    data: TrainingData | None = None,
    policy: RetrainPolicy = DEFAULT_POLICY,
    actor: str = "cli",
    trigger: str = "manual",
    seed: int = 0,
) -> RetrainOutcome:
    """Train a challenger on the log (or ``data``), judge it against the champion, decide.

    Always writes one audit row and returns the outcome; raises :class:`CannotRebuildError`
    (a ValueError) only for a call that cannot run at all: a use case that cannot rebuild
    training data from its log, and no ``data``. See the module docstring for each step.
    """
    as_of = as_of or utcnow()
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    start = None if window_days is None else as_of - timedelta(days=window_days)
    name = use_case.model_name
    champion = registry.alias_version(name, "champion")
    window = {"start": None if start is None else start.isoformat(), "end": as_of.isoformat()}
    sizes: dict[str, int] = {}

    def decided(
        promoted: bool, reason: str, challenger: str | None = None, **extra: Any
    ) -> RetrainOutcome:
        outcome = RetrainOutcome(
            use_case=use_case.name,
            model_name=name,
            trigger=trigger,
            as_of=as_of,
            champion_version=champion,
            challenger_version=challenger,
            promoted=promoted,
            reason=reason,
            sizes=dict(sizes),
            window=window,
            **extra,
        )
        _record(engine, outcome, actor)
        return outcome

    def refused(reason: str, challenger: str | None = None, **extra: Any) -> RetrainOutcome:
        log.warning("retrain of %s refused: %s", name, reason)
        return decided(False, reason, challenger, **extra)

    logged = _logged_window(engine, use_case, start, as_of)
    sizes["logged"] = len(logged)
    classification = use_case.performance_kind == "classification"
    y = _outcomes(use_case, logged, as_of) if classification else np.full(len(logged), np.nan)
    known = np.flatnonzero(~np.isnan(y))
    n_hold = math.ceil(policy.holdout_share * len(known))
    holdout = known[len(known) - n_hold :] if n_hold else known[:0]
    sizes["known_outcome"] = len(known)
    sizes["holdout"] = len(holdout)
    before = logged["created_at"].iloc[holdout[0]] if len(holdout) else None
    window["holdout_start"] = None if before is None else before.isoformat()

    if data is None:
        try:
            data = _training_data(use_case, logged, before, as_of)
        except CannotRebuildError:
            raise
        except ValueError as exc:
            return refused(f"no training data: {exc}")
    sizes["training"] = len(data)
    try:
        info = train_and_register(
            use_case,
            registry,
            data,
            seed=seed,
            promote_to="challenger",
            actor=actor,
            source="retrain",
        )
    except ValueError as exc:
        return refused(f"the challenger could not be trained: {exc}")
    challenger = info.version

    if not classification:
        return refused(
            f"no live comparison for {use_case.performance_kind} models yet: the challenger "
            "stays @challenger for a person to judge",
            challenger,
        )
    if len(holdout) < policy.min_holdout_rows:
        return refused(
            f"only {len(holdout)} logged rows with a known outcome to compare on "
            f"(need {policy.min_holdout_rows}): never promote blind",
            challenger,
        )
    y_hold = y[holdout]
    if not 0 < y_hold.sum() < len(y_hold):
        return refused(
            "the comparison window holds a single class: ROC-AUC is undefined", challenger
        )

    inputs = list(logged["inputs"].iloc[holdout])
    new_model = load_verified(use_case, registry, challenger)
    p_new = holdout_scores(use_case, new_model, inputs)
    p_old = None
    if champion is not None:
        p_old = holdout_scores(use_case, load_verified(use_case, registry, champion), inputs)
    both = np.isfinite(p_new) if p_old is None else np.isfinite(p_new) & np.isfinite(p_old)
    sizes["holdout_scored"] = int(both.sum())
    metrics: dict[str, Mapping[str, float | None]] = {
        "challenger": _metrics(y_hold[both], p_new[both])
    }
    if p_old is not None:
        metrics["champion"] = _metrics(y_hold[both], p_old[both])
    old_metrics = metrics.get("champion")
    gates = [
        _gain_gate(metrics["challenger"], old_metrics, policy),
        _calibration_gate(metrics["challenger"], old_metrics, policy),
    ]
    if use_case.name in policy.fairness_use_cases:
        gates.append(_fairness_gate(new_model.manifest, policy))
    failed = [g.name for g in gates if not g.passed]
    if failed:
        return refused(
            f"gates failed: {', '.join(failed)}", challenger, metrics=metrics, gates=tuple(gates)
        )

    reason = f"retrain ({trigger}): passed {', '.join(g.name for g in gates)}"
    registry.set_alias(name, "champion", challenger, actor=actor, reason=reason)
    if registry.alias_version(name, "challenger") == challenger:
        registry.delete_alias(name, "challenger", actor=actor, reason="promoted to @champion")
    log.info("retrain of %s promoted v%s over v%s", name, challenger, champion)
    return decided(True, reason, challenger, metrics=metrics, gates=tuple(gates))
