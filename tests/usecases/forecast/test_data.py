"""Reading users' price exports into the standard price table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nexafi_ai.usecases.forecast.data import (
    CLOSE,
    DATE,
    SYMBOL,
    next_timestamps,
    read_prices,
    series_calendar,
    standardise_prices,
)


def _export() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Ticker": ["MSFT", "MSFT", "AAPL", "AAPL", "MSFT"],
            "Trade Date": ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04"],
            "Close Price": ["$1,010.00", "1,000", "190.5", "192", "1,020.5"],
            "Volume": [10, 20, 30, 40, 50],
        }
    )


def test_renamed_columns_are_found_and_sorted() -> None:
    prices = standardise_prices(_export())
    assert list(prices.columns) == [SYMBOL, DATE, CLOSE, "volume"]
    assert prices[SYMBOL].tolist() == ["AAPL", "AAPL", "MSFT", "MSFT", "MSFT"]
    assert prices[CLOSE].tolist() == [190.5, 192.0, 1000.0, 1010.0, 1020.5]
    assert prices["volume"].tolist() == [30.0, 40.0, 20.0, 10.0, 50.0]
    assert str(prices[DATE].dtype) == "datetime64[ns, UTC]"
    assert prices[DATE].iloc[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_explicit_columns_win() -> None:
    frame = pd.DataFrame(
        {"when": ["2024-01-02", "2024-01-03"], "mid": [1.0, 2.0], "close": [5.0, 6.0]}
    )
    prices = standardise_prices(frame, date_column="when", value_column="mid")
    assert prices[CLOSE].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="'nope': no such column"):
        standardise_prices(frame, date_column="nope")


def test_adjusted_close_is_preferred_and_the_bar_adjusted() -> None:
    frame = pd.DataFrame(
        {
            "Date": ["2024-01-02", "2024-01-03"],
            "Open": [9.0, 10.0],
            "High": [11.0, 12.0],
            "Low": [8.0, 9.0],
            "Close": [10.0, 11.0],
            "Adj Close": [5.0, 5.5],
        }
    )
    prices = standardise_prices(frame)
    assert prices[CLOSE].tolist() == [5.0, 5.5]
    assert prices["open"].tolist() == [4.5, 5.0]
    assert prices["high"].tolist() == [5.5, 6.0]
    assert prices["low"].tolist() == [4.0, 4.5]


def test_one_symbol_file_is_one_series() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "price": [3.0, 4.0]})
    prices = standardise_prices(frame)
    assert prices[SYMBOL].tolist() == ["series", "series"]


def test_exact_duplicate_rows_are_dropped() -> None:
    frame = pd.concat([_export(), _export().iloc[[0, 2]]], ignore_index=True)
    assert len(standardise_prices(frame)) == 5


def test_conflicting_duplicate_names_the_date_column() -> None:
    frame = _export()
    frame.loc[len(frame)] = ["MSFT", "2024-01-03", "999", 10]
    with pytest.raises(ValueError, match=r"'Trade Date'.*2024-01-03.*'MSFT'"):
        standardise_prices(frame)


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_non_positive_price_is_refused(bad: float) -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "close": [3.0, bad]})
    with pytest.raises(ValueError, match=r"column 'close'.*positive"):
        standardise_prices(frame)


def test_unparsable_dates_name_the_column() -> None:
    frame = pd.DataFrame({"Date": ["2024-01-02", "yesterday"], "close": [3.0, 4.0]})
    with pytest.raises(ValueError, match="column 'Date'"):
        standardise_prices(frame)


def test_missing_value_column_is_explained() -> None:
    with pytest.raises(ValueError, match="no value column"):
        standardise_prices(pd.DataFrame({"date": ["2024-01-02"], "qty": [1]}))


def test_blank_prices_are_dropped() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "close": ["3.5", "null"]})
    assert standardise_prices(frame)[CLOSE].tolist() == [3.5]


def test_daily_file_with_offsets_keeps_its_calendar_date() -> None:
    frame = pd.DataFrame(
        {"Date": ["2024-01-08 00:00:00+09:00", "2024-01-09 00:00:00+09:00"], "close": [1, 2]}
    )
    dates = standardise_prices(frame)[DATE]
    assert dates.tolist() == [
        pd.Timestamp("2024-01-08", tz="UTC"),
        pd.Timestamp("2024-01-09", tz="UTC"),
    ]
    assert series_calendar(dates) == "B"


def test_card_numbers_in_the_symbol_column_are_refused() -> None:
    frame = pd.DataFrame({"symbol": ["4111111111111111"], "date": ["2024-01-02"], "close": [1.0]})
    with pytest.raises(ValueError, match="symbol"):
        standardise_prices(frame)


def test_read_prices_from_csv_and_parquet(tmp_path: Path) -> None:
    expected = standardise_prices(_export())
    _export().to_csv(tmp_path / "prices.csv", index=False)
    _export().to_parquet(tmp_path / "prices.parquet", index=False)
    pd.testing.assert_frame_equal(read_prices(tmp_path / "prices.csv"), expected)
    pd.testing.assert_frame_equal(read_prices(tmp_path / "prices.parquet"), expected)


def test_calendar_and_next_timestamps() -> None:
    business = pd.Series(pd.bdate_range("2024-01-01", periods=15, tz="UTC"))
    assert series_calendar(business) == "B"
    friday = pd.Timestamp("2024-01-05", tz="UTC")
    assert next_timestamps(friday, 3, "B") == [
        pd.Timestamp("2024-01-08", tz="UTC"),
        pd.Timestamp("2024-01-09", tz="UTC"),
        pd.Timestamp("2024-01-10", tz="UTC"),
    ]
    every_day = pd.Series(pd.date_range("2024-01-01", periods=15, tz="UTC"))
    assert series_calendar(every_day) == "D"
    assert next_timestamps(friday, 2, "D") == [
        pd.Timestamp("2024-01-06", tz="UTC"),
        pd.Timestamp("2024-01-07", tz="UTC"),
    ]
    assert next_timestamps(friday, 0, "B") == []
