"""Throughput and latency of POST /v1/fraud/score beside a bare endpoint of the same server.

    .venv/bin/python bench/fraud_latency.py [--requests 20000] [--connections 16] [--size small]

Trains a fraud champion on built-in data in a temporary home (or uses ``--home``), starts
``nexafi-ai serve`` on 127.0.0.1 (one worker, inference logging on, SQLite), then drives it
with a bounded load: ``wrk`` when it is installed (a C load generator, so the client is not
the bottleneck; ``apt-get install wrk``), else a small asyncio HTTP/1.1 keep-alive client in
this process. Each scoring request is a new transaction of a card drawn from a 5,000-card
population, so the windows hold real history. Prints requests/s and p50/p90/p99 latency for
``GET /livez`` (the bare server) and for the scoring route, their ratio, and checks that every
scored request reached ``inference_log``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "nexafi-ai"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bodies(n: int, prefix: str, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    out = []
    for i in range(n):
        card = rng.randrange(5000)
        ts = start + i * 2 + rng.randrange(2)
        out.append(
            json.dumps(
                {
                    "transaction_id": f"{prefix}-{i}",
                    "card_id": f"card_{card:06d}",
                    "terminal_id": f"term_{(card * 7 + rng.randrange(20)) % 10000:06d}",
                    "amount": round(rng.lognormvariate(3.5, 0.9), 2),
                    "currency": "EUR",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
                    "mcc": "5411",
                    "channel": "contactless",
                    "country": "FR",
                }
            ).encode()
        )
    return out


async def connection(
    port: int, requests: list[bytes], latencies: list[float], statuses: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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


def http_post(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def http_get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def drive(
    port: int, raws: list[bytes], connections: int
) -> tuple[float, np.ndarray, list[int]]:
    latencies: list[float] = []
    statuses: list[int] = []
    shards = [raws[i::connections] for i in range(connections)]
    begin = time.perf_counter()
    await asyncio.gather(*(connection(port, s, latencies, statuses) for s in shards))
    elapsed = time.perf_counter() - begin
    return len(raws) / elapsed, np.array(latencies) * 1000.0, statuses


def report(name: str, rps: float, ms: np.ndarray, statuses: list[int]) -> None:
    bad = sum(1 for s in statuses if s != 200)
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    print(
        f"{name:22s} {rps:9,.0f} req/s   p50 {p50:6.2f} ms   p90 {p90:6.2f} ms   "
        f"p99 {p99:6.2f} ms   non-200: {bad}"
    )


WRK_SCRIPT = """
counter = 0
math.randomseed(7)
request = function()
  counter = counter + 1
  local card = math.random(0, 4999)
  local amount = math.exp(3.5 + 0.9 * (math.random() + math.random() + math.random() - 1.5))
  local t = 1767225600 + math.floor(counter / 2)
  local body = string.format('{"transaction_id":"%s-%d","card_id":"card_%06d",'
    .. '"terminal_id":"term_%06d","amount":%.2f,"currency":"EUR",'
    .. '"timestamp":"%s","mcc":"5411","channel":"contactless","country":"FR"}',
    "PREFIX", counter, card, (card * 7 + math.random(0, 19)) % 10000, amount,
    os.date("!%Y-%m-%dT%H:%M:%SZ", t))
  return wrk.format("POST", "/v1/fraud/score", {["Content-Type"]="application/json"}, body)
end
"""


def wrk(
    port: int, seconds: int, connections: int, script: str | None
) -> tuple[float, list[float], int, int]:
    """Run wrk; return requests/s, [p50, p90, p99] in ms, requests, non-2xx responses."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        if script:
            fh.write(script)
    if script:
        args += ["-s", fh.name]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}/livez" if not script else f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(fh.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, [ms("50"), ms("90"), ms("99")], total, int(bad.group(1)) if bad else 0


def print_row(name: str, rps: float, pct: list[float], bad: int) -> None:
    print(
        f"{name:22s} {rps:9,.0f} req/s   p50 {pct[0]:6.2f} ms   p90 {pct[1]:6.2f} ms   "
        f"p99 {pct[2]:6.2f} ms   non-2xx: {bad}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--size", default="small", help="built-in data size for the model")
    parser.add_argument("--home", type=Path, default=None, help="reuse a home with a champion")
    parser.add_argument("--seconds", type=int, default=15, help="per route, with wrk")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--redis", default=None, help="serve windows from this Redis URL")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="nexafi-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXAFI_")}
    env.update({"NEXAFI_HOME": str(home), "NEXAFI_LOG_LEVEL": "WARNING"})
    if not (home / "mlflow.db").exists():
        print(f"training a fraud champion on built-in '{args.size}' data in {home} ...")
        subprocess.run(
            [str(CLI), "train", "fraud", "--size", args.size, "--promote", "champion"],
            env=env,
            check=True,
            cwd=ROOT,
        )
    if args.redis:
        env["NEXAFI_REDIS_URL"] = args.redis
    port = free_port()
    prefix = f"bench-{time.time_ns()}"
    server = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(http_get("/readyz"))
                    if b" 200 " in s.recv(200):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not become ready")
            time.sleep(0.2)

        warm = [http_post("/v1/fraud/score", b) for b in bodies(2_000, f"{prefix}w", seed=99)]
        asyncio.run(drive(port, warm, args.connections))
        use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
        if use_wrk:
            print(f"wrk, {args.seconds}s per route, {args.connections} connections, 1 worker")
            rps_bare, pct, _, bad = wrk(port, args.seconds, args.connections, None)
            print_row("GET /livez (bare)", rps_bare, pct, bad)
            script = WRK_SCRIPT.replace("PREFIX", prefix)
            rps, pct, measured, bad = wrk(port, args.seconds, args.connections, script)
            print_row("POST /v1/fraud/score", rps, pct, bad)
            print(f"ratio score/bare throughput: {rps / rps_bare:.2f}")
            args.requests = measured
            return
        bare = [http_get("/livez")] * args.requests
        scored = [http_post("/v1/fraud/score", b) for b in bodies(args.requests, prefix, seed=1)]
        print(f"{args.requests:,} requests per route, {args.connections} connections, 1 worker")
        rps_bare, ms_bare, st_bare = asyncio.run(drive(port, bare, args.connections))
        report("GET /livez (bare)", rps_bare, ms_bare, st_bare)
        rps, ms, st = asyncio.run(drive(port, scored, args.connections))
        report("POST /v1/fraud/score", rps, ms, st)
        print(f"ratio score/bare throughput: {rps / rps_bare:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        count_logged(home, prefix, args.requests)


def count_logged(home: Path, prefix: str, expected: int) -> None:
    import sqlite3

    with sqlite3.connect(home / "nexafi.db") as db:
        (logged,) = db.execute(
            "SELECT count(*) FROM inference_log WHERE request_id LIKE ?", (f"fraud:{prefix}-%",)
        ).fetchone()
    # wrk counts completed requests; the few still in flight when it stopped are logged too.
    print(f"inference_log rows for the measured requests: {logged:,} (answered: {expected:,})")


if __name__ == "__main__":
    main()
