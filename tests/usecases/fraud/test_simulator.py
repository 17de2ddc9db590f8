"""The transaction simulator: deterministic, well-formed, and each fraud scenario as described.

Scenarios are checked against what generated them (the compromise draws, a regeneration with a
scenario switched off), not only against aggregate rates, so a bug that shifts labels between
rows cannot hide behind a plausible fraud rate.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from nexafi_ai.pii import contains_pan
from nexafi_ai.usecases.fraud.simulator import (
    OUTPUT_COLUMNS,
    SimulatorConfig,
    simulate_compromises,
    simulate_population,
    simulate_transactions,
)

SMALL = SimulatorConfig.preset("small", seed=0)
TINY = SimulatorConfig.preset("tiny", seed=0)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return simulate_transactions(SMALL)


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return simulate_transactions(TINY)


def active_windows(draws: np.ndarray, population: int, n_days: int, length: int) -> np.ndarray:
    """(entity, day) -> True when a compromise drawn on some day d covers it (d <= day < d+len)."""
    active = np.zeros((population, n_days), dtype=bool)
    for d, drawn in enumerate(draws):
        active[drawn, d : d + length] = True
    return active


def test_presets_and_validation() -> None:
    assert SimulatorConfig.preset("default") == SimulatorConfig()
    assert (SMALL.n_customers, SMALL.n_terminals, SMALL.n_days) == (1_000, 2_000, 120)
    assert (TINY.n_customers, TINY.n_terminals, TINY.n_days) == (150, 300, 60)
    assert SimulatorConfig.preset("tiny", seed=7).seed == 7
    with pytest.raises(ValueError, match="unknown size"):
        SimulatorConfig.preset("huge")
    with pytest.raises(ValueError, match="scenarios"):
        SimulatorConfig(scenarios=(4,))
    with pytest.raises(ValueError, match="n_days"):
        SimulatorConfig(n_days=0)


def test_same_seed_same_frame_other_seed_other_frame(tiny: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(simulate_transactions(TINY), tiny)
    other = simulate_transactions(SimulatorConfig.preset("tiny", seed=1))
    assert len(other) != len(tiny) or not other["amount"].equals(tiny["amount"])


def test_schema_and_dtypes(tiny: pd.DataFrame) -> None:
    assert tuple(tiny.columns) == OUTPUT_COLUMNS
    assert isinstance(tiny.index, pd.RangeIndex)
    assert tiny.index.start == 0
    assert str(tiny["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert tiny["amount"].dtype == np.float64
    for column in ("is_fraud", "fraud_scenario"):
        assert tiny[column].dtype == np.int8
    for column in ("customer_index", "terminal_index", "day"):
        assert tiny[column].dtype == np.int32
    strings = ["transaction_id", "card_id", "terminal_id", "currency", "mcc", "channel"]
    for column in [*strings, "country", "card_country"]:
        assert pd.api.types.is_string_dtype(tiny[column]), column
        assert not isinstance(tiny[column].dtype, pd.CategoricalDtype)
        assert tiny[column].notna().all()


def test_ids_unique_and_time_ordered(tiny: pd.DataFrame) -> None:
    expected = [f"tx_{i:09d}" for i in range(len(tiny))]
    assert tiny["transaction_id"].tolist() == expected
    assert tiny["transaction_id"].is_unique
    assert tiny["timestamp"].is_monotonic_increasing
    start = TINY.start_timestamp()
    assert start == pd.Timestamp("2025-04-01", tz="UTC")
    elapsed = (tiny["timestamp"] - start).dt.total_seconds().to_numpy()
    np.testing.assert_array_equal(elapsed // 86_400, tiny["day"].to_numpy())
    assert (elapsed % 86_400 > 0).all(), "times are strictly inside the day"
    assert tiny["day"].between(0, TINY.n_days - 1).all()


def test_amounts_are_non_negative_cents(small: pd.DataFrame) -> None:
    amount = small["amount"].to_numpy()
    assert (amount >= 0).all()
    cents = amount * 100
    np.testing.assert_allclose(cents, np.round(cents), atol=1e-6)


def test_population_fields_are_tokens_and_consistent(small: pd.DataFrame) -> None:
    customers, terminals = simulate_population(SMALL)
    assert len(customers) == SMALL.n_customers
    assert len(terminals) == SMALL.n_terminals
    assert customers["card_id"].str.fullmatch(r"card_\d{6}").all()
    assert terminals["terminal_id"].str.fullmatch(r"term_\d{6}").all()
    assert not any(contains_pan(c) for c in customers["card_id"])
    assert terminals["mcc"].str.fullmatch(r"\d{4}").all()
    assert set(terminals["channel"]) == {"pos", "contactless", "ecommerce"}
    expected_currency = customers["card_country"].map({"GB": "GBP", "CH": "CHF"}).fillna("EUR")
    assert customers["currency"].tolist() == expected_currency.tolist()
    assert 0.78 < (customers["card_country"] == "FR").mean() < 0.92
    assert 0.84 < (terminals["country"] == "FR").mean() < 0.96

    # Each row carries its own customer's and terminal's fields.
    c, t = small["customer_index"].to_numpy(), small["terminal_index"].to_numpy()
    for column in ("card_id", "card_country", "currency"):
        assert (small[column].to_numpy() == customers[column].to_numpy()[c]).all(), column
    for column in ("terminal_id", "mcc", "channel"):
        assert (small[column].to_numpy() == terminals[column].to_numpy()[t]).all(), column
    assert (small["country"].to_numpy() == terminals["country"].to_numpy()[t]).all()


def test_every_terminal_used_is_within_radius(small: pd.DataFrame) -> None:
    customers, terminals = simulate_population(SMALL)
    c_xy = customers[["x", "y"]].to_numpy()[small["customer_index"].to_numpy()]
    t_xy = terminals[["x", "y"]].to_numpy()[small["terminal_index"].to_numpy()]
    distance = np.hypot(*(c_xy - t_xy).T)
    assert (distance < SMALL.radius).all()
    # Profiles stay within the published ranges.
    assert customers["mean_amount"].between(5, 100).all()
    np.testing.assert_allclose(customers["std_amount"], customers["mean_amount"] / 2)
    assert customers["mean_nb_tx_per_day"].between(0, 4).all()
    assert customers[["x", "y"]].stack().between(0, 100).all()


def test_customer_without_terminal_makes_no_transaction() -> None:
    config = SimulatorConfig(n_customers=50, n_terminals=10, n_days=20, radius=2.0, seed=3)
    customers, terminals = simulate_population(config)
    d = customers[["x", "y"]].to_numpy()[:, None, :] - terminals[["x", "y"]].to_numpy()[None]
    has_terminal = (np.hypot(d[..., 0], d[..., 1]) < config.radius).any(axis=1)
    assert not has_terminal.all(), "the setup must include isolated customers"
    frame = simulate_transactions(config)
    assert set(frame["customer_index"]) <= set(np.flatnonzero(has_terminal))


def test_scenario_1_flags_every_large_amount() -> None:
    only_1 = simulate_transactions(replace(SMALL, scenarios=(1,)))
    large = only_1["amount"] > 220
    assert large.any()
    assert (only_1["is_fraud"] == large.astype(np.int8)).all()
    assert (only_1.loc[large, "fraud_scenario"] == 1).all()


def test_scenario_1_in_the_full_run(small: pd.DataFrame) -> None:
    # Scenario 2 relabels its window (in order) and scenario 3 may push amounts past 220 while
    # keeping its own label; every other large amount is scenario 1.
    large = (small["amount"] > 220) & (small["fraud_scenario"] != 3)
    assert (small.loc[large, "is_fraud"] == 1).all()
    assert small.loc[large, "fraud_scenario"].isin([1, 2]).all()
    assert (small.loc[small["fraud_scenario"] == 1, "amount"] > 220).all()


def test_scenario_2_compromised_terminal_windows_are_fraud(small: pd.DataFrame) -> None:
    draws = simulate_compromises(SMALL).terminals
    assert draws.shape == (SMALL.n_days, 2)
    assert (draws[:, 0] != draws[:, 1]).all()
    active = active_windows(draws, SMALL.n_terminals, SMALL.n_days, 28)
    in_window = active[small["terminal_index"].to_numpy(), small["day"].to_numpy()]
    assert in_window.any()
    assert (small.loc[in_window, "is_fraud"] == 1).all()
    assert small.loc[in_window, "fraud_scenario"].isin([2, 3]).all()
    assert not (small.loc[~in_window, "fraud_scenario"] == 2).any()
    # Spelled out for one draw: all 28 days from the compromise day on.
    d, t = 40, int(draws[40, 0])
    rows = small[(small["terminal_index"] == t) & small["day"].between(d, d + 27)]
    assert len(rows) > 0
    assert (rows["is_fraud"] == 1).all()


def test_scenario_3_multiplies_a_third_of_compromised_spend_by_5(small: pd.DataFrame) -> None:
    base = simulate_transactions(replace(SMALL, scenarios=(1, 2)))
    assert (base["fraud_scenario"] != 3).all()
    same = [c for c in OUTPUT_COLUMNS if c not in {"amount", "is_fraud", "fraud_scenario"}]
    pd.testing.assert_frame_equal(small[same], base[same])

    s3 = (small["fraud_scenario"] == 3).to_numpy()
    assert s3.any()
    assert (small.loc[s3, "is_fraud"] == 1).all()
    np.testing.assert_array_equal(
        small["amount"].to_numpy()[s3], np.round(base["amount"].to_numpy()[s3] * 5, 2)
    )
    pd.testing.assert_frame_equal(small[~s3], base[~s3])

    draws = simulate_compromises(SMALL).customers
    assert draws.shape == (SMALL.n_days, 3)
    active = active_windows(draws, SMALL.n_customers, SMALL.n_days, 14)
    cust, day = small["customer_index"].to_numpy(), small["day"].to_numpy()
    assert active[cust, day][s3].all(), "scenario 3 only inside a compromised window"
    for d, drawn in enumerate(draws):
        window = np.isin(cust, drawn) & (day >= d) & (day < d + 14)
        assert s3[window].sum() >= window.sum() // 3
    share = s3.sum() / active[cust, day].sum()
    assert 0.3 < share < 0.5


def test_fraud_rate_and_every_scenario_present(small: pd.DataFrame) -> None:
    # With the handbook's fixed 2 terminals and 3 customers a day, the scenario-2/3 rates scale
    # as 1/n_terminals and 1/n_customers: about 4% on "small" (0.8% at the default size).
    rate = small["is_fraud"].mean()
    assert 0.02 < rate < 0.06
    counts = small["fraud_scenario"].value_counts()
    assert {0, 1, 2, 3} <= set(counts.index)
    assert counts[1] > 50
    assert counts[2] > counts[3] > counts[1]
    assert len(small) == pytest.approx(SMALL.n_customers * 2 * SMALL.n_days * 0.97, rel=0.1)


def test_added_fields_do_not_leak_the_label(small: pd.DataFrame) -> None:
    # Fraud clusters by terminal (scenario 2) and customer (scenario 3), so per-group rates vary
    # by ~15% from seed to seed; a field derived from the label would be off by multiples.
    overall = small["is_fraud"].mean()
    for column in ("channel", "currency"):
        by_group = small.groupby(column)["is_fraud"].mean() / overall
        assert by_group.between(0.6, 1.5).all(), by_group.to_dict()
    domestic = small["card_country"] == small["country"]
    for subset in (domestic, ~domestic):
        assert small.loc[subset, "is_fraud"].mean() / overall == pytest.approx(1, abs=0.35)


@pytest.mark.slow
def test_default_size_matches_the_handbook() -> None:
    frame = simulate_transactions()
    assert 1_700_000 < len(frame) < 1_850_000
    assert 0.006 < frame["is_fraud"].mean() < 0.011
    assert set(frame["fraud_scenario"].unique()) == {0, 1, 2, 3}
