"""Inference log writer throughput beside a plain batched executemany, same process, same rows.

    .venv/bin/python bench/log_writer.py [--rows 50000] [--pg postgresql+psycopg://...]

Prints, per database: the cost of ``submit`` on the request path (microseconds per row), rows/s
end to end (submit everything, close, all committed), and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from nexafi_ai.db import inference_log, make_engine, upgrade
from nexafi_ai.serving.log_writer import InferenceLogWriter, InferenceRow


def rows(n: int, tag: str) -> list[InferenceRow]:
    now = datetime.now(UTC)
    return [
        {
            "request_id": f"{tag}-{i}",
            "use_case": "fraud",
            "entity_id": f"tx-{i}",
            "model_name": "nexafi-fraud",
            "model_version": "1",
            "inputs": {"amount": 12.5 + i, "mcc": "5411", "card": "tok_abc", "channel": "web"},
            "outputs": {"fraud_probability": 0.01, "decision": "approve", "reasons": ["a", "b"]},
            "score": 0.01,
            "decision": "approve",
            "latency_ms": 0.8,
            "shadow": None,
            "created_at": now,
        }
        for i in range(n)
    ]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(inference_log)).scalar_one())


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(inference_log))


def baseline(engine: Engine, data: list[InferenceRow], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(data), batch):
        with engine.begin() as conn:
            conn.execute(insert(inference_log), data[i : i + batch])
    return len(data) / (time.perf_counter() - start)


def writer(engine: Engine, data: list[InferenceRow], spool: Path) -> tuple[float, float]:
    log = InferenceLogWriter(engine, spool, queue_size=len(data) + 1)
    log.start()
    start = time.perf_counter()
    for row in data:
        log.submit(row)
    submitted = time.perf_counter()
    log.close()
    end = time.perf_counter()
    return (submitted - start) / len(data) * 1e6, len(data) / (end - start)


def run(name: str, engine: Engine, n: int) -> None:
    upgrade(engine)
    clear(engine)
    base = baseline(engine, rows(n, "base"), 1000)
    clear(engine)
    with tempfile.TemporaryDirectory() as spool:
        submit_us, through = writer(engine, rows(n, "w"), Path(spool))
    assert count(engine) == n, "writer lost rows"
    clear(engine)
    print(
        f"{name:10s} rows={n:,}  submit={submit_us:.2f} us/row  writer={through:,.0f} rows/s  "
        f"baseline executemany={base:,.0f} rows/s  ratio={through / base:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        run("sqlite", engine, args.rows)
        engine.dispose()
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    db = f"nexafi_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db}"'))
    except Exception as exc:  # no server: report and stop
        print(f"postgresql skipped: {exc.__class__.__name__}")
        return
    try:
        engine = make_engine(make_url(args.pg).set(database=db).render_as_string(False))
        run("postgresql", engine, args.rows)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
