"""Card numbers (PANs) in a column of an export: the whole file is refused.

A full PAN must never reach a model, a log or the registry, and an export that carries one
in any column (as text, grouped or not, or as a 16-digit integer) is an integration mistake
the user has to fix. Every row is checked, not a sample, and cheaply: the distinct values go
through :data:`nexafi_ai.pii.PAN_PREFILTER` in Arrow and only the few that pass get
:func:`nexafi_ai.pii.contains_pan`'s full check in Python.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from nexafi_ai.pii import PAN_PREFILTER, contains_pan
from nexafi_ai.tabular.distinct import Distinct, numpy_bool
from nexafi_ai.tabular.numbers import as_floats

__all__ = ["refuse_pans"]

#: Distinct values given the full check at most: a column with more PAN-like values than this
#: that are all not PANs (order numbers...) is let through rather than checked for minutes.
_MAX_PAN_CHECKS: Final = 10_000


def refuse_pans(values: pd.Series, source: str, distinct: Distinct | None = None) -> None:
    """Raise when any value of the column holds a full card number (text or integer).

    Every row is checked, not a sample: Arrow's regex finds the 13-digit runs among the
    distinct values and only those few get the Luhn check in Python. ``distinct`` saves the
    factorizing when the caller has the column's values at hand; errors name ``source``.
    """
    found: int | None = None  # the position of the first row holding one
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return
    if pd.api.types.is_numeric_dtype(values):
        numbers = as_floats(values).to_numpy()
        with np.errstate(invalid="ignore"):
            candidates = np.flatnonzero((np.abs(numbers) >= 1e12) & (numbers == np.floor(numbers)))
        raw = values.to_numpy()
        seen: set[str] = set()
        for i in candidates:
            digits = str(int(raw[i]))
            if digits not in seen and contains_pan(digits):
                found = int(i)
                break
            seen.add(digits)
            if len(seen) >= _MAX_PAN_CHECKS:
                break
    else:
        distinct = distinct or Distinct.of(values)
        hits = np.flatnonzero(numpy_bool(pc.match_substring_regex(distinct.text, PAN_PREFILTER)))
        for k in hits[:_MAX_PAN_CHECKS]:
            if contains_pan(str(distinct.original[int(k)].as_py())):
                found = int(np.flatnonzero(distinct.codes == k)[0])
                break
    if found is not None:
        label = values.index[found]  # the file's row: training may have dropped rows before
        where = f" (first at data row {label + 1})" if isinstance(label, int | np.integer) else ""
        raise ValueError(
            f"column {source!r} holds full card numbers{where}; "
            "remove the column or replace it with a token"
        )
