"""Artifact manifests: the sha256 of every file of a model version, checked before loading.

A manifest is what makes a directory of model files trustworthy: serving recomputes every hash
and refuses the load on any mismatch, missing file or unexpected extra file. The manifest's own
hash is stored in the registry beside the version, so rewriting the manifest does not help an
attacker either. Files that could execute code when loaded (pickles) are refused when writing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "MANIFEST_NAME",
    "ArtifactVerificationError",
    "UnsafeArtifactError",
    "file_sha256",
    "verify_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

#: Extensions of formats that run code on load (pickle and friends); never shipped.
_UNSAFE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".dill", ".cloudpickle"})


class ArtifactVerificationError(RuntimeError):
    """A model version's files do not match its manifest: the load is refused."""


class UnsafeArtifactError(ValueError):
    """A file in a format that can execute code on load was about to be registered."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large models do not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _looks_like_pickle(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(2)
    # Pickle protocols 2-5 start with the PROTO opcode 0x80 followed by the protocol number.
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _artifact_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


def write_manifest(directory: Path, metadata: Mapping[str, Any] | None = None) -> str:
    """Hash every file under ``directory`` into ``manifest.json``; return the manifest's sha256.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "model.txt").write_text("tree")
    >>> digest = write_manifest(d, {"features": ["amount"]})
    >>> verify_manifest(d, digest)["files"]["model.txt"]["bytes"]
    4
    """
    files: dict[str, dict[str, Any]] = {}
    for path in _artifact_files(directory):
        if path.suffix.lower() in _UNSAFE_SUFFIXES or _looks_like_pickle(path):
            raise UnsafeArtifactError(
                f"{path.name}: pickle-like artifacts can run code when loaded; "
                "save models in a data-only format (LightGBM text, JSON, .npz)"
            )
        rel = path.relative_to(directory).as_posix()
        files[rel] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "files": files,
        "metadata": dict(metadata or {}),
    }
    target = directory / MANIFEST_NAME
    target.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    return file_sha256(target)


def verify_manifest(directory: Path, expected_sha256: str | None) -> dict[str, Any]:
    """Check ``directory`` against its manifest and return the manifest.

    Raises :class:`ArtifactVerificationError` naming the first problem: the manifest is
    missing or was changed, a file is missing, has another hash, or is not listed.
    """
    target = directory / MANIFEST_NAME
    if not target.is_file():
        raise ArtifactVerificationError(f"{directory}: no {MANIFEST_NAME}")
    if expected_sha256 is not None and file_sha256(target) != expected_sha256:
        raise ArtifactVerificationError(
            f"{target}: manifest hash differs from the one registered with this version"
        )
    manifest: dict[str, Any] = json.loads(target.read_text())
    listed: dict[str, dict[str, Any]] = manifest.get("files", {})
    for rel, entry in sorted(listed.items()):
        path = directory / rel
        if not path.is_file():
            raise ArtifactVerificationError(f"{directory}: artifact file {rel} is missing")
        if file_sha256(path) != entry["sha256"]:
            raise ArtifactVerificationError(
                f"{directory}: artifact file {rel} was modified (sha256 mismatch)"
            )
    present = {p.relative_to(directory).as_posix() for p in _artifact_files(directory)}
    extra = sorted(present - set(listed))
    if extra:
        raise ArtifactVerificationError(f"{directory}: unexpected files not in manifest: {extra}")
    return manifest
