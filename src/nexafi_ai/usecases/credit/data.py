"""Applicant tables: the built-in generator's and lenders' own CSV / Parquet exports.

Every source becomes one standard table: ``applicant_id``, optional ``application_date``
(UTC; enables the out-of-time split lenders validate with), optional ``protected_group``
(fairness report only, never a feature), the label ``defaulted`` (1 = bad) when training,
and the lender's feature columns under their own names. Labels may be 0/1, booleans or words
(``good``/``bad``, ``Fully Paid``/``Charged Off``...): common spellings are recognised, anything
else needs ``--positive-label``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from nexafi_ai.pii import contains_pan
from nexafi_ai.usecases.credit.generator import MONOTONE_DIRECTIONS, PROTECTED, TARGET
from nexafi_ai.usecases.credit.scaling import FeatureSpec

__all__ = ["ID", "NON_FEATURES", "TIME", "infer_features", "standardise_applicants"]

log = logging.getLogger(__name__)

ID = "applicant_id"
TIME = "application_date"
#: Columns that are never model inputs.
NON_FEATURES = frozenset({ID, TIME, PROTECTED, TARGET})

_ALIASES: dict[str, tuple[str, ...]] = {
    ID: (ID, "application_id", "loan_id", "id", "customer_id", "member_id"),
    TIME: (TIME, "issue_d", "issue_date", "application_time", "date"),
}
_BAD = frozenset(
    {
        "1",
        "bad",
        "default",
        "defaulted",
        "charged off",
        "charged_off",
        "chargedoff",
        "yes",
        "true",
        "y",
        "delinquent",
        "written off",
    }
)
_GOOD = frozenset(
    {
        "0",
        "good",
        "paid",
        "fully paid",
        "fully_paid",
        "current",
        "no",
        "false",
        "n",
        "non-default",
        "repaid",
    }
)
#: A string column with more distinct values than this share of rows is an id, not a category.
_ID_LIKE_SHARE = 0.5
_MAX_CATEGORIES = 200


def _find(frame: pd.DataFrame, field: str, mapping: Mapping[str, str]) -> str | None:
    if field in mapping:
        column = mapping[field]
        if column not in frame.columns:
            raise ValueError(f"--column {field}={column}: no column {column!r} in the file")
        return column
    return next((c for c in _ALIASES.get(field, ()) if c in frame.columns), None)


def labels_from(values: pd.Series, positive_label: str | None) -> pd.Series:
    """1 for a bad outcome (default), 0 for good; NaN where the outcome is unknown.

    >>> labels_from(pd.Series(["Fully Paid", "Charged Off", None]), None).tolist()
    [0.0, 1.0, nan]
    >>> labels_from(pd.Series(["ok", "ko"]), "ko").tolist()
    [0.0, 1.0]
    """
    known = values.notna()
    if positive_label is not None:
        text = values.astype(str).str.strip()
        if not (text[known] == str(positive_label)).any():
            raise ValueError(f"--positive-label {positive_label!r} never occurs in the target")
        out = (text == str(positive_label)).astype(float)
    elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        distinct = set(pd.unique(values.dropna()))
        if not distinct <= {0, 1}:
            shown = sorted(map(str, distinct))[:5]
            raise ValueError(
                f"target has values {shown}: pass --positive-label VALUE (the bad one)"
            )
        out = values.astype(float)
    else:
        text = values.astype(str).str.strip().str.lower()
        distinct = set(text[known])
        unknown = distinct - _BAD - _GOOD
        if unknown or not distinct & _BAD:
            shown = sorted(distinct)[:5]
            raise ValueError(
                f"target values {shown} are not recognised as good/bad: "
                "pass --positive-label VALUE (the value meaning default)"
            )
        out = text.isin(_BAD).astype(float)
    return out.where(known)


def standardise_applicants(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    positive_label: str | None = None,
    time_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rename a lender's table to the standard columns; keep its features as they are.

    ``mapping`` maps ``applicant_id``, ``application_date``, ``protected_group`` or a built-in
    feature name to the lender's column. Training rows whose outcome is unknown are dropped
    (they teach nothing); scoring keeps every row in order.
    """
    mapping = dict(mapping or {})
    if time_column:
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
            raise ValueError(f"--target {target}: no such column")
        if target in renames:
            raise ValueError(f"--target {target} is also mapped to {renames[target]}")
    out = frame.rename(columns=renames)
    if out.columns.duplicated().any():
        dupes = sorted(set(out.columns[out.columns.duplicated()]))
        raise ValueError(f"columns {dupes} appear twice after mapping")
    if target is not None:
        y = labels_from(out[target], positive_label)
        out = out.drop(columns=[target])
        unknown = int(y.isna().sum())
        if unknown > len(y) // 2:
            raise ValueError(f"target {target!r} is empty for {unknown} of {len(y)} rows")
        if unknown:
            log.warning("dropping %d rows whose outcome is unknown", unknown)
        out[TARGET] = y
        out = out[y.notna()].copy()
        out[TARGET] = out[TARGET].astype(np.int8)
    if ID in out:
        out[ID] = out[ID].astype(str)
    else:
        out.insert(0, ID, [f"row_{i}" for i in range(len(out))])
    if TIME in out:
        out[TIME] = _timestamps(out[TIME])
    if PROTECTED in out:
        out[PROTECTED] = out[PROTECTED].astype(str)
    for column in out.columns:
        if column in NON_FEATURES:
            continue
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(float)
        elif not pd.api.types.is_numeric_dtype(values):
            sample = values.dropna().astype(str).head(1000)
            if any(contains_pan(v) for v in sample):
                raise ValueError(f"column {column!r} holds full card numbers; remove it")
    if target is not None and out[TARGET].nunique() < 2:
        raise ValueError("the target has a single class: nothing to learn")
    if TIME in out and target is not None:
        out = out.sort_values(TIME, kind="stable").reset_index(drop=True)
    return out


def _timestamps(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    bad = int(parsed.isna().sum() - values.isna().sum())
    if bad:
        raise ValueError(f"{bad} application dates could not be parsed")
    return parsed


def infer_features(frame: pd.DataFrame) -> list[FeatureSpec]:
    """The model inputs of a standard table: every column but ids, dates, labels, protected.

    Strings are categorical; numbers numeric. Columns that cannot help are left out, with a
    log line saying why: all missing, constant, datetimes, or id-like strings (more distinct
    values than half the rows). Built-in feature names get their known monotone direction.
    """
    specs: list[FeatureSpec] = []
    n = max(len(frame), 1)
    for column in frame.columns:
        if column in NON_FEATURES:
            continue
        values = frame[column]
        name = str(column)
        if values.isna().all() or values.nunique(dropna=True) < 2:
            log.info("feature %s left out: constant or empty", name)
            continue
        if pd.api.types.is_datetime64_any_dtype(values):
            log.info("feature %s left out: a date (pass it as --time-column)", name)
            continue
        if pd.api.types.is_numeric_dtype(values):
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
