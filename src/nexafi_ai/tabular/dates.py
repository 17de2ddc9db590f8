"""Dates as exports write them: ``"2015-12-01"``, ``"Dec-2015"``, ``"12/01/2015"``, 20151201.

A column's layout is found once, on its distinct values, and every value is then parsed with
that layout: fast, and ``"Dec-2015"`` is the first of December rather than whatever day a
guessing parser picks. Slash dates are month first (US exports) unless a day above 12 shows.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from nexafi_ai.tabular.distinct import (
    MISSING_TOKENS,
    NUMERIC_SHARE,
    Distinct,
    IntpArray,
    is_in,
    numpy_bool,
)
from nexafi_ai.tabular.numbers import as_floats

__all__ = ["date_layout", "parse_dates", "read_timestamps"]

log = logging.getLogger(__name__)

# Date layouts recognised in text columns, tried in order: (RE2 pattern, pandas format).
_DATE_LAYOUTS: Final = (
    (
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[ t][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
        r"(?:z|[+-][0-9]{2}:?[0-9]{2})?$",
        "ISO8601",
    ),
    (r"^[a-z]{3}-[0-9]{4}$", "%b-%Y"),
    (r"^[a-z]{3} [0-9]{4}$", "%b %Y"),
    (r"^[0-9]{4}-[0-9]{2}$", "%Y-%m"),
    (r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$", "%m/%d/%Y"),  # day first when a day > 12 shows
)


def date_layout(distinct: Distinct, present: NDArray[np.bool_]) -> str | None:
    """The first date layout that at least NUMERIC_SHARE of the present rows follow."""
    for pattern, layout in _DATE_LAYOUTS:
        matches = numpy_bool(pc.match_substring_regex(distinct.text, pattern))
        if distinct.share(matches, present) >= NUMERIC_SHARE:
            if layout == "%m/%d/%Y" and _day_first(pc.filter(distinct.text, pa.array(matches))):
                layout = "%d/%m/%Y"
            return layout
    return None


def _day_first(text: Any) -> bool:
    """Slash dates are month first (US exports) unless a first field above 12 shows."""
    first = pc.extract_regex(text, r"^(?P<a>[0-9]+)/").field("a")
    return bool((np.asarray(pc.cast(first, pa.int64()).to_numpy(zero_copy_only=False)) > 12).any())


def parse_dates(distinct: Distinct, layout: str, index: pd.Index) -> tuple[pd.Series, IntpArray]:
    """Per-row UTC timestamps for ``layout`` and the distinct values that did not parse.

    Missing spellings (:data:`MISSING_TOKENS`) are NaT and not counted as failures.
    """
    # The original text, trimmed: ISO's "T"/"Z" and month names keep their case.
    text = pd.Series(pc.utf8_trim_whitespace(distinct.original).to_pylist(), dtype=object)
    per_value = pd.DatetimeIndex(pd.to_datetime(text, utc=True, errors="coerce", format=layout))
    missing = is_in(distinct.text, MISSING_TOKENS)
    failed = np.flatnonzero(per_value.isna() & ~missing & (distinct.rows > 0))
    per_value = pd.DatetimeIndex(per_value.where(~missing))
    stamps = per_value.take(np.maximum(distinct.codes, 0)).where(distinct.codes >= 0)
    return pd.Series(stamps, index=index), failed


def read_timestamps(
    values: pd.Series, source: str, *, strict: bool, what: str = "values"
) -> pd.Series:
    """A date column as UTC timestamps, however the export wrote it.

    Text in a known layout is parsed with that layout; other text falls back to pandas'
    mixed parser. Numbers are ``yyyymmdd`` / ``yyyymm`` when every value is one, otherwise
    seconds since 1970. A value that is not a date is an error when ``strict`` (a caller that
    needs every date, such as an out-of-time split); otherwise it is left blank with a
    warning rather than failing the whole file. Messages name the column as ``source`` and
    its values as ``what`` (``"application dates"``).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _numeric_timestamps(values)
    distinct = Distinct.of(values)
    present = ~is_in(distinct.text, MISSING_TOKENS)
    stamps, failed = parse_dates(distinct, date_layout(distinct, present) or "mixed", values.index)
    if len(failed):
        rows = int(distinct.rows[failed].sum())
        if not strict:
            log.warning("column %s: %d %s are not dates; left blank", source, rows, what)
            return stamps
        example = str(distinct.original[int(failed[0])].as_py())[:40]
        raise ValueError(
            f"column {source!r}: {rows} {what} could not be parsed "
            f"(e.g. {example!r}); expected dates like 2015-12-01 or Dec-2015"
        )
    return stamps


def _numeric_timestamps(values: pd.Series) -> pd.Series:
    numbers = pd.Series(as_floats(values), index=values.index)
    present = numbers.dropna()
    integral = len(present) > 0 and bool((present == np.floor(present)).all())
    for digits, layout in ((8, "%Y%m%d"), (6, "%Y%m")):
        if integral and bool(present.between(10 ** (digits - 1), 10**digits - 1).all()):
            text = numbers.map(lambda v: "" if math.isnan(v) else str(int(v)))
            parsed = pd.to_datetime(text, format=layout, utc=True, errors="coerce")
            if int(parsed.notna().sum()) == len(present):
                return parsed
    return pd.to_datetime(numbers, unit="s", utc=True)
