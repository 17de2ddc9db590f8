"""A fraud model fitted once per session on tiny simulated data, registered per test.

Imported by the root conftest so fraud, serving and monitoring tests share one fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from registered import register_packaged

from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.training import package_version
from nexafi_ai.usecases.base import FitResult
from nexafi_ai.usecases.fraud import USE_CASE as FRAUD


@dataclass(frozen=True)
class Packaged:
    data: pd.DataFrame
    result: FitResult
    directory: Path
    metadata: dict[str, Any]


@pytest.fixture(scope="session")
def fraud_packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    data = FRAUD.builtin_data(size="tiny", seed=3)
    result = FRAUD.fit(data, seed=3)
    directory = tmp_path_factory.mktemp("fraud-model")
    metadata = package_version(FRAUD, result, data, directory, source="test")
    return Packaged(data, result, directory, metadata)


@pytest.fixture
def fraud_champion(
    fraud_packaged: Packaged, registry: ModelRegistry, tmp_path: Path
) -> ModelVersionInfo:
    return register_packaged(
        FRAUD,
        registry,
        fraud_packaged.result,
        fraud_packaged.directory,
        fraud_packaged.metadata,
        tmp_path,
        actor="test",
    )
