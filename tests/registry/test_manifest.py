import pickle
from pathlib import Path

import pytest

from nexafi_ai.registry import (
    ArtifactVerificationError,
    UnsafeArtifactError,
    verify_manifest,
    write_manifest,
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model.txt").write_text("tree 0\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "config.json").write_text('{"a": 1}')
    return tmp_path


def test_round_trip_lists_every_file(model_dir: Path) -> None:
    digest = write_manifest(model_dir, {"features": ["amount"]})
    manifest = verify_manifest(model_dir, digest)
    assert set(manifest["files"]) == {"model.txt", "sub/config.json"}
    assert manifest["metadata"] == {"features": ["amount"]}
    assert len(digest) == 64


def test_modified_file_is_refused(model_dir: Path) -> None:
    digest = write_manifest(model_dir)
    (model_dir / "model.txt").write_text("tree 1\n")
    with pytest.raises(ArtifactVerificationError, match=r"model\.txt was modified"):
        verify_manifest(model_dir, digest)


def test_missing_file_is_refused(model_dir: Path) -> None:
    digest = write_manifest(model_dir)
    (model_dir / "sub" / "config.json").unlink()
    with pytest.raises(ArtifactVerificationError, match="is missing"):
        verify_manifest(model_dir, digest)


def test_unlisted_file_is_refused(model_dir: Path) -> None:
    digest = write_manifest(model_dir)
    (model_dir / "extra.bin").write_bytes(b"\x00")
    with pytest.raises(ArtifactVerificationError, match="unexpected files"):
        verify_manifest(model_dir, digest)


def test_rewritten_manifest_is_refused(model_dir: Path) -> None:
    digest = write_manifest(model_dir)
    (model_dir / "model.txt").write_text("evil\n")
    write_manifest(model_dir)  # an attacker re-hashes the files...
    with pytest.raises(ArtifactVerificationError, match="manifest hash differs"):
        verify_manifest(model_dir, digest)  # ...but the registered hash is the old one


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "innocent.bin"])
def test_pickles_are_never_written(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(pickle.dumps({"a": 1}, protocol=4))
    with pytest.raises(UnsafeArtifactError):
        write_manifest(tmp_path)
