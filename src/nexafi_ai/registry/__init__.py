"""Model registry: MLflow runs and versions, sha256 manifests, audited aliases."""

from nexafi_ai.registry.manifest import (
    ArtifactVerificationError,
    UnsafeArtifactError,
    verify_manifest,
    write_manifest,
)
from nexafi_ai.registry.mlflow_registry import (
    AliasChange,
    ModelNotFoundError,
    ModelRegistry,
    ModelVersionInfo,
    RegisteredModelInfo,
    ResolvedModel,
)

__all__ = [
    "AliasChange",
    "ArtifactVerificationError",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "ResolvedModel",
    "UnsafeArtifactError",
    "verify_manifest",
    "write_manifest",
]
