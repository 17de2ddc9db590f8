"""Applicant tables: the built-in generator's and lenders' own CSV / Parquet exports.

Every source becomes one standard table: ``applicant_id``, optional ``application_date``
(UTC; enables the out-of-time split lenders validate with), optional ``protected_group``
(fairness report only, never a feature), the label ``defaulted`` (1 = bad) when training,
and the lender's feature columns under their own names.

**Reading a lender's export.** Loan-system exports write numbers for people, not parsers, and
a model that silently reads ``"13.56%"`` as a category (or drops it as an id) is worse than
the built-in one for no good reason. So a text column whose non-missing values are at least
:data:`NUMERIC_SHARE` numbers once written the human way is read as numbers:

* percent signs (``"13.56%"`` -> 13.56: the number *as written*, so a real-time caller who
  sends the field without its sign means the same thing), currency signs (``"$1,200"``),
  thousands separators (``"52,000"``: a comma followed by exactly three digits; a decimal
  comma such as ``"13,5"`` is not a number and keeps the column as text);
* one trailing unit word from :data:`UNITS` (``" 36 months"`` -> 36, ``"12.5 yrs"``); a
  column mixing unit families (months and years) stays text rather than compare 3 with 36;
* open ranges as lenders code them: ``"10+ years"`` -> 10, ``"< 1 year"`` -> 0.5 (the middle
  of ``[0, 1)``: below every ``"1 year"``, above nothing it should not be);
* missing-value spellings (:data:`MISSING_TOKENS`: ``""``, ``"n/a"``, ``"NULL"``...) as
  missing; the few values left that are not numbers become missing too, counted in the log.

A text column of ``Y``/``N``, ``yes``/``no``, ``true``/``false`` reads as 1/0; a column of
dates (``"2015-12-01"``, ``"Dec-2015"``, ``"12/01/2015"``) as dates, which are never model
inputs (pass the application date as ``--time-column``). Anything else stays text: a category,
stripped of surrounding blanks (the real-time schema strips them too, so both paths see the
same category), with blank values missing. What was read how is logged and kept in
``frame.attrs[COERCED_ATTR]`` (column -> how).

Training and batch scoring call the same function, so a file reads the same way on both paths;
:func:`conform` additionally fits a scoring table to the kinds a model was trained with, where
a small batch could fall on the other side of the share. Every step works on the distinct
values of a column (Arrow string kernels), so a million-row export costs seconds, not minutes.

**Labels** may be 0/1, booleans or words: ``good``/``bad``, ``Fully Paid``/``Charged Off``,
``Default``... (:func:`labels_from`). A loan that is still running (``Current``, ``In Grace
Period``, ``Late (31-120 days)``, ``Issued``) has no final outcome yet: by default its rows are
left out of training with a logged count, since calling them good would teach the model that
young loans are safe. ``--positive-label VALUE`` is the explicit alternative: that value is the
bad outcome and *every* other value is good, running loans included. Anything not recognised
needs ``--positive-label``.

**Card numbers** are refused wherever they appear (any column but the label and the date,
whether read as text or as 16-digit integers): a full PAN must never reach a model, a log or
the registry. Errors are :class:`ValueError` naming the column as it is in the file.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from nexafi_ai.pii import contains_pan
from nexafi_ai.usecases.credit.generator import MONOTONE_DIRECTIONS, PROTECTED, TARGET
from nexafi_ai.usecases.credit.scaling import FeatureSpec

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

#: A text column becomes numeric when at least this share of its non-missing rows parse: a
#: stray "see notes" in a million rows must not turn income into a category, while a column
#: that is mostly words (a grade, a purpose) stays one.
NUMERIC_SHARE: Final = 0.98
#: Spellings of "no value" in a column read as numbers, booleans or dates (compared stripped
#: and lower-cased). In a categorical column only blanks are missing: "n/a" may be a category.
MISSING_TOKENS: Final = frozenset(
    {"", "na", "n/a", "nan", "none", "null", "nil", "-", "--", "?", "#n/a", "missing", "unknown"}
)
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
_TRUE: Final = frozenset({"true", "t", "yes", "y"})
_FALSE: Final = frozenset({"false", "f", "no", "n"})

# One number as people write it. ASCII classes only, so Python's re (parse_number) and Arrow's
# RE2 (the vectorised path) agree on every input.
_NUMBER: Final = (
    r"^(?P<cmp>[<>]=?)?[ \t]*[$€£¥₹]?[ \t]*"
    r"(?P<num>[-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?"
    r"|[-+]?\.[0-9]+(?:e[-+]?[0-9]+)?)"
    r"[ \t]*(?P<plus>\+)?[ \t]*(?P<pct>%)?[ \t]*(?P<unit>[a-z]+)?\.?$"
)
_NUMBER_RE: Final = re.compile(_NUMBER)
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
# A run of 13 digits, possibly grouped: the cheap pre-filter before the Luhn check.
_PAN_CANDIDATE: Final = r"(?:[0-9][ -]?){13}"
_MAX_PAN_CHECKS: Final = 10_000

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    ID: (ID, "application_id", "loan_id", "id", "customer_id", "member_id"),
    TIME: (TIME, "issue_d", "issue_date", "application_time", "date"),
}
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
#: A string column with more distinct values than this share of rows is an id, not a category.
_ID_LIKE_SHARE = 0.5
_MAX_CATEGORIES = 200
#: An integer column with a distinct value per row is an id when it is at least this long and
#: counts rows, runs in file order, or is named like one (a row number must never be a reason).
_MIN_ROWS_ID_CHECK = 1000
_ID_NAME = re.compile(r"(?:^|[_ ])(?:id|no|num|number|ref|key|index)$", re.IGNORECASE)
_SAVED_INDEX = re.compile(r"^Unnamed: \d+$")

FloatArray = NDArray[np.float64]
IntpArray = NDArray[np.intp]


# ---------------------------------------------------------------------------- distinct values
@dataclass(frozen=True, slots=True)
class _Distinct:
    """A column as its distinct values (``text``: stripped, lower-cased Arrow strings) and,
    per row, the index of its value (``codes``; -1 where missing)."""

    codes: IntpArray
    original: Any  # Arrow strings, as in the file
    text: Any  # Arrow strings, stripped and lower-cased
    rows: NDArray[np.int64]  # rows per distinct value

    @classmethod
    def of(cls, values: pd.Series) -> _Distinct:
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


def _numpy_bool(array: Any) -> NDArray[np.bool_]:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_in(text: Any, tokens: Iterable[str]) -> NDArray[np.bool_]:
    return _numpy_bool(pc.is_in(text, value_set=pa.array(sorted(tokens), type=pa.large_string())))


# ---------------------------------------------------------------------------- numbers
@dataclass(frozen=True, slots=True)
class _Numbers:
    """Per distinct value: the number (NaN if none) and its unit family ('' if none)."""

    values: FloatArray
    units: NDArray[np.object_]


def _numbers(text: Any) -> _Numbers:
    """Vectorised :func:`parse_number` over stripped, lower-cased Arrow strings."""
    match = pc.extract_regex(text, _NUMBER)
    valid = _numpy_bool(match.is_valid())
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
    return _Numbers(values, np.where(np.isnan(values), "", units).astype(object))


def parse_number(text: str) -> float | None:
    """One value as :func:`standardise_applicants` reads it in a numeric column; None if not.

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


