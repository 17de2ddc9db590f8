"""Fixtures for batch jobs: a portfolio file, the toy model, and a one-shot reference scoring."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_reference import Reference
from sqlalchemy import Engine

from nexafi_ai.batch import JobStore
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.usecases import UseCase

ROWS = 3000


@pytest.fixture
def portfolio() -> pd.DataFrame:
    """A user's table: an id and two numbers per row (no label)."""
    from toy_usecase import USE_CASE

    return USE_CASE.builtin_data(size="default", seed=7).drop(columns="y").head(ROWS)


@pytest.fixture
def portfolio_csv(portfolio: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "portfolio.csv"
    portfolio.to_csv(path, index=False)
    return path


@pytest.fixture
def store(engine: Engine) -> JobStore:
    return JobStore(engine)


@pytest.fixture
def reference(toy: UseCase, registry: ModelRegistry, toy_champion: ModelVersionInfo) -> Reference:
    return Reference(toy, registry, toy_champion.version)
