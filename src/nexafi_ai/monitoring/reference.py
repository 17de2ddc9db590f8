"""The drift reference a model version carries: where each monitored value is logged, and its
training distribution, frozen into the version's manifest at training time.

A version is compared with the traffic it serves, so the reference must describe values in the
*logged* representation: the same JSON path the serving route writes (``inputs.features.amount``
for a fraud feature, ``inputs.annual_income`` for a credit field, ``score`` for the model's
output). Each use case's training code builds a table of those values on its held-out, most
recent slice (the period closest to deployment, scored out of sample so the score reference is
not flattered by overfitting) and freezes it here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from nexafi_ai.monitoring.drift import Reference, reference_for, reference_from_json
from nexafi_ai.monitoring.window import LoggedColumn

if TYPE_CHECKING:
    from nexafi_ai.usecases.base import Model, TrainingData, UseCase

__all__ = [
    "REFERENCE_KEY",
    "SCORE",
    "freeze_reference",
    "reference_from_manifest",
    "replay_reference",
    "value_at",
]

#: Key of the drift reference in a version's manifest metadata.
REFERENCE_KEY = "drift_reference"
#: Points kept per numeric feature for KS: exact enough (KS error ~ 1/sqrt(n)) while keeping
#: the manifest of a 30-feature model well under a megabyte.
SKETCH_POINTS = 1000
#: The model's headline output as logged (``inference_log.score``): drift of the score itself.
SCORE = LoggedColumn(("score",))
#: Sample requests replayed through a model whose reference comes from requests.
REPLAY_REQUESTS = 500


def _as_kind(values: pd.Series, kind: str) -> pd.Series:
    if kind == "numeric":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    # Categorical values are compared as the text the database extracts from the log.
    text = values.astype("object").where(values.notna(), None)
    return text.map(lambda v: v if v is None else str(v)).astype("object")


def freeze_reference(
    frame: pd.DataFrame,
    columns: Mapping[str, LoggedColumn],
    *,
    bins: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """A JSON-able reference of ``frame``'s columns, each tagged with where it is logged."""
    if frame.empty:
        raise ValueError("cannot freeze a drift reference from no rows")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise KeyError(f"reference columns missing from the frame: {missing}")
    out: dict[str, Any] = {}
    for name, spec in columns.items():
        values = _as_kind(frame[name], spec.kind)
        ref = reference_for(values, bins=bins, sample=SKETCH_POINTS, seed=seed)
        out[name] = {**spec.to_json(), "reference": json.loads(ref.to_json())}
    return {"rows": len(frame), "columns": out}


def reference_from_manifest(
    manifest: Mapping[str, Any],
) -> tuple[dict[str, LoggedColumn], dict[str, Reference]] | None:
    """The logged columns and frozen references of a version; None when it has none.

    Accepts a verified manifest (the metadata sits under ``"metadata"``) or the metadata alone.
    """
    metadata = manifest.get("metadata", manifest)
    doc = metadata.get(REFERENCE_KEY) if isinstance(metadata, Mapping) else None
    if not isinstance(doc, Mapping) or not doc.get("columns"):
        return None
    columns: dict[str, LoggedColumn] = {}
    references: dict[str, Reference] = {}
    for name, entry in doc["columns"].items():
        columns[name] = LoggedColumn.from_json(entry)
        references[name] = reference_from_json(json.dumps(entry["reference"]))
    return columns, references


def value_at(row: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in a log row (dicts and lists), None where the path is absent."""
    value: Any = row
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return None
            value = value[step]
        elif isinstance(value, Mapping):
            value = value.get(step)
        else:
            return None
    return value


def replay_reference(
    use_case: UseCase,
    model: Model,
    data: TrainingData,
    columns: Mapping[str, LoggedColumn],
    *,
    requests: int = REPLAY_REQUESTS,
    seed: int = 0,
) -> dict[str, Any]:
    """Freeze ``columns`` from sample requests answered by ``model``, logged as serving logs them.

    For use cases whose training has no per-row table in the logged representation (a
    recommender learns from interactions but is asked about customers): the sample is the
    use case's own :meth:`~UseCase.example_requests` from the training data.
    """
    bodies = use_case.example_requests(data, requests)
    parsed = [use_case.request_model.model_validate(b) for b in bodies]
    answers = model.predict(parsed)
    rows = []
    for request, answer in zip(parsed, answers, strict=True):
        fields = use_case.log_fields(request, answer)
        logged = {
            "inputs": request.model_dump(mode="json"),
            "outputs": answer.model_dump(mode="json"),
            "score": fields.score,
            "decision": fields.decision,
            "entity_id": fields.entity_id,
        }
        rows.append({name: value_at(logged, spec.path) for name, spec in columns.items()})
    return freeze_reference(pd.DataFrame(rows, columns=list(columns)), columns, seed=seed)
