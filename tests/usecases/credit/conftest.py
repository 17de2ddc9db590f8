"""Credit models fitted once per session on small generated data, registered per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from credit_fitted import Fitted
from registered import register_packaged

from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.training import package_version
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
    return register_packaged(
        CREDIT,
        registry,
        credit_fitted.result,
        credit_packaged.directory,
        credit_packaged.metadata,
        tmp_path,
    )
