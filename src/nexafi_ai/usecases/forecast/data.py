"""Price data: the standard price table every forecasting model, metric and route reads.

A long table, one row per symbol and observation: ``symbol`` (text), ``date`` (UTC timestamps,
midnight for daily data), ``close`` (> 0: the *adjusted* close when the file has one, so splits
and dividends do not look like crashes) and, when the file has them, ``open``, ``high``, ``low``
and ``volume``. Sorted by symbol then date, one row per symbol and date. Steps are observations
(trading days), not calendar days: the series is indexed by position, and forecast timestamps
follow the series' own calendar (:func:`series_calendar`, :func:`next_timestamps`).

**Reading a user's own export** (:func:`standardise_prices`, :func:`read_prices`). Columns are
found by the names exports use (``Date``, ``timestamp``; ``Adj Close``, ``close``, ``price``;
``Symbol``, ``ticker``...; case, spaces and underscores ignored) unless given. A file without a
symbol column is one series, named ``"series"``. Dates are read as exports write them
(:func:`nexafi_ai.tabular.read_timestamps`); a daily file stamped at a fixed hour or with a
time-zone offset (``2020-01-02 00:00:00-05:00``) keeps its own calendar date at midnight UTC, so
a Tokyo file's Monday stays a Monday. Prices are numbers as people write them (``"$1,234.50"``).

When the value is the adjusted close and the file also has the raw close, open / high / low are
scaled by the same adjustment factor, so the bar stays consistent with the close (what data
vendors call auto-adjusting). Rows with no date or no price (a holiday row of ``null``) are
dropped with a logged count. Exact duplicate rows are dropped; the same symbol and date with
different values, a non-positive price, or a date that cannot be read fail the file with a
:class:`ValueError` naming the user's column.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

from nexafi_ai.io import read_table
from nexafi_ai.tabular import as_floats, as_numbers, read_timestamps, refuse_pans

__all__ = [
    "CLOSE",
    "DATE",
    "DEFAULT_SYMBOL",
    "HIGH",
    "LOW",
    "OPEN",
    "PRICE_COLUMNS",
    "SOURCE_ROW",
    "SYMBOL",
    "VOLUME",
    "Calendar",
    "next_timestamps",
    "read_prices",
    "series_calendar",
    "standardise_prices",
]

log = logging.getLogger(__name__)

SYMBOL: Final = "symbol"
DATE: Final = "date"
CLOSE: Final = "close"
OPEN: Final = "open"
HIGH: Final = "high"
LOW: Final = "low"
VOLUME: Final = "volume"
#: Columns of the standard price table, in order; the last four are optional.
PRICE_COLUMNS: Final = (SYMBOL, DATE, CLOSE, OPEN, HIGH, LOW, VOLUME)
#: The symbol of a file without a symbol column.
DEFAULT_SYMBOL: Final = "series"
#: A row's position in the user's file (``standardise_prices(..., source_rows=True)``).
SOURCE_ROW: Final = "source_row"

Calendar = Literal["B", "D"]

# Column names exports use, compared without case, spaces, dashes or underscores; the first
# present wins (so the adjusted close is preferred over the raw close).
_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    DATE: ("date", "timestamp", "datetime", "time", "trade_date", "day", "period", "ts"),
    CLOSE: (
        "adj_close",
        "adjusted_close",
        "adj_close_price",
        "close",
        "close_price",
        "closing_price",
        "price",
        "last",
        "value",
    ),
    SYMBOL: ("symbol", "ticker", "instrument", "security", "asset", "isin", "code"),
    OPEN: ("open", "open_price"),
    HIGH: ("high", "high_price"),
    LOW: ("low", "low_price"),
    VOLUME: ("volume", "vol"),
}
_RAW_CLOSE: Final = ("close", "close_price", "closing_price")
_ADJUSTED: Final = frozenset(("adjclose", "adjustedclose", "adjcloseprice"))
_ISO_DATE: Final = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[ T]")


def _key(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _find(frame: pd.DataFrame, aliases: tuple[str, ...], exclude: set[str]) -> str | None:
    by_key: dict[str, str] = {}
    for column in frame.columns:
        if column not in exclude:
            by_key.setdefault(_key(column), str(column))
    for alias in aliases:
        if _key(alias) in by_key:
            return by_key[_key(alias)]
    return None


def _given(frame: pd.DataFrame, column: str, what: str) -> str:
    if column not in frame.columns:
        names = ", ".join(str(c) for c in frame.columns[:30])
        raise ValueError(f"{what} column {column!r}: no such column; the table has {names}")
    return column


def _numbers(values: pd.Series) -> pd.Series:
    """Numbers however the export wrote them (``"$1,234.50"``), as floats with NaN blanks."""
    if pd.api.types.is_bool_dtype(values):
        raise ValueError("a price column cannot be yes/no values")
    if pd.api.types.is_numeric_dtype(values):
        return pd.Series(as_floats(values), index=values.index, dtype=np.float64)
    return pd.Series(as_numbers(values), index=values.index).astype(np.float64)


def _daily_dates(values: pd.Series, stamps: pd.Series) -> pd.Series:
    """Daily data at midnight UTC on the date the export meant.

    Data is daily when every stamp has the same time of day. A stamp at another hour than
    midnight is a local midnight or a closing time: the calendar date as written is kept (an
    offset of +09:00 would otherwise move Monday to Sunday in UTC).
    """
    present = stamps.dropna()
    if present.empty:
        return stamps
    time_of_day = present - present.dt.floor("D")
    if time_of_day.nunique() != 1 or time_of_day.iloc[0] == pd.Timedelta(0):
        return stamps
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        local = values.dt.tz_localize(None).dt.floor("D")
        return pd.Series(pd.to_datetime(local).dt.tz_localize("UTC"), index=values.index)
    text = values.astype("string")
    if bool(text.dropna().str.match(_ISO_DATE.pattern).all()):
        return pd.Series(
            pd.to_datetime(text.str.strip().str[:10], utc=True, format="%Y-%m-%d"),
            index=values.index,
        )
    floored: pd.Series = stamps.dt.floor("D")
    return floored


def standardise_prices(
    frame: pd.DataFrame,
    *,
    date_column: str | None = None,
    value_column: str | None = None,
    symbol_column: str | None = None,
    source_rows: bool = False,
) -> pd.DataFrame:
    """A user's price export (one or many symbols) as the standard price table.

    See the module docstring for how columns are found and read. With ``source_rows`` the
    table also has a ``source_row`` column, each row's position in ``frame``: the table is
    re-sorted and loses rows, and a batch maps its forecasts back to the file's rows with it.

    >>> raw = pd.DataFrame({"Date": ["2024-01-03", "2024-01-02", "2024-01-02"],
    ...                     "Close": [10.0, 9.0, 9.0], "Adj Close": [5.0, 4.5, 4.5],
    ...                     "High": [11.0, 9.5, 9.5]})
    >>> prices = standardise_prices(raw)
    >>> prices[["symbol", "close", "high"]].values.tolist()
    [['series', 4.5, 4.75], ['series', 5.0, 5.5]]
    >>> str(prices["date"].dtype), prices["date"].iloc[0].isoformat()
    ('datetime64[ns, UTC]', '2024-01-02T00:00:00+00:00')
    """
    used: set[str] = set()
    found: dict[str, str | None] = {}
    for field, given, what in (
        (DATE, date_column, "date"),
        (CLOSE, value_column, "value"),
        (SYMBOL, symbol_column, "symbol"),
    ):
        found[field] = _given(frame, given, what) if given else _find(frame, _ALIASES[field], used)
        if found[field] is not None:
            used.add(str(found[field]))
    for field, what in ((DATE, "date"), (CLOSE, "value")):
        if found[field] is None:
            names = ", ".join(str(c) for c in frame.columns[:30])
            raise ValueError(
                f"no {what} column: pass {what}_column, or name it one of "
                f"{', '.join(_ALIASES[field])}; the table has {names}"
            )
    for field in (OPEN, HIGH, LOW, VOLUME):
        found[field] = _find(frame, _ALIASES[field], used)
        if found[field] is not None:
            used.add(str(found[field]))
    date_source, value_source = str(found[DATE]), str(found[CLOSE])
    symbol_source = found[SYMBOL]

    data = frame.reset_index(drop=True)
    out = pd.DataFrame(index=data.index)
    if symbol_source is not None:
        refuse_pans(data[symbol_source], symbol_source)
        symbols = data[symbol_source].astype("string").str.strip()
        out[SYMBOL] = symbols.where(symbols.str.len() > 0)
    else:
        out[SYMBOL] = DEFAULT_SYMBOL
    stamps = read_timestamps(data[date_source], date_source, strict=True, what="dates")
    out[DATE] = _daily_dates(data[date_source], stamps)
    try:
        out[CLOSE] = _numbers(data[value_source])
    except ValueError as error:
        raise ValueError(f"column {value_source!r}: {error}") from None
    for field in (OPEN, HIGH, LOW, VOLUME):
        source = found[field]
        if source is not None:
            out[field] = _numbers(data[source])
    raw_close = _find(frame, _RAW_CLOSE, {value_source})
    if raw_close is not None and _key(value_source) in _ADJUSTED:
        # The value is an adjusted close: put the bar on the same adjusted scale.
        factor = out[CLOSE] / _numbers(data[raw_close])
        for field in (OPEN, HIGH, LOW):
            if field in out.columns:
                out[field] = out[field] * factor

    blank = out[SYMBOL].isna() | out[DATE].isna() | out[CLOSE].isna()
    if blank.any():
        log.warning(
            "dropping %d rows without a symbol, a date or a price (%s)",
            int(blank.sum()),
            value_source,
        )
        out = out[~blank]
    if not np.isfinite(out[CLOSE].to_numpy()).all() or (out[CLOSE] <= 0).any():
        bad = out.loc[~(out[CLOSE] > 0) | ~np.isfinite(out[CLOSE]), CLOSE]
        raise ValueError(
            f"column {value_source!r}: {len(bad)} prices are zero, negative or infinite "
            f"(e.g. {float(bad.iloc[0]):g}); prices must be positive"
        )
    if out.empty:
        raise ValueError(f"no prices left: column {value_source!r} has no usable rows")

    out = out.drop_duplicates()
    clash = out.duplicated(subset=[SYMBOL, DATE], keep=False)
    if clash.any():
        first = out.loc[clash].sort_values(DATE).iloc[0]
        raise ValueError(
            f"column {date_source!r}: {int(clash.sum())} rows share a symbol and date with "
            f"different values (first {first[DATE].date().isoformat()} for {first[SYMBOL]!r}); "
            "keep one row per symbol and date"
        )
    out[SYMBOL] = out[SYMBOL].astype(str)
    out[DATE] = pd.to_datetime(out[DATE], utc=True).astype("datetime64[ns, UTC]")
    out = out.sort_values([SYMBOL, DATE], kind="stable")
    positions = out.index.to_numpy(dtype=np.int64)  # ``data``'s positions: 0..len(frame)-1
    out = out.reset_index(drop=True)[[c for c in PRICE_COLUMNS if c in out.columns]]
    if source_rows:
        out[SOURCE_ROW] = positions
    return out


def read_prices(
    path: Path,
    *,
    date_column: str | None = None,
    value_column: str | None = None,
    symbol_column: str | None = None,
) -> pd.DataFrame:
    """A CSV or Parquet price export as the standard price table (:func:`standardise_prices`)."""
    return standardise_prices(
        read_table(path),
        date_column=date_column,
        value_column=value_column,
        symbol_column=symbol_column,
    )


def series_calendar(dates: pd.Series | pd.DatetimeIndex) -> Calendar:
    """``"B"`` (business days) when no observation falls on a weekend, else ``"D"``.

    Stocks trade on business days, crypto every day: the next timestamps of a forecast must
    follow the calendar the series itself keeps.

    >>> series_calendar(pd.bdate_range("2024-01-01", periods=10))
    'B'
    >>> series_calendar(pd.date_range("2024-01-01", periods=10))
    'D'
    """
    index = pd.DatetimeIndex(dates)
    return "D" if bool((index.dayofweek >= 5).any()) else "B"


def next_timestamps(last: pd.Timestamp, n: int, calendar: Calendar) -> list[pd.Timestamp]:
    """The ``n`` timestamps after ``last`` on ``calendar``, keeping its time of day and zone.

    >>> [t.date().isoformat() for t in next_timestamps(pd.Timestamp("2024-01-05", tz="UTC"), 2,
    ...                                                 "B")]
    ['2024-01-08', '2024-01-09']
    >>> next_timestamps(pd.Timestamp("2024-01-05", tz="UTC"), 1, "D")[0].isoformat()
    '2024-01-06T00:00:00+00:00'
    """
    if n < 1:
        return []
    if calendar == "B":
        return [pd.Timestamp(last + pd.offsets.BDay(k)) for k in range(1, n + 1)]
    if calendar == "D":
        return [pd.Timestamp(last + pd.Timedelta(days=k)) for k in range(1, n + 1)]
    raise ValueError(f"calendar must be 'B' or 'D', got {calendar!r}")
