"""Request field types every use case shares: ids and free text that never carry a card number.

A value that looks like a full card number (PAN) is refused at validation, before it can reach
a log, a cache or a table, and the error never repeats the value.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from nexafi_ai.pii import contains_pan

__all__ = ["FreeText", "NoPan", "Token", "reject_pan", "request_value"]


def reject_pan(value: str) -> str:
    """Return ``value`` unless it holds a full card number (pydantic validator)."""
    if contains_pan(value):
        # The message never repeats the value: it must not reach a log through the error.
        raise ValueError("looks like a full card number (PAN); send a token instead")
    return value


#: Apply to any ``str`` field: ``Annotated[str, ..., NoPan]``.
NoPan = AfterValidator(reject_pan)

#: An id or token: 1-64 of ``A-Z a-z 0-9 . _ : -`` and never a card number.
Token = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$"), NoPan]
#: A short free-text field (a merchant name, a category) that may not hold a card number.
FreeText = Annotated[str, Field(min_length=1, max_length=128), NoPan]


def request_value(cell: Any) -> float | int | str | None:
    """A table cell as the value a JSON request would carry: what a row of a training or batch
    file becomes when it is sent to the API (warm-up requests, batch scoring of profiles).

    Blanks (None, NaN, NaT, NA) and what a request cannot carry (dates) become None; numpy
    scalars become Python numbers; booleans become 0.0 / 1.0.

    >>> [request_value(v) for v in ("a", 3, 2.5, float("nan"), True, None)]
    ['a', 3, 2.5, None, 1.0, None]
    """
    if isinstance(cell, str):
        return cell
    if hasattr(cell, "item"):
        cell = cell.item()
    if isinstance(cell, bool):
        return float(cell)
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float):
        return None if math.isnan(cell) else cell
    return None
