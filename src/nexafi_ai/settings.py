"""One place for every setting, read from ``NEXAFI_*`` environment variables.

The embedded default needs no configuration at all: a SQLite file, a local MLflow store and
local artifacts, all under ``NEXAFI_HOME`` (``./.nexafi``). Production points the same
settings at PostgreSQL, Redis and a tracking server. Unsafe combinations (a public bind
address with no API keys) are refused here, before anything starts listening.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KNOWN_SCOPES", "Settings", "get_settings", "is_loopback"]

#: Scopes an API key may hold. ``score`` calls business endpoints, ``read`` reads models,
#: logs and monitoring, ``admin`` moves aliases and runs jobs, ``analyst`` records verdicts.
KNOWN_SCOPES: frozenset[str] = frozenset({"score", "read", "admin", "analyst"})


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("10.1.2.3")
    (False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Service settings; every field maps to ``NEXAFI_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="NEXAFI_", extra="ignore", frozen=True)

    home: Path = Path(".nexafi")
    database_url: str = ""
    mlflow_tracking_uri: str = ""
    artifact_dir: Path | None = None
    redis_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    api_keys: dict[str, frozenset[str]] = Field(default_factory=dict)
    api_keys_file: Path | None = None
    log_level: str = "INFO"

    #: Largest request body accepted, in bytes; bigger bodies get 413 before parsing.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: Use cases this process serves; empty means every registered use case.
    use_cases: list[str] = Field(default_factory=list)
    #: Alias each served use case loads.
    serve_alias: str = "champion"
    #: Seconds between checks of the served aliases in the registry; a moved alias is loaded
    #: (verified and warmed) and swapped in without a failed request. 0 disables the watcher.
    reload_interval_s: float = Field(default=10.0, ge=0)
    #: Alias of the model scored in shadow beside the served one (logged, never returned);
    #: empty disables shadow scoring.
    shadow_alias: str = Field(default="challenger", pattern=r"^([a-z][a-z0-9_-]{0,63})?$")
    #: Built-in data size ``run`` trains missing models on: tiny, small or default.
    train_size: str = "default"

    #: Population Stability Index above which a feature's drift is "warn" / "alert".
    drift_psi_warn: float = Field(default=0.1, ge=0)
    drift_psi_alert: float = Field(default=0.25, ge=0)
    #: Default drift window, ending now.
    drift_window_hours: float = Field(default=24.0, gt=0)
    #: Fewer logged rows than this in a window: reported as insufficient data, not drift.
    drift_min_rows: int = Field(default=100, ge=1)

    #: In-memory rows waiting for the inference log writer before spilling to disk.
    log_queue_size: int = Field(default=50_000, ge=1)
    log_batch_size: int = Field(default=1_000, ge=1)
    log_flush_interval_s: float = Field(default=0.05, gt=0)
    #: Spool bytes on disk after which scoring answers 503 rather than accept unloggable rows.
    log_spool_max_bytes: int = Field(default=1 << 30, ge=0)

    #: Dask scheduler address (``tcp://host:8786``) for ``--engine dask``; unset starts a
    #: local cluster on this machine. Workers must see the job's files at the same paths.
    dask_scheduler: str | None = None
    #: Root of the files ``POST /v1/jobs`` may read and write; default ``<home>/batch``.
    batch_dir: Path | None = None
    #: Rows per batch chunk: the unit of scoring, checkpointing and resuming.
    batch_chunk_rows: int = Field(default=50_000, ge=1)
    #: A running job whose heartbeat is older than this may be taken over by another process.
    batch_stale_after_s: float = Field(default=120.0, gt=0)

    @field_validator("api_keys", mode="after")
    @classmethod
    def _known_scopes(cls, keys: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
        for key, scopes in keys.items():
            unknown = set(scopes) - KNOWN_SCOPES
            if unknown:
                raise ValueError(f"API key {key[:4]}... has unknown scopes {sorted(unknown)}")
            if len(key) < 16:
                raise ValueError("API keys must be at least 16 characters long")
        return keys

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'nexafi.db'}")
        if not self.mlflow_tracking_uri:
            object.__setattr__(self, "mlflow_tracking_uri", f"sqlite:///{home / 'mlflow.db'}")
        if self.artifact_dir is None:
            object.__setattr__(self, "artifact_dir", home / "artifacts")
        batch_dir = home / "batch" if self.batch_dir is None else self.batch_dir.expanduser()
        object.__setattr__(self, "batch_dir", batch_dir.absolute())
        if self.api_keys_file is not None:
            loaded = _read_keys_file(self.api_keys_file)
            object.__setattr__(self, "api_keys", {**loaded, **self.api_keys})
        if not self.api_keys and not is_loopback(self.host):
            raise ValueError(
                f"refusing to bind {self.host}: no API keys are configured; set NEXAFI_API_KEYS "
                "or NEXAFI_API_KEYS_FILE, or bind 127.0.0.1"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        """Without keys (loopback only) every request holds every scope: local development."""
        return bool(self.api_keys)

    @property
    def artifacts(self) -> Path:
        """Root of the MLflow artifact store and of verified local model copies."""
        assert self.artifact_dir is not None  # set by the validator
        return self.artifact_dir

    @property
    def batch_root(self) -> Path:
        """Root of the files batch jobs submitted over the API read and write."""
        assert self.batch_dir is not None  # set by the validator
        return self.batch_dir

    @property
    def spool_dir(self) -> Path:
        """Where inference-log rows wait on disk while the database cannot take them."""
        return self.home / "spool"


def _read_keys_file(path: Path) -> dict[str, frozenset[str]]:
    raw: Any = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object mapping key -> list of scopes")
    keys = {str(k): frozenset(str(s) for s in v) for k, v in raw.items()}
    return Settings._known_scopes(keys)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
