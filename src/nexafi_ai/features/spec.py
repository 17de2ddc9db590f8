"""Windowed aggregates declared once: names, window bounds and the final float expressions.

Fraud models are trained on features computed offline from the event history and scored on
features computed online, event by event. Any difference between the two (a boundary taken as
``<`` on one side and ``<=`` on the other, a mean divided in another order) is training/serving
skew that silently costs accuracy. So everything both sides must agree on lives here and both
call it: :class:`WindowBounds` says which events a window holds, :meth:`WindowSpec.slots` says
which raw integer aggregates (count, cent sum, positive labels) are needed, and
:func:`window_values` turns those integers into floats with one expression for Python floats
and numpy arrays alike. Amounts are integer cents so the sums are exact on both sides; the
floats are then produced by the same IEEE operations, so online equals offline bit for bit.

Time is integer seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Literal, TypeVar, get_args

import numpy as np
import numpy.typing as npt

__all__ = [
    "DAY_S",
    "OUTPUTS",
    "EntityWindows",
    "Output",
    "Slot",
    "WindowBounds",
    "WindowSpec",
    "window_values",
]

DAY_S: Final = 86_400
Output = Literal["count", "mean_amount", "label_rate"]
OUTPUTS: Final[tuple[str, ...]] = get_args(Output)

#: A Python float (online, per event) or a float64 array (offline, per column).
_F = TypeVar("_F", float, npt.NDArray[np.float64])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class WindowBounds:
    """The events a window holds for an event at time ``t``: ``ts`` in ``(t - start_s, t - end_s]``.

    With ``includes_event`` (delay 0) the window also holds the event itself, and of the events
    sharing its timestamp only those that came before it in stream order; without it (a
    delayed window, ``end_s > 0``) the event is never in it and arrival order does not matter.
    """

    start_s: int
    end_s: int
    includes_event: bool

    def at(self, t: int) -> tuple[int, int]:
        """The ``(exclusive low, inclusive high)`` timestamps of the window at time ``t``.

        >>> WindowBounds(start_s=86_400, end_s=0, includes_event=True).at(100_000)
        (13600, 100000)
        """
        return t - self.start_s, t - self.end_s


@dataclass(frozen=True)
class EntityWindows:
    """Windows over the events of one entity (a card, a terminal), with their outputs.

    Feature names are ``f"{prefix}_{output}_{w}d"``. ``delay_days`` shifts the windows back in
    time: a delayed window only holds events old enough for their labels to be known, which is
    why ``label_rate`` is only allowed on delayed windows (a delay-0 label rate would use labels
    that do not exist yet when the event is scored, i.e. train on leaked information).
    """

    entity: str
    prefix: str
    windows_days: tuple[int, ...]
    delay_days: int = 0
    outputs: tuple[str, ...] = ("count",)

    def __post_init__(self) -> None:
        if not self.entity or ":" in self.entity:
            # ":" separates the parts of Redis key names, so it cannot appear in a field name.
            raise ValueError(f"entity must be a non-empty name without ':', got {self.entity!r}")
        if not self.prefix:
            raise ValueError("prefix must not be empty")
        if not self.windows_days or not all(_is_int(w) and w > 0 for w in self.windows_days):
            raise ValueError(f"windows_days must be positive integers, got {self.windows_days}")
        if len(set(self.windows_days)) != len(self.windows_days):
            raise ValueError(f"windows_days has duplicates: {self.windows_days}")
        if not _is_int(self.delay_days) or self.delay_days < 0:
            raise ValueError(f"delay_days must be a non-negative integer, got {self.delay_days}")
        unknown = [o for o in self.outputs if o not in OUTPUTS]
        if not self.outputs or unknown or len(set(self.outputs)) != len(self.outputs):
            raise ValueError(f"outputs must be distinct values among {OUTPUTS}: {self.outputs}")
        if "label_rate" in self.outputs and self.delay_days == 0:
            raise ValueError(
                f"{self.prefix}: label_rate needs delay_days > 0 (labels of the last events "
                "are not known when an event is scored)"
            )

    def bounds(self, window_days: int) -> WindowBounds:
        """The time range of one of this group's windows.

        >>> EntityWindows("card_id", "card", (7,), delay_days=2).bounds(7)
        WindowBounds(start_s=777600, end_s=172800, includes_event=False)
        """
        return WindowBounds(
            start_s=(self.delay_days + window_days) * DAY_S,
            end_s=self.delay_days * DAY_S,
            includes_event=self.delay_days == 0,
        )

    @property
    def needs_amounts(self) -> bool:
        """Whether any output of this group reads amounts (cent sums cost a scan online)."""
        return "mean_amount" in self.outputs

    @property
    def needs_labels(self) -> bool:
        """Whether any output of this group reads labels."""
        return "label_rate" in self.outputs

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Window order, then output order, both as declared."""
        return tuple(
            f"{self.prefix}_{output}_{w}d" for w in self.windows_days for output in self.outputs
        )


