import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from nexafi_ai.settings import Settings

KEY = "k" * 32


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'nexafi.db'}"
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert s.artifacts == tmp_path / "artifacts"
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert not s.auth_enabled


def test_reads_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEXAFI_HOME", str(tmp_path))
    monkeypatch.setenv("NEXAFI_API_KEYS", json.dumps({KEY: ["score", "read"]}))
    monkeypatch.setenv("NEXAFI_PORT", "9001")
    s = Settings()
    assert s.port == 9001
    assert s.api_keys == {KEY: frozenset({"score", "read"})}
    assert s.auth_enabled


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::"])
def test_public_bind_without_keys_is_refused(host: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no API keys"):
        Settings(home=tmp_path, host=host)


def test_public_bind_with_keys_is_allowed(tmp_path: Path) -> None:
    assert Settings(home=tmp_path, host="0.0.0.0", api_keys={KEY: {"score"}}).host == "0.0.0.0"


def test_keys_file_is_merged(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({KEY: ["admin"]}))
    s = Settings(home=tmp_path, api_keys_file=path, host="0.0.0.0")
    assert s.api_keys[KEY] == frozenset({"admin"})


@pytest.mark.parametrize(
    ("keys", "message"),
    [({KEY: ["root"]}, "unknown scopes"), ({"short": ["score"]}, "at least 16")],
)
def test_bad_keys_are_refused(keys: dict[str, list[str]], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(home=tmp_path, api_keys=keys)
