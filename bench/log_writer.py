"""Inference log writer throughput beside a plain batched executemany, same process, same rows.

    .venv/bin/python bench/log_writer.py [--rows 50000] [--review-share 0.05] [--pg URL]

Prints, per database: the cost of ``submit`` on the request path (microseconds per row), rows/s
end to end (submit everything, close, all committed), and the ratio to the baseline.
``--review-share`` makes that share of rows decide ``review``: the writer then also enqueues
them in ``review_queue`` in the same transaction (the baseline only logs them, so the ratio
shows what enqueueing costs). The default, 0, measures the plain log path.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from nexafi_ai.db import inference_log, make_engine, review_queue, upgrade
from nexafi_ai.serving.log_writer import InferenceLogWriter, InferenceRow


def rows(n: int, tag: str, review_share: float = 0.0) -> list[InferenceRow]:
    now = datetime.now(UTC)
    every = round(1 / review_share) if review_share > 0 else 0
    return [
        _row(i, tag, now, "review" if every and i % every == 0 else "approve") for i in range(n)
    ]


def _row(i: int, tag: str, now: datetime, decision: str) -> InferenceRow:
    return {
        "request_id": f"{tag}-{i}",
        "use_case": "fraud",
        "entity_id": f"tx-{i}",
        "model_name": "nexafi-fraud",
        "model_version": "1",
        "inputs": {"amount": 12.5 + i, "mcc": "5411", "card": "tok_abc", "channel": "web"},
        "outputs": {"fraud_probability": 0.01, "decision": decision, "reasons": ["a", "b"]},
        "score": 0.01,
        "decision": decision,
        "latency_ms": 0.8,
        "shadow": None,
        "created_at": now,
    }


def count(engine: Engine, table: Any = inference_log) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(review_queue))
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


def run(name: str, engine: Engine, n: int, review_share: float) -> None:
    upgrade(engine)
    clear(engine)
    base = baseline(engine, rows(n, "base", review_share), 1000)
    clear(engine)
    data = rows(n, "w", review_share)
    with tempfile.TemporaryDirectory() as spool:
        submit_us, through = writer(engine, data, Path(spool))
    assert count(engine) == n, "writer lost rows"
    reviews = sum(row["decision"] == "review" for row in data)
    assert count(engine, review_queue) == reviews, "writer did not enqueue every review row"
    clear(engine)
    print(
        f"{name:10s} rows={n:,} reviews={reviews:,}  submit={submit_us:.2f} us/row  "
        f"writer={through:,.0f} rows/s  "
        f"baseline executemany={base:,.0f} rows/s  ratio={through / base:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--review-share", type=float, default=0.0)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        run("sqlite", engine, args.rows, args.review_share)
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
        run("postgresql", engine, args.rows, args.review_share)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
