"""Reasons an analyst can read: TreeSHAP contributions named in business terms.

Each feature maps to a stable reason code and a sentence; the code never changes meaning
between model versions, so analysts and downstream rules can rely on it. Features of users' own
files (no catalog entry) get a generic code derived from their name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["REASON_CATALOG", "describe", "reason_table"]

_WINDOW = re.compile(r"^(card|terminal)_(count|mean_amount|label_rate)_(\d+)d$")

REASON_CATALOG: dict[str, tuple[str, str]] = {
    "amount": ("AMOUNT_HIGH", "The amount is high for a card payment"),
    "amount_to_card_mean_30d": (
        "AMOUNT_UNUSUAL_FOR_CARD",
        "The amount is far above this card's usual spending (30-day average)",
    ),
    "is_weekend": ("WEEKEND", "Made at the weekend"),
    "is_night": ("NIGHT_TIME", "Made at night (00:00-06:59 UTC)"),
    "hour": ("TIME_OF_DAY", "Unusual time of day"),
}
_WINDOW_TEXT = {
    ("card", "count"): (
        "CARD_VELOCITY_{w}D",
        "Number of payments with this card in the last {w} days",
    ),
    ("card", "mean_amount"): (
        "CARD_SPEND_{w}D",
        "Average spend of this card over the last {w} days",
    ),
    ("terminal", "count"): (
        "TERMINAL_ACTIVITY_{w}D",
        "Activity of this terminal over {w} days (known labels only, ending a week ago)",
    ),
    ("terminal", "label_rate"): (
        "TERMINAL_FRAUD_{w}D",
        "Confirmed fraud at this terminal over {w} days (ending a week ago)",
    ),
}


def describe(feature: str) -> tuple[str, str]:
    """(code, sentence) for a feature name.

    >>> describe("terminal_label_rate_7d")
    ('TERMINAL_FRAUD_7D', 'Confirmed fraud at this terminal over 7 days (ending a week ago)')
    >>> describe("V14")
    ('FEATURE_V14', 'Value of feature V14')
    """
    if feature in REASON_CATALOG:
        return REASON_CATALOG[feature]
    match = _WINDOW.match(feature)
    if match:
        entity, output, w = match.groups()
        code, text = _WINDOW_TEXT[(entity, output)]
        return code.format(w=w), text.format(w=w)
    safe = re.sub(r"[^A-Za-z0-9]+", "_", feature).strip("_").upper() or "FEATURE"
    return f"FEATURE_{safe}", f"Value of feature {feature}"


def reason_table(names: Sequence[str]) -> list[tuple[str, str]]:
    """Codes and sentences for every feature, computed once per model load."""
    return [describe(name) for name in names]
