"""Credit models fitted once per session on small generated data, registered per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from credit_fitted import Fitted

from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.training import package_version, register_version
from nexafi_ai.usecases.credit import USE_CASE as CREDIT


@pytest.fixture(scope="session")
def credit_fitted() -> Fitted:
    """Both candidates on 10k applicants (a few seconds): big enough for quality floors."""
    data = CREDIT.builtin_data(size="small", seed=3)
    return Fitted(data, CREDIT.fit(data, seed=3, options={"cv_folds": "2"}))


@dataclass(frozen=True)
class Packaged:
    directory: Path
    metadata: dict[str, Any]


@pytest.fixture(scope="session")
def credit_packaged(credit_fitted: Fitted, tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    directory = tmp_path_factory.mktemp("credit-model")
    metadata = package_version(
        CREDIT, credit_fitted.result, credit_fitted.data, directory, source="test"
    )
    return Packaged(directory, metadata)


@pytest.fixture
def credit_champion(
    credit_fitted: Fitted, credit_packaged: Packaged, registry: ModelRegistry, tmp_path: Path
) -> ModelVersionInfo:
    copy = tmp_path / "credit-version"
    shutil.copytree(credit_packaged.directory, copy)
    (copy / "manifest.json").unlink(missing_ok=True)
    return register_version(
        CREDIT,
        registry,
        credit_fitted.result,
        copy,
        credit_packaged.metadata,
        promote_to="champion",
        actor="test",
    )
