"""Shared fixtures: real SQLite, real PostgreSQL and real Redis, isolated per test.

PostgreSQL and Redis come from ``NEXAFI_TEST_DATABASE_URL`` / ``NEXAFI_TEST_REDIS_URL``
(defaults: the local servers). Outside CI a missing server skips its tests; with ``CI=true``
it fails them, so a broken CI machine can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures shared across folders: a tiny fraud model fitted once per session.
from fraud_fitted import fraud_champion, fraud_packaged  # noqa: F401
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from nexafi_ai.db import make_engine, metadata, upgrade
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.settings import Settings
from nexafi_ai.training import train_and_register
from nexafi_ai.usecases import UseCase, register, unregister

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_BASE_URL = os.environ.get(
    "NEXAFI_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("NEXAFI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(what: str, error: BaseException) -> None:
    """Fail in CI (where the service must exist), skip on a developer machine without it."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)  # outside CI only; in CI the line above already failed


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    admin = create_engine(PG_BASE_URL, isolation_level="AUTOCOMMIT")
    name = f"nexafi_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable("PostgreSQL", exc)
    url = make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nexafi.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url = str(request.getfixturevalue("pg_server_url"))
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the parametrised database, disposed after the test."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def redis_url() -> str:
    """A flushed Redis database reserved for tests."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except Exception as exc:
        unavailable("Redis", exc)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow SQLite store, copied per test (creating one takes seconds)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    uri = f"sqlite:///{path}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments()
    return path


@pytest.fixture
def settings(tmp_path: Path, db_url: str, mlflow_template: Path) -> Settings:
    """Settings for an isolated service home on the parametrised database."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(mlflow_template, home / "mlflow.db")
    return Settings(home=home, database_url=db_url, log_flush_interval_s=0.01)


@pytest.fixture
def registry(settings: Settings, engine: Engine) -> ModelRegistry:
    """A registry on the test's MLflow store, auditing into the parametrised database."""
    from nexafi_ai.serving.app import build_registry

    return build_registry(settings, engine)


@pytest.fixture
def toy() -> Iterator[UseCase]:
    """The test-only use case, registered for the duration of the test."""
    from toy_usecase import USE_CASE

    register(USE_CASE)
    yield USE_CASE
    unregister(USE_CASE.name)


@pytest.fixture
def toy_champion(toy: UseCase, registry: ModelRegistry) -> ModelVersionInfo:
    """Version 1 of the toy model, trained on tiny data and promoted to @champion."""
    return train_and_register(toy, registry, size="tiny", promote_to="champion", actor="test")


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The CLI reads settings from the environment: point it at the test's home and database."""
    from nexafi_ai.settings import get_settings

    monkeypatch.setenv("NEXAFI_HOME", str(settings.home))
    monkeypatch.setenv("NEXAFI_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()
