"""Forecasting 100 symbols x 5 years of daily prices: training, batch and per-request cost.

What market forecasting costs beyond the trivial forecast. In one process, on the same
simulated market (100 symbols, 5 years of business days, 126,000 rows):

0. the random-walk floor: last close as the point forecast and a Gaussian interval from each
   symbol's historical volatility, vectorised NumPy over the price table; nothing is cheaper,
   and it is what the service falls back to when no model beats it;
1. ``fit``: rolling-origin validation of every candidate against the random walk, the
   Diebold-Mariano choice and the volatility models, on all 100 symbols;
2. ``forecast_frame`` in memory for all 100 symbols, horizons 5 and 20;
3. the same through a batch job with the local engine (Parquet in and out, checkpointed);
4. ``forecast()`` per request: a stored symbol, and a sent 1,000-point series fitted on the
   fly (p50 / p99 over a few hundred calls).

Ratios are against (0) for the same horizon. Run:
``.venv/bin/python bench/forecast_batch.py [--symbols 100 --years 5]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm  # type: ignore[import-untyped]

from nexafi_ai.batch import JobStore, create_job, run_job
from nexafi_ai.db import make_engine, upgrade
from nexafi_ai.io import write_table
from nexafi_ai.serving.app import build_registry
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.settings import Settings
from nexafi_ai.training import package_version, register_version
from nexafi_ai.usecases.forecast import USE_CASE as FORECAST
from nexafi_ai.usecases.forecast.model import ForecastModel
from nexafi_ai.usecases.forecast.schemas import ForecastRequest
from nexafi_ai.usecases.forecast.simulator import TRADING_DAYS, SimulatorConfig, simulate_prices

HORIZONS = (5, 20)


def business_days_after(dates: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` business days after each of ``dates`` (UTC midnight), flattened."""
    days = dates.tz_localize(None).to_numpy().astype("datetime64[D]")
    steps = np.tile(np.arange(1, horizon + 1), len(days))
    ahead = np.busday_offset(np.repeat(days, horizon), steps, roll="forward")
    return pd.DatetimeIndex(ahead.astype("datetime64[ns]")).tz_localize("UTC")


