"""Request field types every use case shares: ids and free text that never carry a card number.

A value that looks like a full card number (PAN) is refused at validation, before it can reach
a log, a cache or a table, and the error never repeats the value.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from nexafi_ai.pii import contains_pan

__all__ = ["FreeText", "NoPan", "Token", "reject_pan"]


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
