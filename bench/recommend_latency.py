"""Latency of the recommendation endpoints beside a bare endpoint of the same server, one run.

    .venv/bin/python bench/recommend_latency.py [--size small] [--seconds 10] [--connections 16]

Trains a recommend champion on built-in data in a temporary home (or uses ``--home``), starts
``nexafi-ai serve`` on 127.0.0.1 (one worker, inference logging on, SQLite), then measures, in
this order and against the same process:

- ``GET /livez``: the bare server (routing, middleware, an empty JSON answer);
- ``GET /v1/recommendations/{user_id}?k=10`` over many known customers (ids of the built-in
  data that the model answers for, drawn at random per request);
- ``POST /v1/recommendations`` with a new customer's profile (a cold start), profiles drawn at
  random per request.

The load comes from ``wrk`` when installed (a C load generator, so the client is not the
bottleneck; ``apt-get install wrk``), else from a small asyncio HTTP/1.1 keep-alive client in
this process. Prints requests/s and p50/p90/p99 latency per route, each route's ratio to the
bare one, and checks that the measured requests reached ``inference_log``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from loadgen import (
    CLI,
    HOST,
    ROOT,
    Row,
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

GOALS = ("retirement", "emergency_fund", "home", "travel", "education", "wealth")
APPETITES = ("low", "medium", "high")


def show(row: Row, bare: Row) -> str:
    """The row and, but for the bare route itself, its ratios to the bare route."""
    line = row.line(width=48, rps_width=8)
    if row is not bare:
        line += (
            f"\n{'':48s} vs bare: {row.rps / bare.rps:.2f}x throughput, "
            f"p50 {row.p50 / bare.p50:.1f}x, p99 {row.p99 / bare.p99:.1f}x"
        )
    return line


def profile(rng: random.Random) -> dict[str, object]:
    """A new customer as a fintech app would describe one at sign-up."""
    return {
        "age": rng.randint(18, 80),
        "income": round(rng.lognormvariate(10.6, 0.6), 2),
        "savings_rate": round(rng.uniform(0.0, 0.4), 3),
        "risk_appetite": rng.choice(APPETITES),
        "goal": rng.choice(GOALS),
    }


def lua_get(users: list[str], prefix: str) -> str:
    table = ",".join(json.dumps(u) for u in users)
    return f"""
