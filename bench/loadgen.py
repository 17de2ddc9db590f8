"""Load-generation pieces shared by the HTTP latency benches (``fraud_latency``, ``recommend_...``).

Not a bench itself: the scripts in ``bench/`` import it (``from loadgen import ...``; a script
run as ``python bench/x.py`` has ``bench/`` on ``sys.path``). It holds what every such bench
does the same way:

- start ``nexafi-ai serve`` on a free 127.0.0.1 port with a clean environment and wait for
  ``/readyz``;
- build raw HTTP/1.1 requests (:func:`http_get`, :func:`http_post`);
- drive them over keep-alive connections with a small asyncio client (:func:`drive`), or run
  ``wrk`` with a Lua script and read its latency percentiles (:func:`wrk`); both give a
  :class:`Row`;
- count the measured requests that reached ``inference_log``.

What a bench sends (bodies, Lua scripts), how it trains its model and what it prints around
the rows stay in the bench.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "nexafi-ai"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Row:
    """One route's figures: throughput, latency percentiles (ms), requests, non-2xx answers."""

    name: str
    rps: float
    p50: float
    p90: float
    p99: float
    requests: int
    bad: int

    def line(self, width: int = 22, rps_width: int = 9, bad_label: str = "non-2xx") -> str:
        """The row as one line, the name padded to ``width``."""
        return (
            f"{self.name:{width}s} {self.rps:{rps_width},.0f} req/s   p50 {self.p50:6.2f} ms   "
            f"p90 {self.p90:6.2f} ms   p99 {self.p99:6.2f} ms   {bad_label}: {self.bad}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def bench_env(home: Path) -> dict[str, str]:
    """This process's environment without ``NEXAFI_*``, pointed at ``home``, logging quiet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXAFI_")}
    env.update({"NEXAFI_HOME": str(home), "NEXAFI_LOG_LEVEL": "WARNING"})
    return env


def serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``nexafi-ai serve`` (one worker) on ``port``; the caller stops it."""
    return subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll ``GET /readyz`` until it answers 200; exit if the server dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1) as s:
                s.sendall(http_get("/readyz"))
                if b" 200 " in s.recv(200):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("server did not become ready")
        time.sleep(0.2)


def http_get(path: str, request_id: str | None = None) -> bytes:
    extra = f"X-Request-ID: {request_id}\r\n" if request_id else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n".encode()


def http_post(path: str, body: bytes, request_id: str | None = None) -> bytes:
    extra = f"X-Request-ID: {request_id}\r\n" if request_id else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def connection(
    port: int, requests: list[bytes], latencies: list[float], statuses: list[int]
) -> None:
    """Send ``requests`` one after another on one keep-alive connection, timing each answer."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for raw in requests:
            begin = time.perf_counter()
            writer.write(raw)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - begin)
            statuses.append(int(status_line.split()[1]))
    finally:
        writer.close()


async def drive(
    name: str,
    port: int,
    raws: list[bytes],
    connections: int,
    ok: Container[int] = range(200, 300),
) -> Row:
    """Send ``raws`` over ``connections`` connections; answers not in ``ok`` count as bad."""
    latencies: list[float] = []
    statuses: list[int] = []
    shards = [raws[i::connections] for i in range(connections)]
    begin = time.perf_counter()
    await asyncio.gather(*(connection(port, s, latencies, statuses) for s in shards))
    elapsed = time.perf_counter() - begin
    p50, p90, p99 = np.percentile(np.array(latencies) * 1000.0, [50, 90, 99])
    bad = sum(1 for s in statuses if s not in ok)
    return Row(name, len(raws) / elapsed, p50, p90, p99, len(raws), bad)


def use_wrk(client: str) -> bool:
    """Whether ``--client`` (auto, wrk or python) means wrk here."""
    return client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)


def wrk(name: str, port: int, seconds: int, connections: int, script: str | None) -> Row:
    """Run wrk with the Lua ``script`` (``GET /livez`` when None) and read its figures."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script or "")
    if script:
        args += ["-s", fh.name]
    url = f"http://{HOST}:{port}/" if script else f"http://{HOST}:{port}/livez"
    try:
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(fh.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Row(name, rps, ms("50"), ms("90"), ms("99"), total, int(bad.group(1)) if bad else 0)


def count_logged(home: Path, request_ids: str, use_case: str | None = None) -> int:
    """Rows of ``inference_log`` whose request id is LIKE ``request_ids`` (and of ``use_case``)."""
    sql = "SELECT count(*) FROM inference_log WHERE request_id LIKE ?"
    params = [request_ids]
    if use_case is not None:
        sql = "SELECT count(*) FROM inference_log WHERE use_case = ? AND request_id LIKE ?"
        params = [use_case, request_ids]
    with sqlite3.connect(home / "nexafi.db") as db:
        (logged,) = db.execute(sql, params).fetchone()
    return int(logged)


def print_logged(logged: int, answered: int) -> None:
    # wrk counts completed requests; the few in flight when it stopped are logged as well.
    print(f"inference_log rows for the measured requests: {logged:,} (answered: {answered:,})")
