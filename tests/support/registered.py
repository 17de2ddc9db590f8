"""Register a model packaged once per test session into one test's own registry."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.training import register_version
from nexafi_ai.usecases.base import FitResult, UseCase


def register_packaged(
    use_case: UseCase,
    registry: ModelRegistry,
    result: FitResult,
    directory: Path,
    metadata: Mapping[str, Any],
    scratch: Path,
    *,
    promote_to: str | None = "champion",
    actor: str = "test",
) -> ModelVersionInfo:
    """Register a fresh copy of ``directory`` (fitting is slow, registering is per test).

    Registration writes the manifest into the folder it is given, so the session's packaged
    files are copied (without any earlier manifest) into a new folder under ``scratch`` first.
    """
    copy = Path(tempfile.mkdtemp(prefix=f"{use_case.name}-", dir=scratch)) / "version"
    shutil.copytree(directory, copy)
    (copy / "manifest.json").unlink(missing_ok=True)
    return register_version(
        use_case, registry, result, copy, dict(metadata), promote_to=promote_to, actor=actor
    )