local users = {{{table}}}
local counter = 0
math.randomseed(7)
request = function()
  counter = counter + 1
  local user = users[math.random(1, #users)]
  return wrk.format("GET", "/v1/recommendations/" .. user .. "?k=10",
    {{["X-Request-ID"] = "{prefix}g-" .. counter}})
end
"""


def lua_post(prefix: str) -> str:
    goals = ",".join(json.dumps(g) for g in GOALS)
    appetites = ",".join(json.dumps(a) for a in APPETITES)
    return f"""
local goals = {{{goals}}}
local appetites = {{{appetites}}}
local counter = 0
math.randomseed(11)
request = function()
  counter = counter + 1
  local body = string.format(
    '{{"profile":{{"age":%d,"income":%.2f,"savings_rate":%.3f,"risk_appetite":"%s",'
    .. '"goal":"%s"}},"k":10}}',
    math.random(18, 80), math.exp(10.6 + 0.6 * (math.random() + math.random() - 1.0) * 1.7),
    math.random() * 0.4, appetites[math.random(1, #appetites)], goals[math.random(1, #goals)])
  return wrk.format("POST", "/v1/recommendations",
    {{["Content-Type"] = "application/json", ["X-Request-ID"] = "{prefix}p-" .. counter}}, body)
end
"""


def candidate_users(size: str, seed: int) -> list[str]:
    """Customer ids of the built-in data the champion was trained on."""
    from nexafi_ai.usecases import get_use_case

    data = get_use_case("recommend").builtin_data(size=size, seed=seed)
    interactions = getattr(data, "interactions", data)
    return sorted({str(u) for u in interactions["user_id"]})


def known_users(port: int, candidates: list[str], want: int) -> list[str]:
    """Up to ``want`` of ``candidates`` the served model knows (GET answers 200, not 404)."""
    rng = random.Random(3)
    sample = rng.sample(candidates, min(len(candidates), want * 2))
    known = []
    with socket.create_connection((HOST, port), timeout=5) as s:
        stream = s.makefile("rb")
        for user in sample:
            s.sendall(http_get(f"/v1/recommendations/{user}?k=10"))
            status = int(stream.readline().split()[1])
            length = 0
            while (line := stream.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            stream.read(length)
            if status == 200:
                known.append(user)
            if len(known) >= want:
                break
    return known


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", help="built-in data size for the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, default=None, help="reuse a home with a champion")
    parser.add_argument("--users", type=int, default=2000, help="known customers to draw from")
    parser.add_argument("--requests", type=int, default=20_000, help="per route, Python client")
    parser.add_argument("--seconds", type=int, default=10, help="per route, with wrk")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="nexafi-bench-"))
    env = bench_env(home)
    # Only this use case: readiness waits for every served model, and no other is trained here.
    env["NEXAFI_USE_CASES"] = '["recommend"]'
    if not (home / "mlflow.db").exists():
        print(f"training a recommend champion on built-in '{args.size}' data in {home} ...")
        subprocess.run(
            [
                str(CLI),
                "train",
                "recommend",
                "--size",
                args.size,
                "--seed",
                str(args.seed),
                "--promote",
                "champion",
            ],
            env=env,
            check=True,
            cwd=ROOT,
        )
    port = free_port()
    prefix = f"bench-{time.time_ns()}-"
    server = serve(port, env)
    answered = 0
    try:
        wait_ready(port, server, timeout=90)
        users = known_users(port, candidate_users(args.size, args.seed), args.users)
        if not users:
            raise SystemExit("the served model knows none of the built-in customers")
        rng = random.Random(5)
        warm = [http_get(f"/v1/recommendations/{rng.choice(users)}?k=10") for _ in range(2000)]
        warm += [
            http_post("/v1/recommendations", json.dumps({"profile": profile(rng)}).encode())
            for _ in range(2000)
        ]
        asyncio.run(drive("warm-up", port, warm, args.connections))

        known = f"GET /v1/recommendations/{{id}} k=10 ({len(users):,} users)"
        cold = "POST /v1/recommendations (cold start)"
        if use_wrk(args.client):
            print(f"wrk, {args.seconds}s per route, {args.connections} connections, 1 worker")
            rows = [
                wrk("GET /livez (bare)", port, args.seconds, args.connections, None),
                wrk(known, port, args.seconds, args.connections, lua_get(users, prefix)),
                wrk(cold, port, args.seconds, args.connections, lua_post(prefix)),
            ]
        else:
            n = args.requests
            print(f"{n:,} requests per route, {args.connections} connections, 1 worker")
            gets = [
                http_get(f"/v1/recommendations/{rng.choice(users)}?k=10", f"{prefix}g-{i}")
                for i in range(n)
            ]
            posts = [
                http_post(
                    "/v1/recommendations",
                    json.dumps({"profile": profile(rng), "k": 10}).encode(),
                    f"{prefix}p-{i}",
                )
                for i in range(n)
            ]
            rows = [
                asyncio.run(
                    drive("GET /livez (bare)", port, [http_get("/livez")] * n, args.connections)
                ),
                asyncio.run(drive(known, port, gets, args.connections)),
                asyncio.run(drive(cold, port, posts, args.connections)),
            ]
        for row in rows:
            print(show(row, rows[0]))
        answered = sum(r.requests - r.bad for r in rows[1:])
    finally:
        server.terminate()
        server.wait(timeout=60)
    print_logged(count_logged(home, f"{prefix}%", use_case="recommend"), answered)


if __name__ == "__main__":
    main()
