"""Drift over a window of logged inferences: 1M rows, ~20 features, against frozen references.

References are built from 100k training rows (12 numeric features, 7 categorical, plus the
model score); the current window has 1M rows with one numeric feature shifted by +1 sd. In one
process, on the same rows:

1. ``drift_report``: pre-binned, vectorised (searchsorted + bincount, factorise + gather, KS
   against the 2,000-value sketch);
2. a straightforward pandas baseline per column: ``pd.cut`` on the same edges +
   ``value_counts`` for numeric (and ``scipy.stats.ks_2samp`` against the same sketch),
   ``value_counts`` + a per-category map for categorical, then the same PSI.

The baseline's PSI is checked against the report's, so the two do the same work.
Then, end to end as ``GET /v1/monitoring/{use_case}/drift`` does it: the same window written to
a real ``inference_log`` (the features inside each row's ``inputs`` JSON, as serving logs them),
read back with the values extracted by the database (``monitoring.window.logged_values``), and
the report computed; the PSI must equal the in-memory report's. SQLite by default, PostgreSQL with
``--db-url postgresql+psycopg://user@host/db`` (a scratch database is created on that server
and dropped afterwards); ``--db-rows 0`` skips this part.

Run: ``.venv/bin/python bench/drift.py [--rows 1000000] [--repeat 3] [--db-rows 1000000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from nexafi_ai.db import inference_log, make_engine, upgrade
from nexafi_ai.monitoring import (
    CategoricalReference,
    NumericReference,
    build_references,
    drift_report,
    psi,
)
from nexafi_ai.monitoring.drift_service import MAX_ROWS
from nexafi_ai.monitoring.window import LoggedColumn, logged_values

NUMERIC = 12
CATEGORICAL = 7
LEVELS = ["A", "B", "C", "D", "E", "F", "G", "H"]


def make_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(NUMERIC):
        col = rng.lognormal(0.0, 0.5, rows) if i % 3 == 0 else rng.normal(0.0, 1.0, rows)
        col[rng.random(rows) < 0.01] = np.nan
        data[f"num_{i}"] = col
    probs = np.linspace(1.0, 2.0, len(LEVELS))
    probs /= probs.sum()
    for i in range(CATEGORICAL):
        cat = rng.choice(np.array(LEVELS, dtype=object), size=rows, p=probs)
        data[f"cat_{i}"] = cat
    data["score"] = rng.beta(2.0, 5.0, rows)
    frame = pd.DataFrame(data)
    frame["num_1"] = frame["num_1"] + shift
    return frame


def baseline(references: dict[str, NumericReference | CategoricalReference], frame: pd.DataFrame):
    out: dict[str, float] = {}
    for name, ref in references.items():
        col = frame[name]
        if isinstance(ref, NumericReference):
            edges = [-np.inf, *ref.edges, np.inf]
            finite = col.where(np.isfinite(col))
            binned = pd.cut(finite, edges, right=False, labels=False)
            counts = binned.value_counts(dropna=True).reindex(range(len(edges) - 1), fill_value=0)
            values = [*counts.to_numpy().tolist(), int(binned.isna().sum())]
            stats.ks_2samp(np.asarray(ref.sample), finite.dropna().to_numpy())
        else:
            vc = col.value_counts(dropna=False)
            slots = [0] * (len(ref.categories) + 2)
            index = {c: i for i, c in enumerate(ref.categories)}
            for key, count in vc.items():
                if pd.isna(key):
                    slots[-1] += int(count)
                else:
                    slots[index.get(str(key), len(ref.categories))] += int(count)
            values = slots
        out[name] = psi(ref.shares, values)
    return out


def best_of(repeat: int, fn):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-rows", type=int, default=1_000_000)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()

    train = make_frame(args.train_rows, seed=0)
    start = time.perf_counter()
    references = build_references(train)
    build_s = time.perf_counter() - start
    current = make_frame(args.rows, seed=1, shift=1.0)
    print(
        f"references: {len(references)} features from {args.train_rows:,} rows in {build_s:.3f} s"
    )

    ours_s, report = best_of(args.repeat, lambda: drift_report(references, current))
    base_s, base_psi = best_of(args.repeat, lambda: baseline(references, current))
    for name, entry in report["features"].items():
        assert abs(entry["psi"] - base_psi[name]) < 1e-9, name
    alerts = [n for n, e in report["features"].items() if e["status"] != "ok"]
    print(f"window: {args.rows:,} rows x {len(references)} features, best of {args.repeat}")
    print(f"drift_report     {ours_s:8.3f} s  {args.rows / ours_s:14,.0f} rows/s")
    print(f"pandas baseline  {base_s:8.3f} s  {args.rows / base_s:14,.0f} rows/s")
    print(f"speed-up         {base_s / ours_s:8.1f} x   (PSI identical to 1e-9)")
    print(
        f"overall status: {report['status']}; flagged: {alerts} "
        f"(num_1 PSI {report['features']['num_1']['psi']:.3f}); max PSI among the rest "
        f"{max(e['psi'] for n, e in report['features'].items() if n != 'num_1'):.4f}"
    )
    if args.db_rows > 0:
        database_part(args, references, current)


def columns_for(frame: pd.DataFrame) -> dict[str, LoggedColumn]:
    """Where each bench column lives in a log row: features in ``inputs``, the score apart."""
    out = {}
    for name in frame.columns:
        if name == "score":
            out[name] = LoggedColumn(("score",))
        else:
            kind = "categorical" if name.startswith("cat_") else "numeric"
            out[name] = LoggedColumn(("inputs", "features", name), kind)
    return out


def write_log(url: str, frame: pd.DataFrame) -> float:
    """Write ``frame`` as inference_log rows; returns seconds (setup, not measured work)."""
    engine = make_engine(url)
    upgrade(engine)
    start = time.perf_counter()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    features = [c for c in frame.columns if c != "score"]
    records = frame[features].to_dict("records")
    scores = frame["score"].to_numpy()
    batch = 20_000
    for lo in range(0, len(frame), batch):
        rows = [
            {
                "request_id": f"bench-{i}",
                "use_case": "bench",
                "entity_id": f"e{i}",
                "model_name": "bench",
                "model_version": "1",
                "inputs": {
                    "features": {
                        k: (None if isinstance(v, float) and np.isnan(v) else v)
                        for k, v in records[i].items()
                    }
                },
                "outputs": {},
                "score": float(scores[i]),
                "decision": None,
                "latency_ms": 1.0,
                "created_at": t0 + timedelta(milliseconds=i),
            }
            for i in range(lo, min(lo + batch, len(frame)))
        ]
        with engine.begin() as conn:
            conn.execute(inference_log.insert(), rows)
    engine.dispose()
    return time.perf_counter() - start


def end_to_end(url: str, references: dict, columns: dict[str, LoggedColumn]) -> dict:
    engine = make_engine(url)
    try:
        window = logged_values(engine, "bench", columns, limit=MAX_ROWS, plain=())
        return drift_report(references, window[list(columns)])
    finally:
        engine.dispose()


@contextmanager
def scratch_database(server_url: str | None) -> Iterator[str | None]:
    """A fresh database on the server of ``server_url``, dropped afterwards (None: SQLite)."""
    if server_url is None:
        yield None
        return
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"nexafi_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def database_part(args: argparse.Namespace, references: dict, current: pd.DataFrame) -> None:
    frame = current.head(args.db_rows)
    columns = columns_for(frame)
    with tempfile.TemporaryDirectory() as scratch, scratch_database(args.db_url) as server:
        url = server or f"sqlite:///{Path(scratch) / 'bench.db'}"
        dialect = url.split(":", 1)[0]
        written_s = write_log(url, frame)
        print(f"\n{dialect}: wrote {len(frame):,} log rows in {written_s:.1f} s (setup)")
        db_s, from_db = best_of(args.repeat, lambda: end_to_end(url, references, columns))
        in_memory = drift_report(references, frame)
        for name, entry in from_db["features"].items():
            assert abs(entry["psi"] - in_memory["features"][name]["psi"]) < 1e-9, name
        print(
            f"end to end (SQL extraction + report) {db_s:8.3f} s  "
            f"{len(frame) / db_s:12,.0f} rows/s  (PSI identical to the in-memory report)"
        )


if __name__ == "__main__":
    main()
