"""500 concurrent requests against a real uvicorn server: exactly 500 log rows after shutdown."""

import asyncio
import socket
import threading
import time

import httpx
import uvicorn
from sqlalchemy import Engine, func, select

from nexafi_ai.db import inference_log
from nexafi_ai.registry import ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fire(port: int, n: int, concurrency: int) -> list[int]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

        async def one(i: int) -> int:
            r = await client.post(
                "/v1/toy/predict",
                json={"id": f"c{i}", "x1": i / n, "x2": -i / n},
                headers={"X-Request-ID": f"req-{i:04d}"},
                timeout=30,
            )
            return r.status_code

        return await asyncio.gather(*(one(i) for i in range(n)))


def test_500_concurrent_requests_give_500_rows(
    settings: Settings, toy: UseCase, toy_champion: ModelVersionInfo, engine: Engine
) -> None:
    # A tiny queue forces part of the burst through the disk spool as well.
    settings = settings.model_copy(update={"log_queue_size": 50, "log_batch_size": 64})
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, use_cases={toy.name: toy}),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)

    statuses = asyncio.run(_fire(port, 500, concurrency=64))
    server.should_exit = True
    thread.join(timeout=60)
    assert not thread.is_alive()

    assert statuses == [200] * 500
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(inference_log)).scalar_one()
        ids = set(conn.execute(select(inference_log.c.request_id)).scalars())
    assert count == 500
    assert ids == {f"req-{i:04d}" for i in range(500)}
    assert not any(settings.spool_dir.glob("*")), "the spool is drained by shutdown"
