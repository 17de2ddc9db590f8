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
import random
import subprocess
import tempfile
import time
from pathlib import Path

from loadgen import (
    CLI,
    ROOT,
    bench_env,
    count_logged,
    drive,
    free_port,
    http_get,
    http_post,
    print_logged,
    serve,
    use_wrk,
    wait_ready,
    wrk,
)


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
    env = bench_env(home)
    # Serve fraud only: /readyz waits for every served use case to have a model.
    env["NEXAFI_USE_CASES"] = '["fraud"]'
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
    server = serve(port, env)
    try:
        wait_ready(port, server)
        warm = [http_post("/v1/fraud/score", b) for b in bodies(2_000, f"{prefix}w", seed=99)]
        asyncio.run(drive("warm-up", port, warm, args.connections))
        if use_wrk(args.client):
            print(f"wrk, {args.seconds}s per route, {args.connections} connections, 1 worker")
            bare = wrk("GET /livez (bare)", port, args.seconds, args.connections, None)
            print(bare.line())
            script = WRK_SCRIPT.replace("PREFIX", prefix)
            row = wrk("POST /v1/fraud/score", port, args.seconds, args.connections, script)
            print(row.line())
            print(f"ratio score/bare throughput: {row.rps / bare.rps:.2f}")
            args.requests = row.requests
            return
        livez = [http_get("/livez")] * args.requests
        scored = [http_post("/v1/fraud/score", b) for b in bodies(args.requests, prefix, seed=1)]
        print(f"{args.requests:,} requests per route, {args.connections} connections, 1 worker")
        bare = asyncio.run(drive("GET /livez (bare)", port, livez, args.connections, ok={200}))
        print(bare.line(bad_label="non-200"))
        row = asyncio.run(drive("POST /v1/fraud/score", port, scored, args.connections, ok={200}))
        print(row.line(bad_label="non-200"))
        print(f"ratio score/bare throughput: {row.rps / bare.rps:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        print_logged(count_logged(home, f"fraud:{prefix}-%"), args.requests)


if __name__ == "__main__":
    main()
