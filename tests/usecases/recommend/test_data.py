"""A fintech's own interaction log (and user / item tables) as the standard recommend tables.

The export is the built-in generator's data written the way a CRM or app-analytics tool writes
it: its own column names, events capitalised, times as text, integer customer ids, incomes with
currency signs. Reading it back must give the generator's tables again.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from nexafi_ai.usecases.recommend.data import (
    EVENT_WEIGHTS,
    INTERACTION_COLUMNS,
    NO_EVENT,
    RecommendData,
    standardise_interactions,
)
from nexafi_ai.usecases.recommend.generator import RecommendConfig, generate_recommend_data

PAN = "4111111111111111"  # a Luhn-valid test card number


@pytest.fixture(scope="module")
def built_in() -> RecommendData:
    return generate_recommend_data(RecommendConfig(n_users=300, seed=4))


def _customer_number(user_ids: pd.Series) -> pd.Series:
    """U000042 -> 1042: integer customer numbers, as a CRM writes them."""
    return user_ids.str[1:].astype(int) + 1000


def _export(data: RecommendData) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    it = data.interactions
    log_ = pd.DataFrame(
        {
            "CustomerID": _customer_number(it["user_id"]),
            "Product Code": it["item_id"],
            "Event Type": it["event"].str.capitalize(),
            "event_time": it["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "channel": "app",
        }
    ).sample(frac=1.0, random_state=0)  # exports are not always in time order
    users = pd.DataFrame(
        {
            "customer_id": _customer_number(data.users["user_id"]),
            "Age": data.users["age"],
            "income": data.users["income"].map(lambda v: f"${v:,.0f}"),
            "goal": data.users["goal"],
        }
    )
    items = data.items.rename(columns={"item_id": "product"})
    return log_, users, items


def test_renamed_export_reads_back(built_in: RecommendData) -> None:
    log_, users, items = _export(built_in)
    data = standardise_interactions(log_, users=users, items=items)
    it = data.interactions
    assert tuple(it.columns) == INTERACTION_COLUMNS
    assert str(it["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert it["timestamp"].is_monotonic_increasing
    assert len(it) == len(built_in.interactions)

    expected = built_in.interactions.assign(
        user_id=_customer_number(built_in.interactions["user_id"]).astype(str),
        timestamp=built_in.interactions["timestamp"].dt.floor("s"),
    )
    key = ["timestamp", "user_id", "item_id", "event"]
    got = it.sort_values(key).reset_index(drop=True)
    want = expected.sort_values(key).reset_index(drop=True)[list(INTERACTION_COLUMNS)]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert (it["weight"] == it["event"].map(EVENT_WEIGHTS)).all()

    # Every generated user is kept, cold-start ones too; features keep the user's names and
    # "$52,300" reads as a number.
    assert len(data.users) == len(built_in.users)
    assert list(data.users.columns) == ["user_id", "Age", "income", "goal"]
    assert pd.api.types.is_float_dtype(data.users["income"])
    np.testing.assert_allclose(data.users["income"], built_in.users["income"])
    assert data.users["user_id"].iloc[0] == "1001"
    # Blank text reads as missing: products serving no goal in particular have NA tags.
    read_items = data.items.assign(goals=data.items["goals"].fillna(""))
    pd.testing.assert_frame_equal(read_items, built_in.items, check_dtype=False)


def test_defaults_without_tables_or_times() -> None:
    log_ = pd.DataFrame(
        {"user": ["b", "a", "b", "c"], "item": ["x", "y", "y", "x"], "other": [1, 2, 3, 4]}
    )
    data = standardise_interactions(log_)
    it = data.interactions
    assert it["timestamp"].isna().all()
    assert str(it["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert it["user_id"].tolist() == ["b", "a", "b", "c"]  # file order kept
    assert (it["event"] == NO_EVENT).all()
    assert (it["weight"] == 1.0).all()
    assert data.users["user_id"].tolist() == ["b", "a", "c"]
    assert data.items["item_id"].tolist() == ["x", "y"]
    assert list(data.users.columns) == ["user_id"]


def test_explicit_columns_weights_and_unknown_events(caplog: pytest.LogCaptureFixture) -> None:
    log_ = pd.DataFrame(
        {
            "who": ["a", "a", "b"],
            "what": ["x", "y", "x"],
            "kind": ["view", "bookmark", "hold"],
            "strength": ["1.5", "2", "3,000"],
            "when": [20240103, 20240101, 20240102],
        }
    )
    data = standardise_interactions(
        log_, user_column="who", item_column="what", event_column="kind", time_column="when"
    )
    assert data.interactions["event"].tolist() == ["bookmark", "hold", "view"]
    assert data.interactions["weight"].tolist() == [1.0, 8.0, 1.0]  # unknown event: 1
    assert "unknown events" in caplog.text
    assert data.interactions["timestamp"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")

    weighted = standardise_interactions(
        log_, user_column="who", item_column="what", weight_column="strength"
    )
    assert weighted.interactions["weight"].tolist() == [1.5, 2.0, 3000.0]


def test_rows_without_ids_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    log_ = pd.DataFrame(
        {
            "customer_id": [101.0, np.nan, 102.0, 103.0, 104.0],
            "product_id": ["P1", "P2", "", "n/a", "P3"],
            "timestamp": pd.date_range("2024-01-01", periods=5, freq="D"),
        }
    )
    with caplog.at_level(logging.WARNING):
        data = standardise_interactions(log_)
    assert data.interactions["user_id"].tolist() == ["101", "104"]  # no ".0"
    assert data.interactions["item_id"].tolist() == ["P1", "P3"]
    assert "dropping 3 interactions without a user or an item" in caplog.text


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, 0.0], "zero or negative"),
        ([1.0, -2.0], "zero or negative"),
        (["1", "lots"], "missing or not numbers"),
        ([1.0, np.nan], "missing or not numbers"),
    ],
)
def test_bad_weights_are_refused(weights: list[object], message: str) -> None:
    log_ = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "Score": weights})
    with pytest.raises(ValueError, match=f"column 'Score'.*{message}"):
        standardise_interactions(log_, weight_column="Score")


def test_card_numbers_are_refused() -> None:
    log_ = pd.DataFrame({"customer": ["a", PAN], "product": ["x", "y"]})
    with pytest.raises(ValueError, match="column 'customer' holds full card numbers"):
        standardise_interactions(log_)
    as_integers = pd.DataFrame({"customer": [1, int(PAN)], "product": ["x", "y"]})
    with pytest.raises(ValueError, match="column 'customer' holds full card numbers"):
        standardise_interactions(as_integers)
    ok = pd.DataFrame({"customer": ["a", "b"], "product": ["x", "y"]})
    users = pd.DataFrame({"customer": ["a", "b"], "card": ["tok_1", PAN]})
    with pytest.raises(ValueError, match="column 'card' holds full card numbers"):
        standardise_interactions(ok, users=users)
    items = pd.DataFrame({"product": [PAN, "y"]})
    with pytest.raises(ValueError, match="column 'product' holds full card numbers"):
        standardise_interactions(ok, items=items)


def test_errors_name_the_column() -> None:
    log_ = pd.DataFrame({"customer": ["a"], "sku": ["x"], "when": ["not a date"]})
    with pytest.raises(ValueError, match="user column 'client'"):
        standardise_interactions(log_, user_column="client")
    with pytest.raises(ValueError, match=r"column 'when'.*could not be parsed"):
        standardise_interactions(log_, time_column="when")
    with pytest.raises(ValueError, match="no item column"):
        standardise_interactions(log_[["customer", "when"]])
    with pytest.raises(ValueError, match="users table: no user id column"):
        standardise_interactions(log_[["customer", "sku"]], users=pd.DataFrame({"age": [30]}))
    twice = pd.DataFrame({"customer": ["a", "a"], "age": [30, 31]})
    with pytest.raises(ValueError, match=r"column 'customer'.*more than once"):
        standardise_interactions(log_[["customer", "sku"]], users=twice)


def test_tables_are_completed_with_ids_from_the_log(caplog: pytest.LogCaptureFixture) -> None:
    log_ = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]})
    users = pd.DataFrame({"user_id": ["a", "z"], "age": ["30", "41"]})
    items = pd.DataFrame({"item_id": ["x"], "min_income": ["$20,000"]})
    data = standardise_interactions(log_, users=users, items=items)
    assert data.users["user_id"].tolist() == ["a", "z", "b"]  # z: a cold-start user
    assert data.users["age"].tolist()[:2] == [30.0, 41.0]
    assert np.isnan(data.users["age"].iloc[2])
    assert data.items["item_id"].tolist() == ["x", "y"]
    assert data.items["min_income"].iloc[0] == 20_000.0
    assert "not in it" in caplog.text
