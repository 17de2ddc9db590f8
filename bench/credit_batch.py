"""Credit portfolio re-scoring: 1M applicants through a batch job, local and on Dask.

What a nightly re-score costs beyond the model itself. In one process, on the same rows:

1. raw model prediction: LightGBM ``Booster.predict`` on the already-encoded matrix (or the
   scorecard's vectorised points), the floor nothing can beat;
2. ``score_frame`` in memory: encoding, PD, score, band, decision and reason codes for the
   declines (TreeSHAP or points lost);
3. a batch job with the local engine: Parquet in, chunked, each chunk checkpointed in the
   database and written atomically, output assembled in order;
4. the same job on a local Dask cluster (worker processes), as it would run on a real one.

Ratios are against (1). Run: ``.venv/bin/python bench/credit_batch.py [--rows 1000000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from nexafi_ai.batch import JobStore, create_job, run_job
from nexafi_ai.batch.dask_engine import DaskEngine
from nexafi_ai.db import make_engine, upgrade
from nexafi_ai.io import write_table
from nexafi_ai.serving.app import build_registry
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.settings import Settings
from nexafi_ai.training import train_and_register
from nexafi_ai.usecases.credit import USE_CASE as CREDIT
from nexafi_ai.usecases.credit.generator import (
    PROTECTED,
    TARGET,
    ApplicantConfig,
    generate_applicants,
)
from nexafi_ai.usecases.credit.model import CreditModel


def timed(label: str, rows: int, action, results: list[tuple[str, float]]) -> object:
    start = time.perf_counter()
    out = action()
    seconds = time.perf_counter() - start
    results.append((label, seconds))
    print(f"  {label:<44} {seconds:7.2f} s  {rows / seconds:>11,.0f} rows/s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--kind", choices=["champion", "scorecard", "lightgbm"], default="champion")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nexafi-bench-credit-") as scratch:
        home = Path(scratch)
        settings = Settings(home=home)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        registry = build_registry(settings, engine)
        print(f"training on the small preset; generating {args.rows:,} applicants", flush=True)
        options = {"cv_folds": "0"}
        if args.kind != "champion":
            options["models"] = args.kind
        info = train_and_register(
            CREDIT, registry, size="small", promote_to="champion", options=options
        )
        loaded = load_verified(CREDIT, registry, info.version)
        model = loaded.model
        assert isinstance(model, CreditModel)
        portfolio = generate_applicants(ApplicantConfig(n_applicants=args.rows, seed=11))
        portfolio = portfolio.drop(columns=[TARGET, PROTECTED])
        source = home / "portfolio.parquet"
        write_table(portfolio, source)
        print(
            f"model v{info.version}: {model.kind}, {len(model.features)} features; "
            f"input {source.stat().st_size / 1e6:.0f} MB Parquet\n",
            flush=True,
        )

        n = len(portfolio)
        results: list[tuple[str, float]] = []
        frame = CREDIT.prepare_data(portfolio)
        if model.gbm is not None:
            x = model.gbm.matrix(frame)
            timed(
                "raw predict (Booster.predict, encoded)",
                n,
                lambda: model.gbm.booster.proba(x),
                results,
            )
        else:
            assert model.scorecard is not None
            timed(
                "raw predict (scorecard points -> PD)",
                n,
                lambda: model.scorecard.pd(frame),
                results,
            )
        scored = timed(
            "score_frame in memory (+reasons)", n, lambda: model.score_frame(frame), results
        )
        assert isinstance(scored, pd.DataFrame)
        declined = int((scored["decision"] == "decline").sum())
        print(f"    ({declined:,} declines, {declined / n:.1%}, carry reason codes)")

        store = JobStore(engine)
        for label, engine_choice in (
            ("job, local engine", "local"),
            (
                f"job, Dask LocalCluster ({args.workers} processes)",
                DaskEngine(n_workers=args.workers),
            ),
        ):
            output = home / f"scored-{label.split(',')[1].split()[0]}.parquet"
            job = create_job(
                store,
                CREDIT,
                input_path=source,
                output_path=output,
                model_version=info.version,
                alias="champion",
                engine="local" if engine_choice == "local" else "dask",
                chunk_rows=args.chunk_rows,
            )
            final = timed(
                label,
                n,
                lambda job=job, engine_choice=engine_choice: run_job(
                    job.id, store=store, registry=registry, engine=engine_choice
                ),
                results,
            )
            out = pd.read_parquet(output, columns=["applicant_id", "probability_of_default"])
            assert getattr(final, "status", None) == "succeeded", final
            assert len(out) == n
            assert (out["applicant_id"].to_numpy() == portfolio["applicant_id"].to_numpy()).all()
            assert (
                out["probability_of_default"].to_numpy()
                == scored["probability_of_default"].to_numpy()
            ).all()

        base = results[0][1]
        print(f"\n{'path':<46} {'rows/s':>11}  time vs raw predict")
        for label, seconds in results:
            print(f"{label:<46} {n / seconds:>11,.0f}  {seconds / base:6.1f}x")
        engine.dispose()


if __name__ == "__main__":
    main()
