"""Applicant tables: the built-in generator's and lenders' own CSV / Parquet exports.

Every source becomes one standard table: ``applicant_id``, optional ``application_date``
(UTC; enables the out-of-time split lenders validate with), optional ``protected_group``
(fairness report only, never a feature), the label ``defaulted`` (1 = bad) when training,
and the lender's feature columns under their own names.

**Reading a lender's export.** Loan-system exports write numbers for people, not parsers, and
a model that silently reads ``"13.56%"`` as a category (or drops it as an id) is worse than
the built-in one for no good reason. Feature columns are read by :mod:`nexafi_ai.tabular`
(shared with the other use cases, which see the same kind of exports; its docstring has the
rules): ``"13.56%"``, ``"$1,200"``, ``" 36 months"``, ``"10+ years"`` as numbers, ``Y``/``N``
as 1/0, ``"Dec-2015"`` as a date (dates are never model inputs: pass the application date
as ``--time-column``), anything else as a category. What was read how is logged and kept in
``frame.attrs[COERCED_ATTR]`` (column -> how).

Training and batch scoring call the same function, so a file reads the same way on both paths;
:func:`conform` additionally fits a scoring table to the kinds a model was trained with, where
a small batch could fall on the other side of :data:`NUMERIC_SHARE`.

**Labels** may be 0/1, booleans or words (:mod:`nexafi_ai.usecases.credit.labels`,
:func:`labels_from`). Rows whose loan is still running have no final outcome: by default they
are left out of training with a logged count; ``--positive-label VALUE`` is the explicit
alternative.

**Card numbers** are refused wherever they appear (any column but the label and the date,
whether read as text or as 16-digit integers): a full PAN must never reach a model, a log or
the registry. Errors are :class:`ValueError` naming the column as it is in the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from nexafi_ai.tabular import (
    MISSING_TOKENS,
    NUMERIC_SHARE,
    UNITS,
    as_floats,
    as_numbers,
    parse_number,
    read_column,
    read_timestamps,
    refuse_pans,
)
from nexafi_ai.usecases.credit.generator import MONOTONE_DIRECTIONS, PROTECTED, TARGET
from nexafi_ai.usecases.credit.labels import labels_from, labels_with_blanks
from nexafi_ai.usecases.credit.scaling import FeatureSpec

# MISSING_TOKENS, NUMERIC_SHARE, UNITS, parse_number (nexafi_ai.tabular) and labels_from
# (.labels) are re-exported: callers read the credit conventions from this one module.
__all__ = [
    "COERCED_ATTR",
    "ID",
    "MISSING_TOKENS",
    "NON_FEATURES",
    "NUMERIC_SHARE",
    "TIME",
    "UNITS",
    "conform",
    "infer_features",
    "labels_from",
    "parse_number",
    "standardise_applicants",
]

log = logging.getLogger(__name__)

ID: Final = "applicant_id"
TIME: Final = "application_date"
#: Columns that are never model inputs.
NON_FEATURES: Final = frozenset({ID, TIME, PROTECTED, TARGET})
#: ``frame.attrs`` key of the columns read as numbers, booleans or dates, and how.
COERCED_ATTR: Final = "coerced_columns"


_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    ID: (ID, "application_id", "loan_id", "id", "customer_id", "member_id"),
    TIME: (TIME, "issue_d", "issue_date", "application_time", "date"),
}
#: A string column with more distinct values than this share of rows is an id, not a category.
_ID_LIKE_SHARE = 0.5
_MAX_CATEGORIES = 200
#: An integer column with a distinct value per row is an id when it is at least this long and
#: counts rows, runs in file order, or is named like one (a row number must never be a reason).
_MIN_ROWS_ID_CHECK = 1000
_ID_NAME = re.compile(r"(?:^|[_ ])(?:id|no|num|number|ref|key|index)$", re.IGNORECASE)
_SAVED_INDEX = re.compile(r"^Unnamed: \d+$")


# ---------------------------------------------------------------------------- scoring
def conform(frame: pd.DataFrame, features: Sequence[FeatureSpec]) -> pd.DataFrame:
    """``frame`` with each feature column in the kind the model was trained with.

    :func:`standardise_applicants` decides number or text from the file itself; a small batch
    can fall on the other side of :data:`NUMERIC_SHARE` (a few odd values in a hundred rows),
    or a CSV reader can read a text feature's values as integers. Scoring calls this so the
    model always gets what it learned from: numbers parsed with the same rules (anything else
    missing), categories as the text the training file held (``3`` -> ``"3"``).
    """
    out = frame.copy(deep=False)
    for spec in features:
        if spec.name not in out:
            continue
        values = out[spec.name]
        if spec.kind == "numeric" and not pd.api.types.is_numeric_dtype(values):
            out[spec.name] = as_numbers(values)
        elif spec.kind == "numeric" and pd.api.types.is_bool_dtype(values):
            out[spec.name] = as_floats(values)
        elif spec.kind == "categorical" and pd.api.types.is_numeric_dtype(values):
            codes, uniques = pd.factorize(as_floats(values), use_na_sentinel=True)
            text = np.array([_number_text(v) for v in np.asarray(uniques, dtype=float)] + [None])
            out[spec.name] = pd.Series(text[codes], index=values.index, dtype=object)
    return out


def _number_text(value: float) -> str:
    """A number as a CSV reader's text would have held it: 3.0 -> "3", 2.5 -> "2.5"."""
    return str(int(value)) if value.is_integer() else str(value)


