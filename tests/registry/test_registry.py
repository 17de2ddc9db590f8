from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from nexafi_ai.db import audit_log
from nexafi_ai.registry import (
    ArtifactVerificationError,
    ModelNotFoundError,
    ModelRegistry,
)


def _artifact(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / f"art-{text}"
    directory.mkdir()
    (directory / "model.txt").write_text(text)
    return directory


def _audit(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_log_register_and_read_back(registry: ModelRegistry, tmp_path: Path) -> None:
    info = registry.log_version(
        "nexafi-demo",
        _artifact(tmp_path, "v1"),
        params={"depth": 4},
        metrics={"roc_auc": 0.91},
        metadata={"features": ["a", "b"]},
        use_case="demo",
    )
    assert info.version == "1"
    assert info.metrics == {"roc_auc": 0.91}
    assert info.params == {"depth": "4"}
    assert info.manifest_sha256 is not None
    resolved = registry.fetch("nexafi-demo", "1")
    assert (resolved.path / "model.txt").read_text() == "v1"
    assert resolved.manifest["metadata"]["features"] == ["a", "b"]
    assert resolved.manifest["metadata"]["metrics"] == {"roc_auc": 0.91}


def test_aliases_move_and_every_move_is_audited(
    registry: ModelRegistry, engine: Engine, tmp_path: Path
) -> None:
    for text in ("v1", "v2"):
        registry.log_version("nexafi-demo", _artifact(tmp_path, text))
    assert registry.alias_version("nexafi-demo", "champion") is None
    first = registry.set_alias("nexafi-demo", "champion", "1", actor="alice", reason="first")
    second = registry.set_alias("nexafi-demo", "champion", "2", actor="bob")
    back = registry.set_alias("nexafi-demo", "champion", "1", actor="carol", reason="regression")
    registry.set_alias("nexafi-demo", "challenger", "2", actor="bob")
    assert (first.from_version, first.to_version) == (None, "1")
    assert (second.from_version, second.to_version) == ("1", "2")
    assert (back.from_version, back.to_version) == ("2", "1")
    assert registry.alias_version("nexafi-demo", "champion") == "1"
    assert registry.resolve("nexafi-demo", "challenger").version == "2"
    rows = _audit(engine)
    assert [(r["actor"], r["action"], r["from_version"], r["to_version"]) for r in rows] == [
        ("alice", "alias.promote", None, "1"),
        ("bob", "alias.promote", "1", "2"),
        ("carol", "alias.rollback", "2", "1"),
        ("bob", "alias.promote", None, "2"),
    ]
    assert rows[0]["target"] == "nexafi-demo@champion"
    assert rows[2]["details"] == {"reason": "regression"}
    assert all(r["created_at"].tzinfo is not None for r in rows)

    models = registry.list_models()
    assert [m.name for m in models] == ["nexafi-demo"]
    assert models[0].aliases == {"champion": "1", "challenger": "2"}
    assert [(v.version, v.aliases) for v in models[0].versions] == [
        ("2", ("challenger",)),
        ("1", ("champion",)),
    ]


def test_delete_alias_is_audited(registry: ModelRegistry, engine: Engine, tmp_path: Path) -> None:
    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"))
    registry.set_alias("nexafi-demo", "challenger", "1", actor="alice")
    change = registry.delete_alias("nexafi-demo", "challenger", actor="alice")
    assert (change.from_version, change.to_version) == ("1", None)
    assert registry.alias_version("nexafi-demo", "challenger") is None
    assert _audit(engine)[-1]["action"] == "alias.delete"
    with pytest.raises(ModelNotFoundError):
        registry.delete_alias("nexafi-demo", "challenger", actor="alice")


def test_unknown_version_and_alias(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("nexafi-demo", "champion", "1", actor="x")
    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"))
    with pytest.raises(ModelNotFoundError):
        registry.set_alias("nexafi-demo", "champion", "7", actor="x")
    with pytest.raises(ModelNotFoundError):
        registry.resolve("nexafi-demo", "champion")
    with pytest.raises(ValueError, match="invalid alias"):
        registry.set_alias("nexafi-demo", "Bad Alias", "1", actor="x")


def test_tampered_store_artifact_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"))
    stored = next(registry.artifact_root.rglob("model.txt"))
    stored.write_text("tampered")
    with pytest.raises(ArtifactVerificationError, match=r"model\.txt was modified"):
        registry.fetch("nexafi-demo", "1")


def test_damaged_cache_copy_is_refetched(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"))
    first = registry.fetch("nexafi-demo", "1")
    (first.path / "model.txt").write_text("bit rot")
    again = registry.fetch("nexafi-demo", "1")
    assert (again.path / "model.txt").read_text() == "v1"


def test_missing_store_artifact_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"))
    next(registry.artifact_root.rglob("model.txt")).unlink()
    with pytest.raises(ArtifactVerificationError, match="missing"):
        registry.fetch("nexafi-demo", "1")


def test_runs_are_visible_to_plain_mlflow(registry: ModelRegistry, tmp_path: Path) -> None:
    """What `mlflow ui` shows: the experiment, the run's metrics, the registered version."""
    from mlflow import MlflowClient

    registry.log_version("nexafi-demo", _artifact(tmp_path, "v1"), metrics={"ap": 0.7})
    client = MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    experiment = client.get_experiment_by_name("nexafi-demo")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.data.metrics for r in runs] == [{"ap": 0.7}]
    assert client.get_model_version("nexafi-demo", "1").run_id == runs[0].info.run_id
