"""One column of an export read as what it holds: numbers, yes/no, dates or categories.

The decision is made from the file itself, per column (see :mod:`nexafi_ai.tabular` for the
rules), and reported with the column (:class:`Read`), so a caller can log it and keep it
with the table: a model that silently read ``"13.56%"`` as a category would be worse for no
good reason, and one that read a category as numbers without saying so could not be checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from nexafi_ai.tabular.dates import date_layout, parse_dates
from nexafi_ai.tabular.distinct import MISSING_TOKENS, NUMERIC_SHARE, Distinct, is_in
from nexafi_ai.tabular.numbers import as_floats, parse_numbers
from nexafi_ai.tabular.pans import refuse_pans

__all__ = ["Read", "read_column"]

log = logging.getLogger(__name__)

_TRUE: Final = frozenset({"true", "t", "yes", "y"})
_FALSE: Final = frozenset({"false", "f", "no", "n"})


@dataclass(frozen=True, slots=True)
class Read:
    """A column as read, and how (None when it is kept as it was)."""

    values: pd.Series
    how: str | None


def read_column(values: pd.Series, source: str) -> Read:
    """A column: numbers and booleans as floats, dates as dates, text as categories.

    Checks the column for card numbers first, on the same distinct values (see
    :func:`~nexafi_ai.tabular.pans.refuse_pans`). ``source`` is the column's name in the
    file, for the log and errors.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return Read(as_floats(values), "boolean")
    if pd.api.types.is_numeric_dtype(dtype):
        refuse_pans(values, source)
        if isinstance(dtype, np.dtype):
            return Read(values, None)
        return Read(as_floats(values), None)  # nullable / Arrow numbers: plain floats, NaN
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return Read(values, None)
    distinct = Distinct.of(values)
    refuse_pans(values, source, distinct)
    present = ~is_in(distinct.text, MISSING_TOKENS)
    numbers = parse_numbers(distinct.text)
    parsed = ~np.isnan(numbers.values)
    units = set(numbers.units[parsed & (distinct.rows > 0)]) - {""}
    if parsed.any() and distinct.share(parsed, present) >= NUMERIC_SHARE:
        if len(units) <= 1:
            lost = int(distinct.rows[present & ~parsed].sum())
            if lost:
                log.warning(
                    "column %s: %d values that are not numbers read as missing", source, lost
                )
            out = pd.Series(distinct.take(numbers.values, np.nan), index=values.index)
            return Read(out, _how(units))
        log.info("column %s: numbers with mixed units %s kept as text", source, sorted(units))
    flags = is_in(distinct.text, _TRUE | _FALSE)
    if flags.any() and distinct.share(flags, present) >= NUMERIC_SHARE:
        truth = np.where(is_in(distinct.text, _TRUE), 1.0, np.where(flags, 0.0, np.nan))
        return Read(pd.Series(distinct.take(truth, np.nan), index=values.index), "boolean")
    layout = date_layout(distinct, present)
    if layout is not None:
        return Read(parse_dates(distinct, layout, values.index)[0], "date")
    return Read(_categories(values, distinct), None)


def _how(units: set[str]) -> str:
    """How a text column was read as numbers, for the log and ``attrs`` (``units``: <= 1)."""
    unit = next(iter(units), "")
    if unit == "%":
        return "number (percent sign dropped)"
    if unit == "money":
        return "number (currency code dropped)"
    return f"number of {unit}s" if unit else "number"


def _categories(values: pd.Series, distinct: Distinct) -> pd.Series:
    """Text categories stripped of surrounding blanks, blank as missing; other values as text."""
    stripped = pc.utf8_trim_whitespace(distinct.original)
    unchanged = pc.all(pc.equal(stripped, distinct.original)).as_py() is not False
    blank = pc.any(pc.equal(stripped, "")).as_py() is True
    if unchanged and not blank and isinstance(values.dtype, pd.StringDtype):
        return values
    per_value = np.asarray(stripped.to_pylist(), dtype=object)
    per_value[per_value == ""] = None
    per_row = distinct.take(per_value, None)
    dtype = values.dtype if isinstance(values.dtype, pd.StringDtype) else object
    return pd.Series(per_row, index=values.index, dtype=dtype)
