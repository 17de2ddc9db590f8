"""The model registry, over MLflow tracking and the MLflow model registry.

Everything a user sees in ``mlflow ui`` is real: one experiment per registered model, one run
per training (params, metrics, artifact files), one registered version per run, aliases
``@champion`` / ``@challenger``. On top, this adapter adds what MLflow does not: a sha256
manifest checked before any load, pickle-free artifacts, and an ``audit_log`` row for every
alias move, written in the same transaction as the decision to move it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from nexafi_ai.db import audit
from nexafi_ai.registry.manifest import ArtifactVerificationError, verify_manifest, write_manifest

__all__ = [
    "AliasChange",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "ResolvedModel",
]

log = logging.getLogger(__name__)

MANIFEST_TAG = "nexafi.manifest_sha256"
USE_CASE_TAG = "nexafi.use_case"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class ModelNotFoundError(LookupError):
    """The model, version or alias does not exist in the registry."""


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    """One registered version, as listed by ``GET /v1/models``."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    created_at: datetime
    manifest_sha256: str | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegisteredModelInfo:
    """A registered model with its aliases and versions (newest first)."""

    name: str
    aliases: Mapping[str, str]
    versions: tuple[ModelVersionInfo, ...]


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A version's files in a local directory whose every hash was just verified."""

    name: str
    version: str
    path: Path
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AliasChange:
    """What an alias pointed to before and after a move (``None``: unset)."""

    name: str
    alias: str
    from_version: str | None
    to_version: str | None


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid model name {name!r}")
    return name


def _check_alias(alias: str) -> str:
    if not _ALIAS.match(alias) or alias.isdigit():
        raise ValueError(f"invalid alias {alias!r}: lower-case letters, digits, '-' or '_'")
    return alias


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"}