# ---------------------------------------------------------------------------- dates
def _date_layout(distinct: _Distinct, present: NDArray[np.bool_]) -> str | None:
    """The first date layout that at least NUMERIC_SHARE of the present rows follow."""
    for pattern, layout in _DATE_LAYOUTS:
        matches = _numpy_bool(pc.match_substring_regex(distinct.text, pattern))
        if distinct.share(matches, present) >= NUMERIC_SHARE:
            if layout == "%m/%d/%Y" and _day_first(pc.filter(distinct.text, pa.array(matches))):
                layout = "%d/%m/%Y"
            return layout
    return None


def _day_first(text: Any) -> bool:
    """Slash dates are month first (US exports) unless a first field above 12 shows."""
    first = pc.extract_regex(text, r"^(?P<a>[0-9]+)/").field("a")
    return bool((np.asarray(pc.cast(first, pa.int64()).to_numpy(zero_copy_only=False)) > 12).any())


def _dates(distinct: _Distinct, layout: str, index: pd.Index) -> tuple[pd.Series, IntpArray]:
    """Per-row UTC timestamps for ``layout`` and the distinct values that did not parse.

    Missing spellings (:data:`MISSING_TOKENS`) are NaT and not counted as failures.
    """
    # The original text, trimmed: ISO's "T"/"Z" and month names keep their case.
    text = pd.Series(pc.utf8_trim_whitespace(distinct.original).to_pylist(), dtype=object)
    per_value = pd.DatetimeIndex(pd.to_datetime(text, utc=True, errors="coerce", format=layout))
    missing = _is_in(distinct.text, MISSING_TOKENS)
    failed = np.flatnonzero(per_value.isna() & ~missing & (distinct.rows > 0))
    per_value = pd.DatetimeIndex(per_value.where(~missing))
    stamps = per_value.take(np.maximum(distinct.codes, 0)).where(distinct.codes >= 0)
    return pd.Series(stamps, index=index), failed


