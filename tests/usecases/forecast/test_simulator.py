"""The price simulator: deterministic, the right shape, and the stylised facts of daily returns
(unpredictable mean, clustered volatility, fat tails, a shared market factor)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from nexafi_ai.usecases.forecast.data import standardise_prices
from nexafi_ai.usecases.forecast.simulator import SimulatorConfig, simulate_prices


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_prices(SimulatorConfig.preset("small", seed=0))


def _returns(prices: pd.DataFrame) -> pd.DataFrame:
    wide = prices.pivot(index="date", columns="symbol", values="close")
    return np.log(wide).diff().iloc[1:]


def _autocorrelation(values: np.ndarray) -> float:
    return float(np.corrcoef(values[1:], values[:-1])[0, 1])


@pytest.mark.parametrize(("size", "symbols", "days"), [("tiny", 4, 756), ("small", 10, 1260)])
def test_presets_have_their_size(size: str, symbols: int, days: int) -> None:
    prices = simulate_prices(SimulatorConfig.preset(size, seed=0))  # type: ignore[arg-type]
    assert prices["symbol"].nunique() == symbols
    assert prices.groupby("symbol").size().eq(days).all()


def test_default_preset_is_fast() -> None:
    start = time.perf_counter()
    prices = simulate_prices(SimulatorConfig.preset("default", seed=0))
    assert time.perf_counter() - start < 2.0
    assert prices["symbol"].nunique() == 30
    assert len(prices) == 30 * 8 * 252


def test_deterministic_per_seed() -> None:
    first = simulate_prices(SimulatorConfig.preset("tiny", seed=5))
    pd.testing.assert_frame_equal(first, simulate_prices(SimulatorConfig.preset("tiny", seed=5)))
    other = simulate_prices(SimulatorConfig.preset("tiny", seed=6))
    assert not np.allclose(first["close"], other["close"])


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        SimulatorConfig.preset("huge")  # type: ignore[arg-type]


def test_is_a_standard_price_table(small: pd.DataFrame) -> None:
    assert list(small.columns) == ["symbol", "date", "close", "open", "high", "low", "volume"]
    assert str(small["date"].dtype) == "datetime64[ns, UTC]"
    assert (small["date"].dt.dayofweek < 5).all()
    assert (small["date"] == small["date"].dt.normalize()).all()
    assert not small.duplicated(["symbol", "date"]).any()
    assert small.equals(small.sort_values(["symbol", "date"]).reset_index(drop=True))
    # The data path accepts it unchanged.
    pd.testing.assert_frame_equal(standardise_prices(small), small)


def test_bars_are_consistent_with_the_close(small: pd.DataFrame) -> None:
    assert (small[["close", "open", "high", "low"]] > 0).all().all()
    assert (small["high"] >= small[["open", "close"]].max(axis=1)).all()
    assert (small["low"] <= small[["open", "close"]].min(axis=1)).all()
    assert (small["volume"] > 0).all()
    returns = _returns(small).abs().stack()
    volume = small.set_index(["date", "symbol"])["volume"].reindex(returns.index)
    # Volume rises with the size of the move.
    assert returns.corr(np.log(volume), method="spearman") > 0.2


def test_annualised_volatility_is_realistic(small: pd.DataFrame) -> None:
    annualised = _returns(small).std() * np.sqrt(252)
    assert annualised.between(0.15, 0.60).all(), annualised.round(3).to_dict()


def test_returns_have_the_stylised_facts(small: pd.DataFrame) -> None:
    returns = _returns(small)
    mean_autocorrelation = np.mean([_autocorrelation(returns[c].to_numpy()) for c in returns])
    squared_autocorrelation = np.mean(
        [_autocorrelation(returns[c].to_numpy() ** 2) for c in returns]
    )
    assert abs(mean_autocorrelation) < 0.05  # the mean is (nearly) unpredictable
    assert squared_autocorrelation > 0.08  # the size is not: volatility clusters
    kurtosis = returns.kurt()  # excess kurtosis; 0 for a Gaussian
    assert (kurtosis > 1.0).all()
    correlation = returns.corr().to_numpy()
    off_diagonal = correlation[~np.eye(len(correlation), dtype=bool)]
    assert off_diagonal.mean() > 0.2  # the market factor


def test_momentum_can_be_switched_on() -> None:
    config = SimulatorConfig.preset("small", seed=1).with_(momentum=0.2)
    returns = _returns(simulate_prices(config))
    assert np.mean([_autocorrelation(returns[c].to_numpy()) for c in returns]) > 0.1