@dataclass(frozen=True, slots=True)
class Slot:
    """One raw aggregate the stores compute: (count, cent sum, positive labels) of a window.

    Windows of different groups with the same entity and bounds share one slot. A cent sum
    no output reads is reported as 0, as are positives no output reads: every store skips the
    work (online, summing cents means reading every event in the window) and all agree.
    """

    entity: str
    bounds: WindowBounds
    needs_amounts: bool
    needs_labels: bool


@dataclass(frozen=True)
class WindowSpec:
    """All windowed features of a model: groups in order, each expanding to its names.

    >>> spec = WindowSpec((
    ...     EntityWindows("card_id", "card", (1, 7), outputs=("count", "mean_amount")),
    ...     EntityWindows("terminal_id", "term", (7,), delay_days=7, outputs=("label_rate",)),
    ... ))
    >>> spec.feature_names  # doctest: +NORMALIZE_WHITESPACE
    ('card_count_1d', 'card_mean_amount_1d', 'card_count_7d', 'card_mean_amount_7d',
     'term_label_rate_7d')
    >>> spec.horizon_days
    14
    """

    groups: tuple[EntityWindows, ...]

    def __post_init__(self) -> None:
        if not self.groups:
            raise ValueError("a WindowSpec needs at least one group")
        names = [name for group in self.groups for name in group.feature_names]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature names (reuse of a prefix?): {duplicates}")

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """Group order, then window order, then output order, all as declared."""
        return tuple(name for group in self.groups for name in group.feature_names)

    @cached_property
    def horizon_days(self) -> int:
        """How far back any window reaches: older events can be evicted (and expire)."""
        return max(group.delay_days + max(group.windows_days) for group in self.groups)

    @cached_property
    def entities(self) -> tuple[str, ...]:
        """The distinct entity fields, in order of first appearance."""
        return tuple(dict.fromkeys(group.entity for group in self.groups))

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        """The raw aggregates to compute, grouped by entity in :attr:`entities` order.

        Stores return them flattened as ``[count, cents, positives]`` per slot in this order
        (the Redis script does exactly that), and :meth:`features_from_raw` reads them.
        """
        needs: dict[tuple[str, WindowBounds], tuple[bool, bool]] = {}
        for entity in self.entities:
            for group in self.groups:
                if group.entity != entity:
                    continue
                for w in group.windows_days:
                    key = (entity, group.bounds(w))
                    amounts, labels = needs.get(key, (False, False))
                    needs[key] = (amounts or group.needs_amounts, labels or group.needs_labels)
        return tuple(Slot(e, bounds, *flags) for (e, bounds), flags in needs.items())

    @cached_property
    def layout(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """For each window in feature order: (slot index, outputs), to assemble features."""
        index = {(slot.entity, slot.bounds): i for i, slot in enumerate(self.slots)}
        return tuple(
            (index[(group.entity, group.bounds(w))], group.outputs)
            for group in self.groups
            for w in group.windows_days
        )

    @property
    def needs_labels(self) -> bool:
        """Whether any output reads labels (the offline side then requires a label column)."""
        return any(group.needs_labels for group in self.groups)

    def features_from_raw(self, raw: Sequence[int]) -> list[float]:
        """Online features, in :attr:`feature_names` order, from the flattened slot aggregates.

        >>> card = EntityWindows("card_id", "card", (1,), outputs=("count", "mean_amount"))
        >>> spec = WindowSpec((card,))
        >>> spec.features_from_raw([4, 1000, 0])
        [4.0, 2.5]
        """
        values: list[float] = []
        for slot, outputs in self.layout:
            k = 3 * slot
            values += window_values(outputs, float(raw[k]), float(raw[k + 1]), float(raw[k + 2]))
        return values


def window_values(outputs: Sequence[str], count: _F, cents: _F, positives: _F) -> list[_F]:
    """The outputs of one window from its raw aggregates, as floats or float64 arrays.

    The single expression both sides use, so the results are identical bit for bit: the integer
    aggregates are converted to float64 first (by the caller: ``float(x)`` or
    ``astype(np.float64)``, both round to nearest), then divided in the same order. An empty
    window has ``cents == positives == 0``, so dividing by ``count + (count == 0)`` (1 when
    empty) gives 0.0 without a branch that would differ between scalars and arrays.

    >>> window_values(("count", "mean_amount", "label_rate"), 4.0, 1050.0, 1.0)
    [4.0, 2.625, 0.25]
    >>> window_values(("mean_amount", "label_rate"), 0.0, 0.0, 0.0)
    [0.0, 0.0]
    """
    denominator = count + (count == 0)
    values: list[_F] = []
    for output in outputs:
        if output == "count":
            values.append(count)
        elif output == "mean_amount":
            values.append(cents / denominator / 100.0)
        else:
            values.append(positives / denominator)
    return values