def _timestamps(values: pd.Series, source: str, *, strict: bool) -> pd.Series:
    """The application date as UTC timestamps, however the export wrote it.

    Text in a known layout is parsed with that layout (fast, and ``"Dec-2015"`` is the first of
    December rather than whatever day dateutil guesses); other text falls back to pandas'
    mixed parser. Numbers are ``yyyymmdd`` / ``yyyymm`` when every value is one, otherwise
    seconds since 1970 (only their order matters to the split). A value that is not a date is
    an error when ``strict`` (training: the split needs every date); scoring does not use the
    date, so there it is left blank with a warning rather than failing the whole file.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values, utc=True)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return _numeric_timestamps(values)
    distinct = _Distinct.of(values)
    present = ~_is_in(distinct.text, MISSING_TOKENS)
    stamps, failed = _dates(distinct, _date_layout(distinct, present) or "mixed", values.index)
    if len(failed):
        rows = int(distinct.rows[failed].sum())
        if not strict:
            log.warning("column %s: %d application dates are not dates; left blank", source, rows)
            return stamps
        example = str(distinct.original[int(failed[0])].as_py())[:40]
        raise ValueError(
            f"column {source!r}: {rows} application dates could not be parsed "
            f"(e.g. {example!r}); expected dates like 2015-12-01 or Dec-2015"
        )
    return stamps


def _numeric_timestamps(values: pd.Series) -> pd.Series:
    numbers = pd.Series(_floats(values), index=values.index)
    present = numbers.dropna()
    integral = len(present) > 0 and bool((present == np.floor(present)).all())
    for digits, layout in ((8, "%Y%m%d"), (6, "%Y%m")):
        if integral and bool(present.between(10 ** (digits - 1), 10**digits - 1).all()):
            text = numbers.map(lambda v: "" if math.isnan(v) else str(int(v)))
            parsed = pd.to_datetime(text, format=layout, utc=True, errors="coerce")
            if int(parsed.notna().sum()) == len(present):
                return parsed
    return pd.to_datetime(numbers, unit="s", utc=True)


# ---------------------------------------------------------------------------- card numbers
def _refuse_pans(values: pd.Series, source: str, distinct: _Distinct | None = None) -> None:
    """Raise when any value of the column holds a full card number (text or integer).

    Every row is checked, not a sample: Arrow's regex finds the 13-digit runs among the
    distinct values and only those few get the Luhn check in Python.
    """
    found: int | None = None  # the position of the first row holding one
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return
    if pd.api.types.is_numeric_dtype(values):
        numbers = _floats(values).to_numpy()
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
        distinct = distinct or _Distinct.of(values)
        hits = np.flatnonzero(_numpy_bool(pc.match_substring_regex(distinct.text, _PAN_CANDIDATE)))
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


# ---------------------------------------------------------------------------- labels
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
    return _labels(values, positive_label)[0]


def _labels(values: pd.Series, positive_label: str | None) -> tuple[pd.Series, IntpArray]:
    """:func:`labels_from`, plus the positions of the blank rows (no outcome at all).

    Works on the distinct values, so a million-row target costs a factorize, not a million
    Python string operations.
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