def random_walk_frame(prices: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The floor: last close, and 80%/95% bands from the symbol's daily log-return volatility.

    One row per (symbol, step) like ``forecast_frame``; timestamps are business days.
    """
    log_close = np.log(prices["close"].to_numpy())
    codes, uniques = pd.factorize(prices["symbol"], sort=False)
    returns = np.diff(log_close, prepend=np.nan)
    first = np.r_[True, codes[1:] != codes[:-1]]
    returns[first] = np.nan
    frame = pd.DataFrame({"code": codes, "r": returns})
    sigma = frame.groupby("code")["r"].std().to_numpy()
    last_row = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True])
    last = log_close[last_row]
    last_date = pd.DatetimeIndex(prices["date"].iloc[last_row])
    steps = np.arange(1, horizon + 1)
    spread = sigma[:, None] * np.sqrt(steps)[None, :]
    out: dict[str, Any] = {
        "_row": np.repeat(last_row, horizon),
        "symbol": np.repeat(np.asarray(uniques), horizon),
        "step": np.tile(steps, len(uniques)),
        "timestamp": business_days_after(last_date, horizon),
        "mean": np.repeat(np.exp(last), horizon),
    }
    for level in (80, 95):
        z = norm.ppf(0.5 + level / 200)
        out[f"lower_{level}"] = np.exp(last[:, None] - z * spread).ravel()
        out[f"upper_{level}"] = np.exp(last[:, None] + z * spread).ravel()
    return pd.DataFrame(out)


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = action()
    return out, time.perf_counter() - start


def latencies(action: Callable[[], Any], calls: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds over ``calls`` calls, after a few warm-up calls."""
    for _ in range(min(5, calls)):
        action()
    seconds = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        action()
        seconds[i] = time.perf_counter() - start
    p50, p99 = np.percentile(seconds * 1000.0, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300, help="forecast() calls per latency")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    config = SimulatorConfig(
        n_symbols=args.symbols, n_days=args.years * TRADING_DAYS, seed=args.seed
    )
    prices = simulate_prices(config)
    n_symbols, n_rows = prices["symbol"].nunique(), len(prices)
    print(f"simulated {n_symbols} symbols x {args.years} years: {n_rows:,} rows", flush=True)

    rows: list[tuple[str, float, float, str]] = []  # label, seconds, units/s, unit

    for horizon in HORIZONS:
        # Best of three after a warm-up: the floor is milliseconds, first-call costs dominate.
        random_walk_frame(prices, horizon)
        seconds = min(
            timed(lambda horizon=horizon: random_walk_frame(prices, horizon))[1] for _ in range(3)
        )
        rows.append((f"random-walk floor, h={horizon}", seconds, n_symbols / seconds, "sym/s"))

    result, seconds = timed(lambda: FORECAST.fit(prices, seed=args.seed))
    rows.append(("fit (validation + selection)", seconds, n_symbols / seconds, "sym/s"))
    model = result.model
    assert isinstance(model, ForecastModel)
    served = {k: v for k, v in result.metadata.items() if "served" in k or "fallback" in k}
    print(f"fit in {seconds:.1f} s; metrics: {dict(result.metrics)}", flush=True)
    if served:
        print(f"served: {served}", flush=True)

    for horizon in HORIZONS:
        frame, seconds = timed(lambda horizon=horizon: model.forecast_frame(prices, horizon))
        assert isinstance(frame, pd.DataFrame)
        assert len(frame) == n_symbols * horizon, len(frame)
        rows.append((f"forecast_frame, h={horizon}", seconds, n_symbols / seconds, "sym/s"))

    with tempfile.TemporaryDirectory(prefix="nexafi-bench-forecast-") as scratch:
        home = Path(scratch)
        settings = Settings(home=home)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        registry = build_registry(settings, engine)
        directory = home / "version"
        directory.mkdir()
        metadata = package_version(FORECAST, result, prices, directory, source="bench")
        info = register_version(
            FORECAST, registry, result, directory, metadata, promote_to="champion", actor="bench"
        )
        loaded = load_verified(FORECAST, registry, info.version)
        assert isinstance(loaded.model, ForecastModel)
        source = home / "prices.parquet"
        write_table(prices, source)
        store = JobStore(engine)
        for horizon in HORIZONS:
            output = home / f"forecasts-{horizon}.parquet"
            job = create_job(
                store,
                FORECAST,
                input_path=source,
                output_path=output,
                model_version=info.version,
                alias="champion",
                engine="local",
                chunk_rows=n_rows,
                options={"horizon": str(horizon)},
            )
            final, seconds = timed(
                lambda job=job: run_job(job.id, store=store, registry=registry, engine="local")
            )
            assert getattr(final, "status", None) == "succeeded", final
            written = pd.read_parquet(output)
            assert len(written) == n_symbols * horizon, len(written)
            rows.append((f"batch job (local), h={horizon}", seconds, n_symbols / seconds, "sym/s"))
        engine.dispose()

    symbol = str(prices["symbol"].iloc[0])
    stored = ForecastRequest(symbol=symbol, horizon=5)
    tail = prices[prices["symbol"] == symbol].tail(1000)
    sent = ForecastRequest.model_validate(
        {
            "series": [
                {"timestamp": t.isoformat(), "value": float(v)}
                for t, v in zip(tail["date"], tail["close"], strict=True)
            ],
            "horizon": 5,
        }
    )
    for label, request, calls in (
        ("forecast(), stored symbol", stored, args.calls),
        ("forecast(), sent 1,000-point series", sent, max(args.calls // 3, 20)),
    ):
        p50, p99 = latencies(lambda request=request: model.forecast(request), calls)
        rows.append((f"{label} p50", p50 / 1000.0, 1000.0 / p50, "req/s"))
        rows.append((f"{label} p99", p99 / 1000.0, 1000.0 / p99, "req/s"))
    trend_p50, trend_p99 = latencies(lambda: model.trend(symbol, horizon=5), args.calls)
    rows.append(("trend(), stored symbol p50", trend_p50 / 1000.0, 1000.0 / trend_p50, "req/s"))
    rows.append(("trend(), stored symbol p99", trend_p99 / 1000.0, 1000.0 / trend_p99, "req/s"))

    floor = {
        h: next(s for label, s, _, _ in rows if label == f"random-walk floor, h={h}")
        for h in HORIZONS
    }
    print(f"\n{'path':<40} {'time':>11} {'throughput':>15} {'input rows/s':>13}  vs floor")
    for label, seconds, rate, unit in rows:
        shown = f"{seconds * 1000:8.2f} ms" if seconds < 1 else f"{seconds:8.2f} s "
        horizon = next((h for h in HORIZONS if label.endswith(f"h={h}")), None)
        ratio = f"{seconds / floor[horizon]:7.1f}x" if horizon is not None else ""
        per_row = f"{n_rows / seconds:13,.0f}" if unit == "sym/s" else ""
        print(f"{label:<40} {shown:>11} {rate:>9,.0f} {unit:<5} {per_row:>13}  {ratio}")


if __name__ == "__main__":
    main()
