"""The training pipeline shared by every use case: fit, record, register, optionally promote.

One path for the built-in data and for users' own files: the use case fits and evaluates on
held-out data; this module saves the model in its data-only format, records warm-up
requests with the outputs they gave (the golden check every later load must reproduce),
fingerprints the training data and library versions into the manifest, and registers the
version. ``ensure_champions`` is what ``make run`` calls for use cases with no champion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexafi_ai import __version__
from nexafi_ai.monitoring.reference import REFERENCE_KEY, replay_reference
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.handles import WARMUP_FILE
from nexafi_ai.usecases.base import FitResult, TrainingData, UseCase

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "data_fingerprint",
    "ensure_champions",
    "library_versions",
    "package_version",
    "register_version",
    "train_and_register",
]

log = logging.getLogger(__name__)

_LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "mlflow", "pydantic")
WARMUP_REQUESTS = 3


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model's behaviour depends on, for the manifest."""
    found = {"python": platform.python_version(), "nexafi-ai": __version__}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def data_fingerprint(data: TrainingData) -> dict[str, Any]:
    """Rows, columns and a content hash of the training data, to trace a model to its data.

    Data of several tables (an object with a ``tables()`` method, such as the recommend use
    case's interactions, users and items) gets one fingerprint per table.
    """
    import pandas as pd

    tables = getattr(data, "tables", None)
    if callable(tables):
        return {
            "rows": len(data),
            "tables": {str(name): data_fingerprint(t) for name, t in tables().items()},
        }
    row_hashes = pd.util.hash_pandas_object(data, index=False).to_numpy()
    return {
        "rows": len(data),
        "columns": [str(c) for c in data.columns],
        "sha256": hashlib.sha256(row_hashes.tobytes()).hexdigest(),
    }


def package_version(
    use_case: UseCase, result: FitResult, data: pd.DataFrame, directory: Path, *, source: str
) -> dict[str, Any]:
    """Write a fitted model and its warm-up record into ``directory``; return manifest metadata.

    The warm-up record (a few requests and the answers this exact model gave) is what every
    later load must reproduce before the version may serve.
    """
    result.model.save(directory)
    bodies = use_case.example_requests(data, WARMUP_REQUESTS)
    requests = [use_case.request_model.model_validate(b) for b in bodies]
    answers = result.model.predict(requests)
    warmup = [
        {"request": body, "response": answer.model_dump(mode="json")}
        for body, answer in zip(bodies, answers, strict=True)
    ]
    (directory / WARMUP_FILE).write_text(json.dumps(warmup, indent=2, default=str))
    drift: dict[str, Any] = {}
    columns = use_case.monitored_columns()
    if REFERENCE_KEY not in result.metadata and columns:
        drift[REFERENCE_KEY] = replay_reference(use_case, result.model, data, columns)
    return {
        "use_case": use_case.name,
        "source": source,
        "request_schema": use_case.request_model.model_json_schema(),
        "response_schema": use_case.response_model.model_json_schema(),
        "training_data": data_fingerprint(data),
        "libraries": library_versions(),
        **result.metadata,
        **drift,
    }


def register_version(
    use_case: UseCase,
    registry: ModelRegistry,
    result: FitResult,
    directory: Path,
    metadata: dict[str, Any],
    *,
    seed: int = 0,
    promote_to: str | None = None,
    actor: str = "cli",
) -> ModelVersionInfo:
    """Register a packaged version (run, metrics, files) and optionally point an alias at it."""
    info = registry.log_version(
        use_case.model_name,
        directory,
        params={"seed": seed, "source": metadata.get("source", ""), **result.params},
        metrics=result.metrics,
        metadata=metadata,
        use_case=use_case.name,
        description=use_case.summary,
    )
    if promote_to:
        registry.set_alias(
            use_case.model_name, promote_to, info.version, actor=actor, reason="trained"
        )
        info = registry.get_version(use_case.model_name, info.version)
    return info


def train_and_register(
    use_case: UseCase,
    registry: ModelRegistry,
    data: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    size: str = "default",
    promote_to: str | None = None,
    actor: str = "cli",
    source: str = "builtin",
    progress: Callable[[str], None] | None = None,
    options: Mapping[str, str] | None = None,
) -> ModelVersionInfo:
    """Fit ``use_case`` (on ``data`` or its built-in data), register, optionally promote.

    Every candidate the fit returns is registered; the alternatives first, then the chosen
    model, which is the one returned and the only one ``promote_to`` moves.
    """
    say = progress or (lambda message: log.info("%s", message))
    if data is None:
        say(f"{use_case.name}: generating built-in data ({size})")
        data = use_case.builtin_data(size=size, seed=seed)
    say(f"{use_case.name}: fitting on {len(data):,} rows")
    result = use_case.fit(data, seed=seed, options=options)
    option_params = {f"option_{k}": v for k, v in (options or {}).items()}
    chosen = None
    for candidate in (*result.alternatives, result):
        with tempfile.TemporaryDirectory(prefix=f"nexafi-{use_case.name}-") as scratch:
            directory = Path(scratch)
            metadata = package_version(use_case, candidate, data, directory, source=source)
            say(f"{use_case.name}: registering {use_case.model_name}")
            chosen = register_version(
                use_case,
                registry,
                replace(candidate, params={**candidate.params, **option_params}),
                directory,
                metadata,
                seed=seed,
                promote_to=promote_to if candidate is result else None,
                actor=actor,
            )
    assert chosen is not None
    return chosen


def ensure_champions(
    use_cases: Iterable[UseCase],
    registry: ModelRegistry,
    *,
    alias: str = "champion",
    size: str = "default",
    actor: str = "make-run",
    progress: Callable[[str], None] | None = None,
) -> list[ModelVersionInfo]:
    """Train and promote a model for each use case whose ``@alias`` is not set yet."""
    trained = []
    for use_case in use_cases:
        if registry.alias_version(use_case.model_name, alias) is not None:
            continue
        trained.append(
            train_and_register(
                use_case, registry, size=size, promote_to=alias, actor=actor, progress=progress
            )
        )
    return trained