# ---------------------------------------------------------------------------- columns
@dataclass(frozen=True, slots=True)
class _Read:
    """A feature column as read, and how (None when it is kept as it was)."""

    values: pd.Series
    how: str | None


def _read_column(values: pd.Series, source: str) -> _Read:
    """A feature column: numbers and booleans as floats, dates as dates, text as categories.

    Checks the column for card numbers first, on the same distinct values.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _Read(_floats(values), "boolean")
    if pd.api.types.is_numeric_dtype(dtype):
        _refuse_pans(values, source)
        if isinstance(dtype, np.dtype):
            return _Read(values, None)
        return _Read(_floats(values), None)  # nullable / Arrow numbers: plain floats, NaN
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _Read(values, None)
    distinct = _Distinct.of(values)
    _refuse_pans(values, source, distinct)
    present = ~_is_in(distinct.text, MISSING_TOKENS)
    numbers = _numbers(distinct.text)
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
            return _Read(out, _how(units))
        log.info("column %s: numbers with mixed units %s kept as text", source, sorted(units))
    flags = _is_in(distinct.text, _TRUE | _FALSE)
    if flags.any() and distinct.share(flags, present) >= NUMERIC_SHARE:
        truth = np.where(_is_in(distinct.text, _TRUE), 1.0, np.where(flags, 0.0, np.nan))
        return _Read(pd.Series(distinct.take(truth, np.nan), index=values.index), "boolean")
    layout = _date_layout(distinct, present)
    if layout is not None:
        return _Read(_dates(distinct, layout, values.index)[0], "date")
    return _Read(_categories(values, distinct), None)


def _floats(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values.astype("Float64"), errors="coerce")
    return pd.Series(numbers.to_numpy(dtype=float, na_value=np.nan), index=values.index)


def _how(units: set[str]) -> str:
    """How a text column was read as numbers, for the log and ``attrs`` (``units``: <= 1)."""
    unit = next(iter(units), "")
    if unit == "%":
        return "number (percent sign dropped)"
    if unit == "money":
        return "number (currency code dropped)"
    return f"number of {unit}s" if unit else "number"


def _categories(values: pd.Series, distinct: _Distinct) -> pd.Series:
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
            distinct = _Distinct.of(values)
            out[spec.name] = pd.Series(
                distinct.take(_numbers(distinct.text).values, np.nan), index=values.index
            )
        elif spec.kind == "numeric" and pd.api.types.is_bool_dtype(values):
            out[spec.name] = _floats(values)
        elif spec.kind == "categorical" and pd.api.types.is_numeric_dtype(values):
            codes, uniques = pd.factorize(_floats(values), use_na_sentinel=True)
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
            _refuse_pans(out[column], name_in_file(column))

    if target is not None:
        labels, blank = _labels(out[target], positive_label)
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
        out[TIME] = _timestamps(out[TIME], name_in_file(TIME), strict=target is not None)
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
        read = _read_column(values, name_in_file(column))
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
