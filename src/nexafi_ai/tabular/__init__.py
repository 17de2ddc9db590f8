"""Reading the text columns of users' own exports: numbers, yes/no and dates written for people.

Every use case that learns from a customer's CSV / Parquet export (credit applications,
card transactions, and the coming recommendation and forecasting data) meets the same
columns: loan, card and shop systems write values for people to read, not for parsers. This
package reads them the same way everywhere, whatever the use case; the use case decides
which columns are ids, dates and labels.

A text column whose non-missing values are at least :data:`NUMERIC_SHARE` numbers once
written the human way is read as numbers (:mod:`~nexafi_ai.tabular.numbers`):

* percent signs (``"13.56%"`` -> 13.56: the number *as written*, so a real-time caller who
  sends the field without its sign means the same thing), currency signs (``"$1,200"``),
  thousands separators (``"52,000"``: a comma followed by exactly three digits; a decimal
  comma such as ``"13,5"`` is not a number and keeps the column as text);
* one trailing unit word from :data:`UNITS` (``" 36 months"`` -> 36, ``"12.5 yrs"``); a
  column mixing unit families (months and years) stays text rather than compare 3 with 36;
* open ranges as exports code them: ``"10+ years"`` -> 10, ``"< 1 year"`` -> 0.5 (the middle
  of ``[0, 1)``: below every ``"1 year"``, above nothing it should not be);
* missing-value spellings (:data:`MISSING_TOKENS`: ``""``, ``"n/a"``, ``"NULL"``...) as
  missing; the few values left that are not numbers become missing too, counted in the log.

A text column of ``Y``/``N``, ``yes``/``no``, ``true``/``false`` reads as 1/0; a column of
dates (``"2015-12-01"``, ``"Dec-2015"``, ``"12/01/2015"``) as dates
(:mod:`~nexafi_ai.tabular.dates`). Anything else stays text: a category, stripped of
surrounding blanks (a real-time schema strips them too, so both paths see the same
category), with blank values missing. :func:`read_column` says what it read how.

**Card numbers** are refused wherever they appear (:func:`refuse_pans`): a column holding a
full PAN, as text or as 16-digit integers, fails the file with a :class:`ValueError` naming
the column as it is in the file.

Every step works on the distinct values of a column (:mod:`~nexafi_ai.tabular.distinct`,
Arrow string kernels), so a million-row export costs seconds, not minutes. Nothing here
knows about a use case: use cases import this package, never the other way round.
"""

from __future__ import annotations

from nexafi_ai.tabular.columns import Read, read_column
from nexafi_ai.tabular.dates import read_timestamps
from nexafi_ai.tabular.distinct import MISSING_TOKENS, NUMERIC_SHARE, Distinct
from nexafi_ai.tabular.numbers import UNITS, as_floats, as_numbers, parse_number, parse_numbers
from nexafi_ai.tabular.pans import refuse_pans

__all__ = [
    "MISSING_TOKENS",
    "NUMERIC_SHARE",
    "UNITS",
    "Distinct",
    "Read",
    "as_floats",
    "as_numbers",
    "parse_number",
    "parse_numbers",
    "read_column",
    "read_timestamps",
    "refuse_pans",
]
