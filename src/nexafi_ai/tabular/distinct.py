"""A column as its distinct values: the unit of work of every reader in this package.

A million-row export holds a few thousand distinct spellings at most (a percentage, a term,
a month), so each rule runs once per spelling with Arrow string kernels and the answer is
spread back over the rows with one ``take``: seconds for a large file, not minutes of Python
string operations. Also the two conventions all readers share: what spells "no value"
(:data:`MISSING_TOKENS`) and how much of a column must follow a reading for the column to be
read that way (:data:`NUMERIC_SHARE`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

__all__ = ["MISSING_TOKENS", "NUMERIC_SHARE", "Distinct", "IntpArray", "is_in", "numpy_bool"]

#: A text column becomes numeric when at least this share of its non-missing rows parse: a
#: stray "see notes" in a million rows must not turn income into a category, while a column
#: that is mostly words (a grade, a purpose) stays one.
NUMERIC_SHARE: Final = 0.98
#: Spellings of "no value" in a column read as numbers, booleans or dates (compared stripped
#: and lower-cased). In a categorical column only blanks are missing: "n/a" may be a category.
MISSING_TOKENS: Final = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "nil", "-", "--", "?", "#n/a", "missing", "unknown"}
)

IntpArray = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Distinct:
    """A column as its distinct values (``text``: stripped, lower-cased Arrow strings) and,
    per row, the index of its value (``codes``; -1 where missing)."""

    codes: IntpArray
    original: Any  # Arrow strings, as in the file
    text: Any  # Arrow strings, stripped and lower-cased
    rows: NDArray[np.int64]  # rows per distinct value

    @classmethod
    def of(cls, values: pd.Series) -> Distinct:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        as_text = pd.Series(uniques).astype("string[pyarrow]")
        original = pa.array(as_text.array, type=pa.large_string())
        text = pc.utf8_lower(pc.utf8_trim_whitespace(original))
        present = codes[codes >= 0]
        rows = np.bincount(present, minlength=len(uniques)).astype(np.int64)
        return cls(np.asarray(codes, dtype=np.intp), original, text, rows)

    def take(self, per_value: NDArray[Any], missing: Any) -> NDArray[Any]:
        """Per-row values from per-distinct-value ones; ``missing`` where the row is missing."""
        out = per_value[np.maximum(self.codes, 0)]
        if (self.codes < 0).any():
            out = out.copy()
            out[self.codes < 0] = missing
        return out

    def share(self, mask: NDArray[np.bool_], of: NDArray[np.bool_]) -> float:
        """The share of rows with a value in ``of`` whose value is also in ``mask``."""
        total = int(self.rows[of].sum())
        return int(self.rows[mask & of].sum()) / total if total else 0.0


def numpy_bool(array: Any) -> NDArray[np.bool_]:
    """An Arrow boolean array as NumPy, null as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def is_in(text: Any, tokens: Iterable[str]) -> NDArray[np.bool_]:
    """Which Arrow strings are among ``tokens``, as NumPy booleans."""
    return numpy_bool(pc.is_in(text, value_set=pa.array(sorted(tokens), type=pa.large_string())))
