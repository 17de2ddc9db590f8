"""Synthetic daily prices with the stylised facts that make forecasting hard, for tests and demos.

Real daily returns are close to unpredictable in the mean, while their *size* is predictable:
volatility clusters, tails are fat and markets move between calm bull runs, bear markets and
short crises. A forecaster tested on Gaussian random walks learns nothing about either fact, so
the simulator builds them in:

* a **market regime** (bull / bear / crisis) follows a Markov chain shared by every symbol; each
  regime has its own drift and a volatility multiplier (crises are short and violent);
* a **market factor** with GARCH(1,1) variance and Student-t shocks drives all symbols through
  per-symbol betas, so symbols are correlated and crash together;
* each symbol adds its own GARCH(1,1) Student-t shock, scaled so its annualised volatility lands
  between about 15% and 60%;
* an optional tiny **momentum** (an AR(1) coefficient on the previous day's return, zero by
  default) for tests that check a model can find a weak signal, and that it is not fooled when
  there is none.

Open, high, low and volume are consistent with the close: the open gaps from the previous close
by part of the day's return, high and low bracket open and close, volume rises with the size of
the move. Everything is drawn from one seeded generator, so a preset and seed give the same table
on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["REGIMES", "SimulatorConfig", "simulate_prices"]

#: Market regimes in the order of the transition matrix rows.
REGIMES: Final = ("bull", "bear", "crisis")

TRADING_DAYS: Final = 252

Size = Literal["tiny", "small", "default"]

# (symbols, years) per preset size.
_PRESETS: Final[dict[str, tuple[int, int]]] = {
    "tiny": (4, 3),
    "small": (10, 5),
    "default": (30, 8),
}


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """What to simulate; every field has a realistic default, presets pick the size.

    Drifts are annualised log returns per regime, ``regime_vol`` multiplies the day's shock in
    each regime, ``regime_stay`` is the daily probability of staying in the regime (expected
    durations of about a year, half a year and two months). ``garch_alpha`` / ``garch_beta``
    give persistence 0.98, typical of equity indices; ``tail_nu`` is the Student-t degrees of
    freedom of the shocks (5: kurtosis well above the Gaussian's).
    """

    n_symbols: int = 30
    n_days: int = 8 * TRADING_DAYS
    seed: int = 0
    start: str = "2016-01-04"
    regime_drift: tuple[float, float, float] = (0.12, -0.15, -0.50)
    regime_vol: tuple[float, float, float] = (0.8, 1.25, 2.2)
    regime_stay: tuple[float, float, float] = (0.996, 0.992, 0.975)
    market_vol: float = 0.16
    vol_range: tuple[float, float] = (0.20, 0.48)
    beta_range: tuple[float, float] = (0.6, 1.4)
    garch_alpha: float = 0.08
    garch_beta: float = 0.90
    tail_nu: float = 5.0
    momentum: float = 0.0

    @classmethod
    def preset(cls, size: Size = "default", seed: int = 0) -> SimulatorConfig:
        """``"tiny"`` (4 symbols x 3 years), ``"small"`` (10 x 5) or ``"default"`` (30 x 8)."""
        if size not in _PRESETS:
            raise ValueError(f"size must be one of {sorted(_PRESETS)}, got {size!r}")
        symbols, years = _PRESETS[size]
        return cls(n_symbols=symbols, n_days=years * TRADING_DAYS, seed=seed)

    def with_(self, **changes: object) -> SimulatorConfig:
        """A copy with some fields changed (``config.with_(momentum=0.1)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _student_t(rng: np.random.Generator, nu: float, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Student-t draws scaled to unit variance, so GARCH variances mean what they say."""
    draws: NDArray[np.float64] = rng.standard_t(nu, size=shape) * np.sqrt((nu - 2.0) / nu)
    return draws


def _regimes(config: SimulatorConfig, rng: np.random.Generator) -> NDArray[np.intp]:
    """A Markov chain over REGIMES, starting in a bull market; leaving a regime picks one of
    the two others with equal probability."""
    stay = np.asarray(config.regime_stay)
    path = np.empty(config.n_days, dtype=np.intp)
    state = 0
    leave = rng.random(config.n_days)
    pick = rng.integers(1, 3, size=config.n_days)
    for t in range(config.n_days):
        path[t] = state
        if leave[t] > stay[state]:
            state = int((state + pick[t]) % 3)
    return path


def _garch_shocks(
    z: NDArray[np.float64], multiplier: NDArray[np.float64], alpha: float, beta: float
) -> NDArray[np.float64]:
    """GARCH(1,1) shocks with unit unconditional variance, one column per series.

    The regime multiplier scales the day's shock but the recursion sees the unscaled shock,
    so the clustering dynamics stay stationary and the regime only moves the level.
    """
    omega = 1.0 - alpha - beta
    n_days = z.shape[0]
    out = np.empty_like(z)
    variance = np.ones(z.shape[1])
    for t in range(n_days):
        shock = np.sqrt(variance) * z[t]
        out[t] = shock * multiplier[t]
        variance = omega + alpha * shock**2 + beta * variance
    return out


def simulate_prices(config: SimulatorConfig | None = None) -> pd.DataFrame:
    """A standard price table (``symbol``, ``date``, ``close``, ``open``, ``high``, ``low``,
    ``volume``) on business days, deterministic for a given config.

    >>> prices = simulate_prices(SimulatorConfig.preset("tiny", seed=1))
    >>> prices["symbol"].nunique(), len(prices) // prices["symbol"].nunique()
    (4, 756)
    >>> bool((prices["low"] <= prices[["open", "close"]].min(axis=1)).all())
    True
    """
    config = config or SimulatorConfig()
    if config.n_symbols < 1 or config.n_days < 2:
        raise ValueError("the simulator needs at least one symbol and two days")
    rng = np.random.default_rng(config.seed)
    n_days, n_symbols = config.n_days, config.n_symbols
    daily = np.sqrt(TRADING_DAYS)

    regimes = _regimes(config, rng)
    multiplier = np.asarray(config.regime_vol)[regimes]
    # Normalise the multipliers so the long-run market volatility is what the config says
    # whatever the regime path turned out to be.
    multiplier = multiplier / np.sqrt(np.mean(multiplier**2))
    drift = np.asarray(config.regime_drift)[regimes] / TRADING_DAYS

    market = _garch_shocks(
        _student_t(rng, config.tail_nu, (n_days, 1)),
        multiplier[:, None],
        config.garch_alpha,
        config.garch_beta,
    )[:, 0] * (config.market_vol / daily)

    betas = rng.uniform(*config.beta_range, size=n_symbols)
    target = rng.uniform(*config.vol_range, size=n_symbols) / daily
    idio_vol = np.sqrt(np.maximum(target**2 - (betas * config.market_vol / daily) ** 2, 1e-5**2))
    idio = (
        _garch_shocks(
            _student_t(rng, config.tail_nu, (n_days, n_symbols)),
            np.sqrt(multiplier)[:, None],  # idiosyncratic risk rises less in a crisis
            config.garch_alpha,
            config.garch_beta,
        )
        * idio_vol
    )

    shocks = betas * market[:, None] + idio
    drifts = drift[:, None]
    returns = np.empty_like(shocks)
    previous = np.zeros(n_symbols)
    for t in range(n_days):
        previous = drifts[t] + config.momentum * previous + shocks[t]
        returns[t] = previous
    returns[0] = 0.0  # the first day is the starting price

    start_price = np.exp(rng.uniform(np.log(20.0), np.log(300.0), size=n_symbols))
    close = start_price * np.exp(np.cumsum(returns, axis=0))
    return _table(config, rng, close, returns, target)


def _table(
    config: SimulatorConfig,
    rng: np.random.Generator,
    close: NDArray[np.float64],
    returns: NDArray[np.float64],
    day_vol: NDArray[np.float64],
) -> pd.DataFrame:
    """Close plus open / high / low / volume consistent with it, as a long sorted table."""
    n_days, n_symbols = close.shape
    previous_close = np.vstack([close[:1], close[:-1]])
    # About a fifth of a day's move happens overnight: the open gaps by that share.
    overnight = returns * rng.uniform(0.0, 0.4, size=returns.shape)
    open_ = previous_close * np.exp(overnight)
    open_[0] = close[0] * np.exp(rng.normal(0.0, 0.2, size=n_symbols) * day_vol)
    # Intraday excursions beyond open and close, proportional to the day's realised size.
    reach = np.abs(returns) + 0.5 * day_vol
    high = np.maximum(open_, close) * np.exp(reach * rng.exponential(0.5, size=returns.shape))
    low = np.minimum(open_, close) * np.exp(-reach * rng.exponential(0.5, size=returns.shape))
    base_volume = np.exp(rng.uniform(np.log(2e5), np.log(2e7), size=n_symbols))
    activity = 1.0 + 2.0 * np.abs(returns) / day_vol
    volume = np.round(base_volume * activity * rng.lognormal(0.0, 0.3, size=returns.shape))

    dates = pd.bdate_range(config.start, periods=n_days, tz="UTC").astype("datetime64[ns, UTC]")
    width = max(2, len(str(n_symbols - 1)))
    symbols = [f"SIM{i:0{width}d}" for i in range(n_symbols)]
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, n_days),
            "date": np.tile(dates, n_symbols),
            "close": close.T.ravel(),
            "open": open_.T.ravel(),
            "high": high.T.ravel(),
            "low": low.T.ravel(),
            "volume": volume.T.ravel(),
        }
    )
    frame["date"] = pd.to_datetime(frame["date"], utc=True).astype("datetime64[ns, UTC]")
    return frame
