"""GARCH volatility: it beats constant volatility on the simulator, its intervals cover what
they claim, and the numpy forecast served from stored parameters is arch's own forecast."""

from __future__ import annotations

import json

import numpy as np
import pytest
from arch import arch_model  # type: ignore[import-untyped, unused-ignore]

from nexafi_ai.evaluation import diebold_mariano
from nexafi_ai.usecases.forecast.simulator import SimulatorConfig, simulate_prices
from nexafi_ai.usecases.forecast.volatility import (
    GarchParams,
    VolatilityReport,
    constant_volatility,
    evaluate_volatility,
    fit_garch,
)


@pytest.fixture(scope="module")
def returns() -> dict[str, np.ndarray]:
    prices = simulate_prices(SimulatorConfig.preset("small", seed=0))
    return {
        str(symbol): np.diff(np.log(group["close"].to_numpy()))
        for symbol, group in prices.groupby("symbol")
    }


@pytest.fixture(scope="module")
def report(returns: dict[str, np.ndarray]) -> VolatilityReport:
    series = list(returns.values())[:6]
    return VolatilityReport.pool(
        evaluate_volatility(r, initial=250, step=25, horizon=5) for r in series
    )


def test_garch_beats_constant_volatility(report: VolatilityReport) -> None:
    summary = report.summary()
    assert summary["n_forecasts"] == 6 * 41 * 5  # origins 250, 275, ..., 1250
    assert summary["fallbacks"] == 0
    assert summary["qlike_garch"] < summary["qlike_constant"] - 0.05
    assert summary["mse_garch"] < summary["mse_constant"]
    # And significantly so, day by day (QLIKE loss differential through the DM test: the
    # square root of each day's loss, shifted positive, gives it as a "squared" error).
    realised = report.returns**2
    shift = 1.0 - min(np.log(report.garch_variance).min(), np.log(report.constant_variance).min())
    garch_loss = np.log(report.garch_variance) + realised / report.garch_variance + shift
    constant_loss = np.log(report.constant_variance) + realised / report.constant_variance + shift
    _, p_value = diebold_mariano(np.sqrt(garch_loss), np.sqrt(constant_loss), horizon=5)
    assert p_value < 0.01


def test_intervals_cover_their_nominal_level(report: VolatilityReport) -> None:
    summary = report.summary()
    assert abs(summary["coverage_80"] - 0.80) < 0.05
    assert abs(summary["coverage_95"] - 0.95) < 0.05
    # Price intervals (cumulative returns over 1..5 days) too.
    assert abs(summary["coverage_cumulative_80"] - 0.80) < 0.05
    assert abs(summary["coverage_cumulative_95"] - 0.95) < 0.05


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_variance_path_is_archs_forecast(returns: dict[str, np.ndarray], dist: str) -> None:
    series = returns["SIM00"][:800]
    params = fit_garch(series, dist=dist)  # type: ignore[arg-type]
    assert params.method == "garch"
    assert params.persistence < 0.9999  # not capped, so arch's numbers apply unchanged
    result = arch_model(series * 100, mean="Constant", vol="GARCH", p=1, q=1, dist=dist).fit(
        disp="off"
    )
    expected = result.forecast(horizon=20, reindex=False).variance.to_numpy()[-1] / 100**2
    np.testing.assert_allclose(params.variance_path(20), expected, rtol=1e-6)
    assert (params.nu is None) == (dist == "normal")
    np.testing.assert_allclose(params.cumulative_variance(20), np.cumsum(expected), rtol=1e-6)


def test_update_rolls_the_state_like_arch(returns: dict[str, np.ndarray]) -> None:
    series = returns["SIM01"]
    params = fit_garch(series[:700], dist="normal")
    rolled = params.update(series[700:760])
    fixed = arch_model(series[:760] * 100, mean="Constant", vol="GARCH", p=1, q=1).fix(
        [params.mu * 100, params.omega * 100**2, params.alpha, params.beta]
    )
    expected = fixed.forecast(horizon=5, reindex=False).variance.to_numpy()[-1] / 100**2
    np.testing.assert_allclose(rolled.variance_path(5), expected, rtol=1e-6)
    assert rolled.n_obs == 760


def test_params_round_trip_through_json(returns: dict[str, np.ndarray]) -> None:
    params = fit_garch(returns["SIM02"][:500])
    restored = GarchParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert restored == params
    assert restored.nu is not None
    assert restored.nu > 2


def test_student_t_intervals_are_wider_in_the_tails() -> None:
    gaussian = GarchParams(0.0, 1e-4, 0.0, 0.0, None, 1e-4, 0.0)
    fat = GarchParams(0.0, 1e-4, 0.0, 0.0, 4.0, 1e-4, 0.0)
    assert gaussian.interval_multiplier(95) == pytest.approx(1.959964, rel=1e-5)
    # Unit-variance t: narrower in the body, wider far out.
    assert fat.interval_multiplier(80) < gaussian.interval_multiplier(80)
    assert fat.interval_multiplier(99) > gaussian.interval_multiplier(99)
    with pytest.raises(ValueError, match="level"):
        gaussian.interval_multiplier(100)


def test_short_series_fall_back_to_constant_volatility() -> None:
    short = np.random.default_rng(0).normal(0.0, 0.01, size=60)
    params = fit_garch(short)
    assert params.method == "constant"
    assert params == constant_volatility(short)
    np.testing.assert_allclose(params.variance_path(3), np.full(3, short.var()))


def test_forecast_reverts_to_the_long_run_variance(returns: dict[str, np.ndarray]) -> None:
    params = fit_garch(returns["SIM03"][:1000])
    path = params.variance_path(2000)
    assert path[-1] == pytest.approx(params.unconditional_variance, rel=1e-3)
    daily = np.sqrt(params.unconditional_variance)
    assert 0.15 < daily * np.sqrt(252) < 0.6


def test_evaluation_needs_enough_data() -> None:
    with pytest.raises(ValueError, match="no fold"):
        evaluate_volatility(np.zeros(100), initial=250, step=20, horizon=5)
