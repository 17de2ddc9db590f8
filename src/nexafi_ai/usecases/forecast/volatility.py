"""Volatility per symbol: GARCH(1,1), the forecast that is actually predictable in returns.

The direction of tomorrow's return is close to a coin flip, its *size* is not: calm days follow
calm days and turbulent days follow turbulent ones. GARCH(1,1) captures that with three numbers,

    sigma2[t+1] = omega + alpha * eps[t]**2 + beta * sigma2[t],

and its forecast reverts geometrically (rate ``alpha + beta``) to the long-run variance
``omega / (1 - alpha - beta)``. Prediction intervals of returns and prices are built from it.

**Fitting** uses the ``arch`` package on returns in percent (its optimiser is tuned for numbers
of that size), with Student-t shocks by default (daily returns have fat tails: Gaussian 95%
intervals are too narrow on crash days). :class:`GarchParams` keeps the fitted numbers in return
units and the last state, as plain JSON: serving forecasts is a few lines of numpy, with no
``arch`` and nothing unpickled. A series too short for a stable fit, or a fit that does not
converge, falls back to constant volatility, and says so in ``method``.

**Evaluation** (:func:`evaluate_volatility`): at rolling origins, GARCH fitted on the past only
is compared with the constant-volatility baseline (the training sample's variance) on the next
``horizon`` squared returns, with QLIKE (the loss that stays honest with a noisy proxy such as a
squared return) and MSE, and the return intervals' coverage is checked against their nominal
level.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats  # type: ignore[import-untyped]

from nexafi_ai.evaluation.forecasting import qlike, rolling_origin_splits

__all__ = [
    "MAX_PERSISTENCE",
    "MIN_GARCH_OBSERVATIONS",
    "GarchParams",
    "VolatilityReport",
    "constant_volatility",
    "evaluate_volatility",
    "fit_garch",
]

log = logging.getLogger(__name__)

Distribution = Literal["t", "normal"]

#: Fewer returns than this are fitted as constant volatility: GARCH's persistence is not
#: identified on a few months of data and the optimiser wanders.
MIN_GARCH_OBSERVATIONS: Final = 100
#: Persistence (alpha + beta) is capped just below 1 so the long-run variance stays finite.
MAX_PERSISTENCE: Final = 0.9999
# arch is fitted on percent returns; parameters are stored in return units.
_SCALE: Final = 100.0


@dataclass(frozen=True, slots=True)
class GarchParams:
    """A fitted GARCH(1,1) with its last state, in return units (a 1% day is 0.01).

    ``mu`` is the mean daily return, ``last_variance`` and ``last_residual`` the conditional
    variance and the residual ``r - mu`` of the last observation the state has seen. ``nu`` is
    the Student-t degrees of freedom (``None`` for Gaussian shocks). ``method`` is ``"garch"``
    or ``"constant"`` (``alpha = beta = 0``: the baseline, or the fallback for short series).
    """

    mu: float
    omega: float
    alpha: float
    beta: float
    nu: float | None
    last_variance: float
    last_residual: float
    method: Literal["garch", "constant"] = "garch"
    n_obs: int = 0

    @property
    def persistence(self) -> float:
        """``alpha + beta``: how slowly a volatility shock fades (half-life
        ``log(0.5) / log(alpha + beta)`` days)."""
        return self.alpha + self.beta

    @property
    def unconditional_variance(self) -> float:
        """The long-run daily variance forecasts revert to."""
        return self.omega / (1.0 - self.persistence)

    def variance_path(self, horizon: int) -> NDArray[np.float64]:
        """Conditional variance forecasts of the returns 1..``horizon`` steps ahead.

        >>> params = GarchParams(mu=0.0, omega=1e-5, alpha=0.1, beta=0.8, nu=None,
        ...                      last_variance=2e-4, last_residual=0.02)
        >>> (params.variance_path(3) * 1e4).round(4).tolist()
        [2.1, 1.99, 1.891]
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        path = np.empty(horizon, dtype=np.float64)
        variance = self.omega + self.alpha * self.last_residual**2 + self.beta * self.last_variance
        for k in range(horizon):
            path[k] = variance
            # Beyond one step the shock is unknown: E[eps**2] is the variance itself.
            variance = self.omega + self.persistence * variance
        return path

    def cumulative_variance(self, horizon: int) -> NDArray[np.float64]:
        """Variance of the cumulative log return over 1..``horizon`` steps (returns are
        uncorrelated, so variances add): the scale of price intervals."""
        out: NDArray[np.float64] = np.cumsum(self.variance_path(horizon))
        return out

    def interval_multiplier(self, level: float) -> float:
        """Half-width of a central ``level``% interval in standard deviations, for the fitted
        shock distribution (a unit-variance Student-t or a Gaussian).

        >>> round(GarchParams(0.0, 1e-4, 0.0, 0.0, None, 1e-4, 0.0).interval_multiplier(95), 4)
        1.96
        """
        if not 0.0 < level < 100.0:
            raise ValueError(f"level must be a percentage between 0 and 100, got {level}")
        tail = 0.5 + level / 200.0
        if self.nu is None:
            return float(stats.norm.ppf(tail))
        return float(stats.t.ppf(tail, self.nu) * math.sqrt((self.nu - 2.0) / self.nu))

    def update(self, returns: ArrayLike) -> GarchParams:
        """The same parameters with the state rolled forward through later ``returns``.

        No refit: cheap enough to run on every request, and it never looks at data the
        parameters were not meant to see.
        """
        values = _returns(returns)
        variance, residual = self.last_variance, self.last_residual
        for value in values:
            variance = self.omega + self.alpha * residual**2 + self.beta * variance
            residual = float(value) - self.mu
        return GarchParams(
            mu=self.mu,
            omega=self.omega,
            alpha=self.alpha,
            beta=self.beta,
            nu=self.nu,
            last_variance=float(variance),
            last_residual=float(residual),
            method=self.method,
            n_obs=self.n_obs + len(values),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able numbers."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GarchParams:
        nu = data.get("nu")
        return cls(
            mu=float(data["mu"]),
            omega=float(data["omega"]),
            alpha=float(data["alpha"]),
            beta=float(data["beta"]),
            nu=None if nu is None else float(nu),
            last_variance=float(data["last_variance"]),
            last_residual=float(data["last_residual"]),
            method="constant" if data.get("method") == "constant" else "garch",
            n_obs=int(data.get("n_obs", 0)),
        )


def _returns(returns: ArrayLike) -> NDArray[np.float64]:
    values = np.asarray(returns, dtype=np.float64).ravel()
    if not np.isfinite(values).all():
        raise ValueError("returns hold missing or infinite values")
    return values


def constant_volatility(returns: ArrayLike) -> GarchParams:
    """The baseline: every future day has the sample variance of ``returns``.

    >>> params = constant_volatility([0.01, -0.01, 0.03, -0.03])
    >>> params.variance_path(2).round(6).tolist(), params.method
    ([0.0005, 0.0005], 'constant')
    """
    values = _returns(returns)
    if values.size < 2:
        raise ValueError("volatility needs at least two returns")
    mu = float(values.mean())
    variance = max(float(np.mean((values - mu) ** 2)), 1e-12)
    return GarchParams(
        mu=mu,
        omega=variance,
        alpha=0.0,
        beta=0.0,
        nu=None,
        last_variance=variance,
        last_residual=float(values[-1] - mu),
        method="constant",
        n_obs=int(values.size),
    )


def fit_garch(returns: ArrayLike, *, dist: Distribution = "t") -> GarchParams:
    """GARCH(1,1) with a constant mean fitted to daily log ``returns`` (in return units).

    Falls back to :func:`constant_volatility` (``method="constant"``) below
    :data:`MIN_GARCH_OBSERVATIONS` returns or when the fit fails or does not converge.
    """
    from arch import arch_model  # type: ignore[import-untyped, unused-ignore]

    values = _returns(returns)
    if values.size < MIN_GARCH_OBSERVATIONS:
        return constant_volatility(values)
    if float(values.std()) == 0.0:
        return constant_volatility(values)
    model = arch_model(values * _SCALE, mean="Constant", vol="GARCH", p=1, q=1, dist=dist)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arch's convergence / scale warnings: checked below
            result = model.fit(disp="off", show_warning=False)
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:
        log.info("GARCH fit failed (%s); using constant volatility", error)
        return constant_volatility(values)
    params = result.params
    alpha, beta = float(params["alpha[1]"]), float(params["beta[1]"])
    omega = float(params["omega"]) / _SCALE**2
    if result.convergence_flag != 0 or not (omega > 0 and alpha >= 0 and beta >= 0):
        log.info("GARCH fit did not converge; using constant volatility")
        return constant_volatility(values)
    # arch lets the optimiser reach alpha + beta = 1 (integrated GARCH, after a regime shift):
    # a fine short-term forecast, but the long-run variance must stay finite.
    beta = min(beta, MAX_PERSISTENCE - alpha)
    if beta < 0:
        log.info("GARCH fit has alpha >= 1; using constant volatility")
        return constant_volatility(values)
    sigma = np.asarray(result.conditional_volatility, dtype=np.float64)
    residual = np.asarray(result.resid, dtype=np.float64)
    return GarchParams(
        mu=float(params["mu"]) / _SCALE,
        omega=omega,
        alpha=alpha,
        beta=beta,
        nu=float(params["nu"]) if dist == "t" else None,
        last_variance=float(sigma[-1] ** 2) / _SCALE**2,
        last_residual=float(residual[-1]) / _SCALE,
        method="garch",
        n_obs=int(values.size),
    )


@dataclass
class VolatilityReport:
    """Per forecast (fold x step) arrays of a rolling-origin volatility evaluation; pool
    several series with :meth:`pool`, summarise with :meth:`summary`."""

    returns: NDArray[np.float64]
    garch_variance: NDArray[np.float64]
    constant_variance: NDArray[np.float64]
    covered: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    covered_cumulative: dict[int, NDArray[np.bool_]] = field(default_factory=dict)
    #: Per cumulative forecast and level: |error| / half-width (covered when <= 1), and the
    #: fold it came from; what :meth:`interval_scale` calibrates the price intervals with.
    width_ratio: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    fold: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_folds: int = 0
    fallbacks: int = 0

    @classmethod
    def pool(cls, reports: Iterable[VolatilityReport]) -> VolatilityReport:
        parts = list(reports)
        if not parts:
            raise ValueError("no reports to pool")
        levels = parts[0].covered.keys()
        return cls(
            returns=np.concatenate([p.returns for p in parts]),
            garch_variance=np.concatenate([p.garch_variance for p in parts]),
            constant_variance=np.concatenate([p.constant_variance for p in parts]),
            covered={lv: np.concatenate([p.covered[lv] for p in parts]) for lv in levels},
            covered_cumulative={
                lv: np.concatenate([p.covered_cumulative[lv] for p in parts]) for lv in levels
            },
            width_ratio={lv: np.concatenate([p.width_ratio[lv] for p in parts]) for lv in levels},
            fold=np.concatenate([p.fold for p in parts]),
            n_folds=sum(p.n_folds for p in parts),
            fallbacks=sum(p.fallbacks for p in parts),
        )

    def summary(self) -> dict[str, float | int]:
        """QLIKE and MSE of both forecasts on squared returns, and interval coverage: of each
        day's return (``coverage_80``) and of the cumulative return from the origin
        (``coverage_cumulative_80``, the scale of price intervals)."""
        realised = self.returns**2
        out: dict[str, float | int] = {
            "n_folds": self.n_folds,
            "n_forecasts": int(realised.size),
            "fallbacks": self.fallbacks,
            "qlike_garch": qlike(realised, self.garch_variance),
            "qlike_constant": qlike(realised, self.constant_variance),
            "mse_garch": float(np.mean((realised - self.garch_variance) ** 2)),
            "mse_constant": float(np.mean((realised - self.constant_variance) ** 2)),
        }
        for level, hits in self.covered.items():
            out[f"coverage_{level}"] = float(hits.mean())
        for level, hits in self.covered_cumulative.items():
            out[f"coverage_cumulative_{level}"] = float(hits.mean())
        if self.width_ratio:
            out["interval_scale"] = self.interval_scale()
            # Honest coverage of the calibrated intervals: the scale is fitted on the even
            # folds and checked on the odd ones, and the other way round.
            even = self.fold % 2 == 0
            for level, ratio in self.width_ratio.items():
                hits = np.concatenate(
                    [
                        ratio[~part] <= self.interval_scale(part)
                        for part in (even, ~even)
                        if part.any() and (~part).any()
                    ]
                    or [ratio <= self.interval_scale()]
                )
                out[f"coverage_cumulative_calibrated_{level}"] = float(hits.mean())
        return out

    def interval_scale(self, rows: NDArray[np.bool_] | None = None) -> float:
        """The factor by which price intervals must widen to cover as promised.

        GARCH with fitted shocks tends to be too narrow over several days (regime shifts and
        volatility of volatility add variance it does not model). For each level, the factor
        that makes the interval cover exactly that share of the validation forecasts is a
        quantile of |error| / half-width; the served factor is their mean over the levels,
        never below 1 (intervals are only ever widened).
        """
        factors = []
        for level, ratio in self.width_ratio.items():
            chosen = ratio if rows is None else ratio[rows]
            if chosen.size:
                factors.append(float(np.quantile(chosen, level / 100.0)))
        return max(1.0, float(np.mean(factors))) if factors else 1.0


def evaluate_volatility(
    returns: ArrayLike,
    *,
    initial: int = 500,
    step: int = 20,
    horizon: int = 5,
    levels: Sequence[int] = (80, 95),
    dist: Distribution = "t",
    max_folds: int | None = None,
) -> VolatilityReport:
    """Rolling-origin comparison of GARCH with constant volatility on one return series.

    At each origin both are fitted on the returns before it and forecast the next ``horizon``
    daily variances; the realised proxy is the squared return. The return interval at each
    ``level`` is ``mu +/- multiplier * sqrt(variance)`` from the fitted GARCH; the cumulative
    return over ``k`` steps gets ``k * mu +/- multiplier * sqrt(sum of the k variances)``.
    """
    values = _returns(returns)
    garch, constant, actual = [], [], []
    covered: dict[int, list[NDArray[np.bool_]]] = {level: [] for level in levels}
    cumulative: dict[int, list[NDArray[np.bool_]]] = {level: [] for level in levels}
    ratios: dict[int, list[NDArray[np.float64]]] = {level: [] for level in levels}
    folds: list[NDArray[np.int64]] = []
    n_folds = fallbacks = 0
    for origin, test in rolling_origin_splits(
        values.size, initial=initial, step=step, horizon=horizon, max_folds=max_folds
    ):
        train = values[:origin]
        params = fit_garch(train, dist=dist)
        fallbacks += params.method == "constant"
        path = params.variance_path(horizon)
        outcome = values[test]
        garch.append(path)
        constant.append(constant_volatility(train).variance_path(horizon))
        actual.append(outcome)
        for level in levels:
            half = params.interval_multiplier(level) * np.sqrt(path)
            covered[level].append(np.abs(outcome - params.mu) <= half)
            spread = params.interval_multiplier(level) * np.sqrt(np.cumsum(path))
            drift = params.mu * np.arange(1, horizon + 1)
            error = np.abs(np.cumsum(outcome) - drift)
            cumulative[level].append(error <= spread)
            ratios[level].append(error / spread)
        folds.append(np.full(horizon, n_folds, dtype=np.int64))
        n_folds += 1
    if not n_folds:
        raise ValueError(
            f"{values.size} returns leave no fold: need at least initial + horizon "
            f"= {initial + horizon}"
        )
    return VolatilityReport(
        returns=np.concatenate(actual),
        garch_variance=np.concatenate(garch),
        constant_variance=np.concatenate(constant),
        covered={level: np.concatenate(hits) for level, hits in covered.items()},
        covered_cumulative={level: np.concatenate(hits) for level, hits in cumulative.items()},
        width_ratio={level: np.concatenate(r) for level, r in ratios.items()},
        fold=np.concatenate(folds),
        n_folds=n_folds,
        fallbacks=fallbacks,
    )