class ModelRegistry:
    """Log, register, alias and fetch model versions.

    ``tracking_uri`` is any MLflow tracking URI (``sqlite:///...`` by default, a server in
    production); ``artifact_root`` is where new experiments keep artifacts when the store is
    local; ``cache_dir`` holds verified local copies; ``engine`` is the service database that
    receives the audit trail.
    """

    def __init__(
        self, tracking_uri: str, artifact_root: Path, cache_dir: Path, engine: Engine
    ) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.cache_dir = cache_dir
        self.engine = engine
        self._client_: Any = None

    @property
    def _client(self) -> Any:
        # Imported lazily: MLflow is heavy, and commands that never touch models skip it.
        if self._client_ is None:
            from mlflow import MlflowClient

            self._client_ = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client_

    # ------------------------------------------------------------------ writing
    def log_version(
        self,
        name: str,
        artifact_dir: Path,
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        metadata: Mapping[str, Any] | None = None,
        use_case: str | None = None,
        description: str = "",
    ) -> ModelVersionInfo:
        """Log a training run with ``artifact_dir``'s files and register it as a new version.

        The manifest (file hashes plus ``metadata``: features, schema, data fingerprint,
        library versions, metrics) is written into ``artifact_dir`` first; its own hash is
        stored as a version tag so the manifest cannot be swapped later either.
        """
        _check_name(name)
        manifest_sha = write_manifest(
            artifact_dir, {**(metadata or {}), "metrics": dict(metrics or {})}
        )
        client = self._client
        experiment_id = self._experiment_id(name)
        tags = {USE_CASE_TAG: use_case or "", MANIFEST_TAG: manifest_sha}
        run = client.create_run(
            experiment_id,
            run_name=f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            tags=tags,
        )
        run_id: str = run.info.run_id
        try:
            for key, value in (params or {}).items():
                client.log_param(run_id, key, _param_value(value))
            for key, value in (metrics or {}).items():
                client.log_metric(run_id, key, float(value))
            client.log_artifacts(run_id, str(artifact_dir), "model")
        except Exception:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
        self._ensure_registered(name, description)
        mv = client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags=tags,
            description=description or None,
        )
        log.info("registered %s version %s (run %s)", name, mv.version, run_id)
        return self.get_version(name, str(mv.version))

    def _experiment_id(self, name: str) -> str:
        client = self._client
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None
        if self.tracking_uri.startswith(("sqlite:", "file:")) or "://" not in self.tracking_uri:
            target = self.artifact_root / name
            target.mkdir(parents=True, exist_ok=True)
            location = target.absolute().as_uri()
        return str(client.create_experiment(name, artifact_location=location))

    def _ensure_registered(self, name: str, description: str) -> None:
        client = self._client
        try:
            client.get_registered_model(name)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
            client.create_registered_model(name, description=description or None)

    def set_alias(
        self, name: str, alias: str, version: str, *, actor: str, reason: str = ""
    ) -> AliasChange:
        """Point ``name@alias`` at ``version`` and audit who moved it from where.

        The audit row and the move commit together: if MLflow refuses, the row rolls back;
        if the audit insert fails, the alias is never moved.
        """
        _check_name(name)
        _check_alias(alias)
        target = self.get_version(name, version)  # raises ModelNotFoundError
        previous = self.alias_version(name, alias)
        change = AliasChange(name, alias, previous, target.version)
        action = "alias.rollback" if _is_older(target.version, previous) else "alias.promote"
        with self.engine.begin() as conn:
            audit.record(
                conn,
                actor=actor,
                action=action,
                target=f"{name}@{alias}",
                from_version=previous,
                to_version=target.version,
                details={"reason": reason} if reason else None,
            )
            self._client.set_registered_model_alias(name, alias, target.version)
        log.info("%s moved %s@%s: %s -> %s", actor, name, alias, previous, target.version)
        return change

    def delete_alias(self, name: str, alias: str, *, actor: str, reason: str = "") -> AliasChange:
        """Remove ``name@alias`` (audited); a missing alias raises ModelNotFoundError."""
        previous = self.alias_version(name, alias)
        if previous is None:
            raise ModelNotFoundError(f"{name}@{alias} is not set")
        with self.engine.begin() as conn:
            audit.record(
                conn,
                actor=actor,
                action="alias.delete",
                target=f"{name}@{alias}",
                from_version=previous,
                details={"reason": reason} if reason else None,
            )
            self._client.delete_registered_model_alias(name, alias)
        return AliasChange(name, alias, previous, None)

    def record_refusal(
        self, name: str, alias: str, version: str, *, actor: str, reason: str, error: str
    ) -> None:
        """Audit an alias move that was refused because the version failed to load."""
        with self.engine.begin() as conn:
            audit.record(
                conn,
                actor=actor,
                action="alias.refused",
                target=f"{name}@{alias}",
                from_version=self.alias_version(name, alias),
                to_version=version,
                details={"reason": reason, "error": error},
            )

    # ------------------------------------------------------------------ reading
    def alias_version(self, name: str, alias: str) -> str | None:
        """The version ``name@alias`` points to, or None when unset or the model is unknown."""
        try:
            model = self._client.get_registered_model(_check_name(name))
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        version = model.aliases.get(alias)
        return None if version is None else str(version)

    def get_version(self, name: str, version: str) -> ModelVersionInfo:
        """Details of one version; raises ModelNotFoundError when absent."""
        client = self._client
        try:
            mv = client.get_model_version(_check_name(name), str(version))
        except Exception as exc:
            if _is_not_found(exc):
                raise ModelNotFoundError(f"{name} version {version} does not exist") from exc
            raise
        return self._version_info(mv)

    def _version_info(self, mv: Any, aliases: tuple[str, ...] | None = None) -> ModelVersionInfo:
        metrics: dict[str, float] = {}
        params: dict[str, str] = {}
        if mv.run_id:
            try:
                data = self._client.get_run(mv.run_id).data
                metrics, params = dict(data.metrics), dict(data.params)
            except Exception:  # a deleted run leaves the version listable
                log.warning("run %s of %s v%s is unavailable", mv.run_id, mv.name, mv.version)
        return ModelVersionInfo(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id,
            aliases=tuple(aliases if aliases is not None else (mv.aliases or ())),
            created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
            manifest_sha256=(mv.tags or {}).get(MANIFEST_TAG),
            metrics=metrics,
            params=params,
            tags=dict(mv.tags or {}),
        )

    def list_models(self) -> list[RegisteredModelInfo]:
        """Every registered model with its aliases and versions, newest version first."""
        client = self._client
        result: list[RegisteredModelInfo] = []
        for model in client.search_registered_models(max_results=1000):
            aliases = {k: str(v) for k, v in (model.aliases or {}).items()}
            by_version: dict[str, list[str]] = {}
            for alias, version in aliases.items():
                by_version.setdefault(version, []).append(alias)
            versions = [
                self._version_info(mv, tuple(sorted(by_version.get(str(mv.version), []))))
                for mv in client.search_model_versions(f"name='{model.name}'", max_results=1000)
            ]
            versions.sort(key=lambda v: int(v.version), reverse=True)
            result.append(RegisteredModelInfo(model.name, aliases, tuple(versions)))
        return sorted(result, key=lambda m: m.name)

    def fetch(self, name: str, version: str) -> ResolvedModel:
        """Copy a version's files to the local cache and verify every hash.

        The copy is made in a scratch folder and renamed into place, so a half-downloaded
        version is never seen; a cached copy is re-verified on every fetch, never trusted.
        Raises ArtifactVerificationError when the stored files do not match the manifest.
        """
        info = self.get_version(name, version)
        target = self.cache_dir / name / info.version
        if target.is_dir():
            try:
                manifest = verify_manifest(target, info.manifest_sha256)
                return ResolvedModel(name, info.version, target, manifest)
            except ArtifactVerificationError as exc:
                # A damaged local copy is replaced from the store, which is checked again.
                log.warning(
                    "cached copy of %s v%s rejected (%s); fetching again", name, version, exc
                )
                shutil.rmtree(target, ignore_errors=True)
        self._download(name, info.version, target)
        manifest = verify_manifest(target, info.manifest_sha256)
        return ResolvedModel(name, info.version, target, manifest)

    def _download(self, name: str, version: str, target: Path) -> None:
        import mlflow.artifacts

        uri = self._client.get_model_version_download_uri(name, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(scratch), tracking_uri=self.tracking_uri
                )
            )
            # Another process may have won the race; its copy is verified by the caller.
            with contextlib.suppress(OSError):
                local.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def resolve(self, name: str, alias: str) -> ResolvedModel:
        """Fetch and verify the version ``name@alias`` points to."""
        version = self.alias_version(name, alias)
        if version is None:
            raise ModelNotFoundError(f"{name}@{alias} is not set")
        return self.fetch(name, version)


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _is_older(version: str, than: str | None) -> bool:
    return than is not None and int(version) < int(than)
