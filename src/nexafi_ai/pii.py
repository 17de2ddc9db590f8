"""Card-number (PAN) detection: a full card number must never be accepted, logged or stored.

Payment services send card *tokens*; a field that looks like a real PAN (13-19 digits, spaces or
dashes allowed, Luhn-valid) means an integration bug upstream, and the safe answer is to refuse
the request before the value reaches any log, cache or table.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["PAN_PREFILTER", "contains_pan", "luhn_valid"]

# A PAN written as one run of 13-19 digits, or grouped the way cards print them (4-4-4-4[-3],
# 4-6-5, 4-6-4) with single spaces or dashes; not glued to other digits. Other digit groupings
# (order numbers like "12345-678901-2345") are not card formatting and are not matched.
_CANDIDATE = re.compile(
    r"(?<![0-9])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -][0-9]{3})?"
    r"|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?![0-9])"
)
#: The cheap test before :func:`contains_pan`: a run of 13 digits, possibly grouped. ASCII
#: classes only, so Arrow's RE2 can apply it to a whole column (:mod:`nexafi_ai.tabular.pans`)
#: and agree with Python's re on every input.
PAN_PREFILTER: Final = r"(?:[0-9][ -]?){13}"
_THIRTEEN_DIGITS = re.compile(PAN_PREFILTER)
#: First digits issued to payment cards (2: Mastercard, 3: Amex/JCB/Diners, 4: Visa,
#: 5: Mastercard/Maestro, 6: Discover/UnionPay/Maestro); 0, 1, 7, 8, 9 are other industries.
_CARD_PREFIXES = frozenset("23456")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every issued card number satisfies.

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def contains_pan(text: str) -> bool:
    """True when ``text`` holds a Luhn-valid 13-19 digit sequence.

    >>> contains_pan("card 4111 1111 1111 1111"), contains_pan("card_000123")
    (True, False)
    >>> contains_pan("order 1234567890123")  # 13 digits, Luhn-invalid
    False
    >>> contains_pan("w-123456789-1234")  # Luhn-valid digits, but not grouped like a card
    False
    """
    if len(text) < 13 or _THIRTEEN_DIGITS.search(text) is None:
        return False
    for match in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and digits[0] in _CARD_PREFIXES and luhn_valid(digits):
            return True
    return False
