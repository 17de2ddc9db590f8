"""Hot reload: a running server follows alias moves in the registry without a failed request."""

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.serving.context import ServiceContext
from nexafi_ai.serving.reload import ModelWatcher, SyncOutcome
from nexafi_ai.settings import Settings
from nexafi_ai.training import train_and_register
from nexafi_ai.usecases import UseCase

BODY = {"id": "r1", "x1": 0.3, "x2": -1.2}
FAST = {"reload_interval_s": 0.05}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(app: FastAPI) -> Iterator[int]:
    """``app`` on a real uvicorn server in a thread; yields its port, stops it on exit."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        assert not thread.is_alive()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _ctx(app: FastAPI) -> ServiceContext:
    ctx: ServiceContext = app.state.ctx
    return ctx


def _tamper(registry: ModelRegistry, toy: UseCase, version: ModelVersionInfo) -> None:
    """Break one file of ``version`` in the artifact store, so its hash no longer matches."""
    run_dir = registry.artifact_root / toy.model_name
    (weights,) = [p for p in run_dir.rglob("weights.json") if str(version.run_id) in str(p)]
    weights.write_text('{"weights": [100.0, 100.0, 100.0]}')


async def _traffic(
    port: int, app: FastAPI, move: Callable[[], None], clients: int = 8
) -> list[tuple[int, str, bool, str]]:
    """``clients`` concurrent callers until the alias moved, was swapped and 150 more answered.

    Each result is (status, X-Model-Version, whether the swap was done when the request was
    sent, request id).
    """
    handle = _ctx(app).handles["toy"]
    results: list[tuple[int, str, bool, str]] = []
    stop = asyncio.Event()
    counter = iter(range(1_000_000))

    async def caller(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            i = next(counter)
            swapped = handle.serving_version == "2"
            r = await client.post(
                "/v1/toy/predict",
                json={"id": f"c{i}", "x1": (i % 17) / 17, "x2": -(i % 5) / 5},
                headers={"X-Request-ID": f"req-{i}"},
                timeout=30,
            )
            results.append(
                (r.status_code, r.headers.get("X-Model-Version", ""), swapped, f"req-{i}")
            )

    async def conductor() -> None:
        while len(results) < 150:
            await asyncio.sleep(0.005)
        await asyncio.to_thread(move)  # another replica or the CLI promotes version 2
        while handle.serving_version != "2":
            await asyncio.sleep(0.005)
        after = len(results)
        while len(results) < after + 150:
            await asyncio.sleep(0.005)
        stop.set()

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
        await asyncio.wait_for(
            asyncio.gather(conductor(), *(caller(client) for _ in range(clients))), timeout=60
        )
    return results


def test_alias_move_is_picked_up_under_concurrent_traffic_with_zero_failures(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
    engine: Engine,
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    assert v2.version == "2"
    app = create_app(settings.model_copy(update=FAST), use_cases={toy.name: toy})
    with _serving(app) as port:

        def move() -> None:
            registry.set_alias(toy.model_name, "champion", "2", actor="test", reason="promote")

        results = asyncio.run(_traffic(port, app, move))
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text

    assert len(results) >= 300
    assert [r for r in results if r[0] != 200] == [], "no request may fail during the swap"
    assert {r[1] for r in results} == {"1", "2"}
    assert {r[1] for r in results if r[2]} == {"2"}, "after the swap only the new version"
    loaded = [line for line in metrics.splitlines() if line.startswith("nexafi_model_loaded_info")]
    assert loaded == ['nexafi_model_loaded_info{model="nexafi-toy",use_case="toy",version="2"} 1.0']
    with engine.connect() as conn:
        query = select(inference_log.c.request_id, inference_log.c.model_version)
        logged = {row.request_id: row.model_version for row in conn.execute(query)}
    assert logged == {request_id: version for _, version, _, request_id in results}


def test_broken_version_is_refused_once_and_a_later_good_one_is_picked_up(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    _tamper(registry, toy, v2)
    app = create_app(settings.model_copy(update=FAST), use_cases={toy.name: toy})
    with TestClient(app) as client:
        ctx = _ctx(app)
        handle = ctx.handles["toy"]
        registry.set_alias(toy.model_name, "champion", "2", actor="someone")
        _wait_for(lambda: handle.refused_version == "2", "the watcher to refuse version 2")
        time.sleep(0.3)  # several more ticks: the refused version is not retried each time
        failures = 'nexafi_model_load_failures_total{use_case="toy"} 1.0'
        assert failures in client.get("/metrics").text
        r = client.post("/v1/toy/predict", json=BODY)
        assert r.status_code == 200
        assert r.headers["X-Model-Version"] == "1", "the old version keeps serving"
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert "sha256 mismatch" in ready.json()["models"]["toy"]["error"]

        # The backoff: once it has passed, the same version is tried (and refused) again.
        watcher = ModelWatcher(ctx, interval_s=0, retry_refused_s=3600)
        assert watcher.sync(handle) is SyncOutcome.REFUSED_EARLIER
        assert (
            ModelWatcher(ctx, interval_s=0, retry_refused_s=0).sync(handle) is SyncOutcome.REFUSED
        )

        v3 = train_and_register(toy, registry, size="tiny", seed=11)
        registry.set_alias(toy.model_name, "champion", v3.version, actor="someone")
        _wait_for(lambda: handle.serving_version == v3.version, "the watcher to load version 3")
        r = client.post("/v1/toy/predict", json=BODY)
        assert r.headers["X-Model-Version"] == v3.version
        assert handle.last_error is None
        assert watcher.sync(handle) is SyncOutcome.UNCHANGED
        text = client.get("/metrics").text
        assert 'nexafi_model_load_failures_total{use_case="toy"} 2.0' in text
        assert f'use_case="toy",version="{v3.version}"}} 1.0' in text


def test_zero_interval_disables_the_watcher_and_reload_stays_on_demand(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    registry: ModelRegistry,
) -> None:
    v2 = train_and_register(toy, registry, size="tiny", seed=7)
    app = create_app(settings.model_copy(update={"reload_interval_s": 0}), use_cases={"toy": toy})
    with TestClient(app) as client:
        registry.set_alias(toy.model_name, "champion", v2.version, actor="someone")
        time.sleep(0.2)
        assert client.post("/v1/toy/predict", json=BODY).headers["X-Model-Version"] == "1"
        r = client.post("/v1/models/nexafi-toy/reload")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "name": "nexafi-toy",
            "alias": "champion",
            "serving_version": "2",
            "challenger": {"alias": "challenger", "version": None, "error": None},
        }
        assert client.post("/v1/toy/predict", json=BODY).headers["X-Model-Version"] == "2"


def test_registry_outage_keeps_serving(
    settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(settings.model_copy(update=FAST), use_cases={"toy": toy})
    with TestClient(app) as client:
        ctx = _ctx(app)

        def down(*_: Any, **__: Any) -> str:
            raise ConnectionError("registry is down")

        monkeypatch.setattr(ctx.registry, "alias_version", down)
        assert (
            ModelWatcher(ctx, interval_s=0).sync(ctx.handles["toy"]) is SyncOutcome.REGISTRY_ERROR
        )
        time.sleep(0.2)
        r = client.post("/v1/toy/predict", json=BODY)
        assert r.status_code == 200
        assert r.headers["X-Model-Version"] == "1"
        assert client.get("/readyz").status_code == 200