# ---------------------------------------------------------------------------- the table
def _find(frame: pd.DataFrame, field: str, mapping: Mapping[str, str]) -> str | None:
    if field in mapping:
        column = mapping[field]
        if column not in frame.columns:
            raise ValueError(f"--column {field}={column}: no column {column!r} in the file")
        return column
    return next((c for c in _ALIASES.get(field, ()) if c in frame.columns), None)


def _columns_hint(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return f"the file has {shown}"


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text; integer ids read as floats (a blank in the column) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if bool((present == np.floor(present)).all()):
            return values.astype("Int64").astype(str)
    return values.astype(str)


def standardise_applicants(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    positive_label: str | None = None,
    time_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rename a lender's table to the standard columns and read its features as the module
    docstring says (numbers written for people, booleans, dates, categories).

    ``mapping`` maps ``applicant_id``, ``application_date``, ``protected_group`` or a built-in
    feature name to the lender's column. Training (``target`` given) drops the rows whose
    outcome is unknown (blank or a loan still running; see :func:`labels_from`) or whose
    application date is blank, logging each count, and sorts by date; scoring keeps every row
    in order. Raises :class:`ValueError` naming the column for anything it cannot use.
    """
    mapping = dict(mapping or {})
    if time_column:
        if time_column not in frame.columns:
            raise ValueError(f"--time-column {time_column}: no such column; {_columns_hint(frame)}")
        mapping[TIME] = time_column
    renames: dict[str, str] = {}
    for field in (ID, TIME):
        column = _find(frame, field, mapping)
        if column is not None:
            renames[column] = field
    for field, column in mapping.items():
        if field in (ID, TIME):
            continue
        if column not in frame.columns:
            raise ValueError(f"--column {field}={column}: no column {column!r} in the file")
        renames[column] = field
    if target is not None:
        if target not in frame.columns:
            raise ValueError(f"--target {target}: no such column; {_columns_hint(frame)}")
        if target in renames:
            raise ValueError(f"--target {target} is also mapped to {renames[target]}")
        if target != TARGET and TARGET in frame.columns and TARGET not in renames:
            raise ValueError(
                f"column {TARGET!r} is the label's standard name: pass --target {TARGET} "
                "or rename the column"
            )
    out = frame.rename(columns=renames)
    if out.columns.duplicated().any():
        dupes = sorted(set(out.columns[out.columns.duplicated()]))
        raise ValueError(f"columns {dupes} appear twice after mapping")
    source = {new: old for old, new in renames.items()}

    def name_in_file(column: Any) -> str:
        return str(source.get(str(column), column))

    # Card numbers first: nothing below may log or keep a value before this check (feature
    # columns are checked as they are read, on the distinct values already at hand).
    for column in (ID, PROTECTED):
        if column in out:
            refuse_pans(out[column], name_in_file(column))

    if target is not None:
        labels, blank = labels_with_blanks(out[target], positive_label)
        n_blank = len(blank)
        n_running = int(labels.isna().sum()) - n_blank
        if n_blank > len(labels) // 2:
            raise ValueError(f"target {target!r} is empty for {n_blank} of {len(labels)} rows")
        if n_blank:
            log.warning("target %s: dropping %d rows with no outcome", target, n_blank)
        if n_running:
            log.warning(
                "target %s: dropping %d rows of loans still running (no final outcome yet); "
                "pass --positive-label to count them as good instead",
                target,
                n_running,
            )
        out = out.drop(columns=[target])
        out[TARGET] = labels
        out = out[labels.notna()].copy()
        out[TARGET] = out[TARGET].astype(np.int8)
        if out[TARGET].nunique() < 2:
            only = "bad" if len(out) and out[TARGET].iloc[0] == 1 else "good"
            raise ValueError(
                f"target {target!r} has a single class ({len(out)} rows, all {only}) once rows "
                "without a final outcome are left out: nothing to learn"
            )
    if ID in out:
        out[ID] = _id_text(out[ID])
    else:
        out.insert(0, ID, [f"row_{i}" for i in range(len(out))])
    if TIME in out:
        out[TIME] = read_timestamps(
            out[TIME], name_in_file(TIME), strict=target is not None, what="application dates"
        )
        undated = int(out[TIME].isna().sum())
        if target is not None and undated:
            if undated > len(out) // 2:
                raise ValueError(
                    f"column {name_in_file(TIME)!r}: the application date is blank for "
                    f"{undated} of {len(out)} rows"
                )
            log.warning("dropping %d rows with no application date", undated)
            out = out[out[TIME].notna()].copy()
    if PROTECTED in out:
        out[PROTECTED] = out[PROTECTED].astype(str)
    coerced: dict[str, str] = {}
    for column in out.columns:
        if column in NON_FEATURES:
            continue
        values = out[column]
        read = read_column(values, name_in_file(column))
        if read.how is not None:
            coerced[str(column)] = read.how
            log.info("column %s read as %s", name_in_file(column), read.how)
        if read.values is not values:
            out[column] = read.values
    if TIME in out and target is not None:
        out = out.sort_values(TIME, kind="stable").reset_index(drop=True)
    out.attrs[COERCED_ATTR] = coerced
    return out


def _looks_like_row_id(name: str, values: pd.Series) -> bool:
    """An integer column with one distinct value per row that counts rows, runs in file
    order or is named like an id (``loan_no``, ``ref``...)."""
    n = len(values)
    if n < _MIN_ROWS_ID_CHECK or values.isna().any():
        return False
    numbers = values.to_numpy(dtype=float)
    if not bool((numbers == np.floor(numbers)).all()) or pd.unique(numbers).size != n:
        return False
    consecutive = float(numbers.max() - numbers.min()) == n - 1
    ordered = bool(values.is_monotonic_increasing or values.is_monotonic_decreasing)
    return consecutive or ordered or _ID_NAME.search(name) is not None


def infer_features(frame: pd.DataFrame) -> list[FeatureSpec]:
    """The model inputs of a standard table: every column but ids, dates, labels, protected.

    Strings are categorical; numbers numeric. Columns that cannot help are left out, with a
    log line saying why: all missing, constant, datetimes, a saved pandas index
    (``Unnamed: 0``), id-like strings (more distinct values than half the rows, or than
    :data:`_MAX_CATEGORIES`) and integer row ids (a number that only says which row it is
    would split the out-of-time data by date, and would be cited as a decline reason).
    Built-in feature names get their known monotone direction.
    """
    specs: list[FeatureSpec] = []
    n = max(len(frame), 1)
    for column in frame.columns:
        if column in NON_FEATURES:
            continue
        values = frame[column]
        name = str(column)
        if _SAVED_INDEX.match(name):
            log.info("feature %s left out: a saved row index", name)
            continue
        if values.isna().all() or values.nunique(dropna=True) < 2:
            log.info("feature %s left out: constant or empty", name)
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            log.info("feature %s left out: a date (pass it as --time-column)", name)
            continue
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            if _looks_like_row_id(name, values):
                log.info("feature %s left out: one integer per row looks like an id", name)
                continue
            specs.append(FeatureSpec(name, "numeric", MONOTONE_DIRECTIONS.get(name, 0)))
            continue
        distinct = values.nunique(dropna=True)
        if distinct > _ID_LIKE_SHARE * n or distinct > _MAX_CATEGORIES:
            log.info("feature %s left out: %d distinct values look like an id", name, distinct)
            continue
        specs.append(FeatureSpec(name, "categorical"))
    if not specs:
        raise ValueError("no usable feature columns")
    return specs
