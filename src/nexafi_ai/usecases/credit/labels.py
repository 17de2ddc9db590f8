"""Credit outcome labels as lenders' exports write them: 1 = bad (default), 0 = good.

Labels may be 0/1, booleans or words: ``good``/``bad``, ``Fully Paid``/``Charged Off``,
``Default``... (:func:`labels_from`). A loan that is still running (``Current``, ``In Grace
Period``, ``Late (31-120 days)``, ``Issued``) has no final outcome yet: by default its rows are
left out of training, since calling them good would teach the model that young loans are
safe. ``--positive-label VALUE`` is the explicit alternative: that value is the bad outcome
and *every* other value is good, running loans included. Anything not recognised needs
``--positive-label``, rather than a guess that would silently invert the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import pandas as pd

from nexafi_ai.tabular import parse_number
from nexafi_ai.tabular.distinct import IntpArray

__all__ = ["labels_from", "labels_with_blanks"]

# Outcome words, compared after _outcome_text (lower case, "_"/"-" as spaces, one space).
_BAD: Final = frozenset(
    {
        "1",
        "1.0",
        "true",
        "yes",
        "y",
        "bad",
        "default",
        "defaulted",
        "charged off",
        "chargedoff",
        "charge off",
        "written off",
        "write off",
        "delinquent",
        "loss",
    }
)
_GOOD: Final = frozenset(
    {
        "0",
        "0.0",
        "false",
        "no",
        "n",
        "good",
        "paid",
        "fully paid",
        "paid off",
        "repaid",
        "non default",
        "no default",
        "not defaulted",
        "performing",
    }
)
#: Loans still running: no final outcome yet (and any status starting with "late").
_NOT_FINAL: Final = frozenset(
    {"current", "issued", "open", "active", "in grace period", "grace period", "in progress"}
)


def _outcome_text(values: pd.Series) -> pd.Series:
    """Outcome words compared loosely: ``"Charged_Off"`` and ``" charged-off "`` are one."""
    text = values.astype("string").str.strip().str.lower()
    # Lending Club: "Does not meet the credit policy. Status:Fully Paid" -> "fully paid".
    text = text.str.replace(r"^.*status:", "", regex=True)
    return text.str.replace(r"[_\-\s]+", " ", regex=True).str.strip()


def _shown(values: Iterable[Any]) -> list[str]:
    return sorted({str(v) for v in values})[:6]


def labels_from(values: pd.Series, positive_label: str | None) -> pd.Series:
    """1 for a bad outcome (default), 0 for good; NaN where the outcome is unknown.

    Unknown means blank, or a loan still running (``Current``, ``Late (31-120 days)``...)
    when no ``positive_label`` is given: those rows have no final outcome to learn from. With
    ``positive_label`` that value (compared without case or surrounding blanks; as a number
    for a numeric column) is bad and every other non-blank value good. Errors name the column.

    >>> labels_from(pd.Series(["Fully Paid", "Charged Off", None, "Current"]), None).tolist()
    [0.0, 1.0, nan, nan]
    >>> labels_from(pd.Series(["ok", "KO ", "ok"]), "ko").tolist()
    [0.0, 1.0, 0.0]
    >>> labels_from(pd.Series([0.0, 1.0, None]), "1").tolist()
    [0.0, 1.0, nan]
    """
    return labels_with_blanks(values, positive_label)[0]


def labels_with_blanks(
    values: pd.Series, positive_label: str | None
) -> tuple[pd.Series, IntpArray]:
    """:func:`labels_from`, plus the positions of the blank rows (no outcome at all).

    Training logs blanks and loans still running as separate counts, so it needs to tell
    them apart. Works on the distinct values, so a million-row target costs a factorize, not
    a million Python string operations.
    """
    name = str(values.name)
    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    distinct = pd.Series(uniques)
    text = _outcome_text(distinct.head(0) if numeric else distinct)
    if numeric:
        known = np.ones(len(distinct), dtype=bool)
    else:
        known = (text != "").fillna(False).to_numpy(dtype=bool)
    if not known.any():
        raise ValueError(f"target {name!r} is empty")
    if positive_label is not None:
        number = parse_number(str(positive_label))
        if numeric and number is not None:
            bad = distinct.astype(float).to_numpy() == number
        else:
            wanted = _outcome_text(pd.Series([str(positive_label)])).iloc[0]
            text = _outcome_text(distinct)
            bad = (text == wanted).fillna(False).to_numpy(dtype=bool)
        bad &= known
        if not bad.any():
            shown = _shown(distinct[known].head(50))
            raise ValueError(
                f"--positive-label {positive_label!r} never occurs in target {name!r} "
                f"(its values include {shown})"
            )
        per_value = np.where(known, bad.astype(float), np.nan)
    elif numeric:
        numbers = distinct.astype(float).to_numpy()
        if not set(numbers.tolist()) <= {0.0, 1.0}:
            raise ValueError(
                f"target {name!r} has values {_shown(numbers.tolist())}, not only 0/1: "
                "pass --positive-label VALUE (the value meaning default)"
            )
        per_value = numbers
    else:
        words = set(text[known])
        not_final = {w for w in words if w in _NOT_FINAL or w.startswith("late")}
        unrecognised = words - _BAD - _GOOD - not_final
        if unrecognised:
            raise ValueError(
                f"target {name!r} has values {_shown(unrecognised)} not recognised as good, "
                "bad or still running: pass --positive-label VALUE (the value meaning default)"
            )
        if not words & _BAD:
            raise ValueError(
                f"target {name!r} has no value meaning default (values: {_shown(words)}): "
                "pass --positive-label VALUE"
            )
        is_bad = text.isin(_BAD).to_numpy(dtype=bool)
        is_good = text.isin(_GOOD).to_numpy(dtype=bool)
        per_value = np.where(is_bad, 1.0, np.where(is_good, 0.0, np.nan))
    per_row = per_value[np.maximum(codes, 0)]
    blank = (codes < 0) | ~known[np.maximum(codes, 0)]
    per_row[blank] = np.nan
    return pd.Series(per_row, index=values.index, name=values.name), np.flatnonzero(blank)
