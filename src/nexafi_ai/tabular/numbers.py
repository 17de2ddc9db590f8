"""Numbers as people write them in exports: ``"13.56%"``, ``"$1,200"``, ``" 36 months"``.

:func:`parse_numbers` reads a column's distinct values at once (Arrow's RE2);
:func:`parse_number` is its scalar twin for a real-time caller that sends a value as text.
Both use one pattern with ASCII classes only, so Python's ``re`` and RE2 agree on every input
and a value reads the same in a file as in a request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from nexafi_ai.tabular.distinct import Distinct, numpy_bool

__all__ = [
    "UNITS",
    "FloatArray",
    "Numbers",
    "as_floats",
    "as_numbers",
    "parse_number",
    "parse_numbers",
]

#: Trailing unit words a number may carry, by family; one column must use one family.
UNITS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("year", "years", "yr", "yrs", "y"), "year"),
    **dict.fromkeys(("month", "months", "mo", "mos", "mth", "mths", "mon"), "month"),
    **dict.fromkeys(("week", "weeks", "wk", "wks"), "week"),
    **dict.fromkeys(("day", "days"), "day"),
    **dict.fromkeys(
        ("usd", "eur", "gbp", "chf", "cad", "aud", "ngn", "kes", "zar", "inr"), "money"
    ),
}

# One number as people write it. ASCII classes only, so Python's re (parse_number) and Arrow's
# RE2 (the vectorised path) agree on every input.
_NUMBER: Final = (
    r"^(?P<cmp>[<>]=?)?[ \t]*[$€£¥₹]?[ \t]*"
    r"(?P<num>[-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?"
    r"|[-+]?\.[0-9]+(?:e[-+]?[0-9]+)?)"
    r"[ \t]*(?P<plus>\+)?[ \t]*(?P<pct>%)?[ \t]*(?P<unit>[a-z]+)?\.?$"
)
_NUMBER_RE: Final = re.compile(_NUMBER)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Numbers:
    """Per distinct value: the number (NaN if none) and its unit family ('' if none)."""

    values: FloatArray
    units: NDArray[np.object_]


def parse_numbers(text: Any) -> Numbers:
    """Vectorised :func:`parse_number` over stripped, lower-cased Arrow strings."""
    match = pc.extract_regex(text, _NUMBER)
    valid = numpy_bool(match.is_valid())
    raw = pc.replace_substring(match.field("num"), ",", "")
    raw = pc.if_else(match.is_valid(), raw, pa.scalar(None, pa.large_string()))
    values = np.asarray(pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    cmp = np.asarray(match.field("cmp").to_numpy(zero_copy_only=False), dtype=object)
    pct = np.asarray(match.field("pct").to_numpy(zero_copy_only=False), dtype=object)
    words = np.asarray(match.field("unit").to_numpy(zero_copy_only=False), dtype=object)
    units = pd.Series(words, dtype=object).map(dict(UNITS, **{"": ""})).fillna("?").to_numpy()
    units[pct == "%"] = np.where(units[pct == "%"] == "", "%", "?")
    values = np.where(valid & (units != "?"), values, np.nan)
    below = (cmp == "<") & (values > 0)
    values = np.where(below, values / 2.0, values)
    return Numbers(values, np.where(np.isnan(values), "", units).astype(object))


def parse_number(text: str) -> float | None:
    """One value as a numeric column of an export is read (:func:`parse_numbers`); None if not.

    The scalar twin of the vectorised reader, for a real-time caller that sends a value as
    text (the same rules, the same result).

    >>> [parse_number(t) for t in ["13.56%", " 36 months", "52,000", "10+ years", "< 1 year"]]
    [13.56, 36.0, 52000.0, 10.0, 0.5]
    >>> [parse_number(t) for t in ["n/a", "", "13,5", "A1", "3 parsecs"]]
    [None, None, None, None, None]
    """
    match = _NUMBER_RE.match(text.strip().lower())
    if match is None:
        return None
    unit = match["unit"] or ""
    if (unit and unit not in UNITS) or (unit and match["pct"]):
        return None
    value = float(match["num"].replace(",", ""))
    if math.isnan(value):
        return None
    return value / 2.0 if match["cmp"] == "<" and value > 0 else value


def as_numbers(values: pd.Series) -> pd.Series:
    """A text column as numbers by the rules of :func:`parse_number`, NaN for anything else
    (whatever share of it parses: for a column already known to hold numbers)."""
    distinct = Distinct.of(values)
    return pd.Series(distinct.take(parse_numbers(distinct.text).values, np.nan), index=values.index)


def as_floats(values: pd.Series) -> pd.Series:
    """Numbers of any dtype (nullable, Arrow, booleans) as plain floats, missing as NaN."""
    numbers = pd.to_numeric(values.astype("Float64"), errors="coerce")
    return pd.Series(numbers.to_numpy(dtype=float, na_value=np.nan), index=values.index)
