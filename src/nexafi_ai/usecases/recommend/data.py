"""Recommendation data: an interaction log plus user and item tables, built-in or a user's own.

A recommender learns from what people did (the interaction log: collaborative signal) and from
who they are and what the products are (the user and item tables: content signal, and the only
signal for a user with no history). :class:`RecommendData` holds the three standard tables every
model, metric and route of the use case reads; :func:`standardise_interactions` builds them from
a fintech's own exports.

**Reading a user's own log.** The user and item columns are found by the names exports use
(``customer_id``, ``product``, ``event_time``...; case, spaces and underscores ignored) unless
given. Ids become text (an integer id read as a float by a CSV reader loses its ``.0``, so the
log and the feature tables agree); rows without a user or an item are dropped with a logged
count. The weight of a row is, in order: the weight column (numbers as people write them;
a missing, zero or negative weight fails the file, naming the column: a zero weight would
silently turn an interaction into no interaction), else :data:`EVENT_WEIGHTS` of the event
column (an unknown event weighs 1, counted in the log), else 1.

**Time.** Timestamps are read as UTC (:func:`nexafi_ai.tabular.read_timestamps`), rows with a
blank time are dropped with a logged count, and the log is sorted by time, so the evaluation
can hold out the most recent interactions. A log *without* a time column keeps its file order
and gets ``NaT`` timestamps: no synthetic clock is invented, because a made-up order would make
a time-based holdout look meaningful when it is not. Models then hold out a random share of
each user's interactions instead.

**Feature tables.** ``users`` and ``items`` are optional; their id column is found by the same
names. Their other columns keep the user's names and are read by
:func:`nexafi_ai.tabular.read_column` ("$30,000" as 30000, yes/no as 1/0, text as categories).
Users or items seen in the log but absent from a table are added with blank features (logged);
rows of a table never seen in the log are kept (cold-start users, a catalog's new products).
Without a table, it holds just the ids seen in the log, in order of first appearance.

**Card numbers** are refused in any id, event or feature column: a full PAN must never reach a
model, a log or the registry. Errors are :class:`ValueError` naming the user's column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd

from nexafi_ai.tabular import (
    MISSING_TOKENS,
    as_floats,
    as_numbers,
    read_column,
    read_timestamps,
    refuse_pans,
)

__all__ = [
    "EVENT",
    "EVENT_WEIGHTS",
    "INTERACTION_COLUMNS",
    "ITEM",
    "NO_EVENT",
    "TIME",
    "USER",
    "WEIGHT",
    "RecommendData",
    "standardise_interactions",
]

log = logging.getLogger(__name__)

USER: Final = "user_id"
ITEM: Final = "item_id"
EVENT: Final = "event"
WEIGHT: Final = "weight"
TIME: Final = "timestamp"
#: The columns of :attr:`RecommendData.interactions`, in order.
INTERACTION_COLUMNS: Final = (USER, ITEM, EVENT, WEIGHT, TIME)
#: The event of every row of a log that has no event column.
NO_EVENT: Final = "interaction"

#: Default weight of each event of the funnel: a stronger commitment says more about taste.
#: ``"hold"`` means the user holds the product: it is never recommended to them again.
EVENT_WEIGHTS: Final[dict[str, float]] = {"view": 1.0, "click": 2.0, "apply": 4.0, "hold": 8.0}


@dataclass(frozen=True)
class RecommendData:
    """The three standard tables of the recommend use case.

    ``interactions``: ``user_id`` (str), ``item_id`` (str), ``event`` (str), ``weight``
    (float > 0), ``timestamp`` (``datetime64[ns, UTC]``, NaT for logs without times), sorted by
    timestamp. ``users``: ``user_id`` (str, unique) and profile columns (possibly none).
    ``items``: ``item_id`` (str, unique) and item columns.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

    def __len__(self) -> int:
        return len(self.interactions)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, e.g. to write them as Parquet files."""
        return {"interactions": self.interactions, "users": self.users, "items": self.items}


# Column names exports use, compared without case, spaces, dashes or underscores; the first
# present wins.
_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    USER: ("user_id", "user", "customer_id", "customer", "client_id", "client", "member_id"),
    ITEM: ("item_id", "item", "product_id", "product", "product_code", "offer_id", "sku"),
    TIME: (
        "timestamp",
        "event_time",
        "event_timestamp",
        "time",
        "datetime",
        "created_at",
        "date",
        "ts",
    ),
    EVENT: ("event", "event_type", "action", "interaction", "interaction_type"),
    WEIGHT: ("weight",),
}
_WHAT: Final = {USER: "user", ITEM: "item", TIME: "time", EVENT: "event", WEIGHT: "weight"}


def _key(name: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _columns_hint(frame: pd.DataFrame) -> str:
    names = [str(c) for c in frame.columns]
    shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
    return f"the {'table' if names else 'empty table'} has {shown}"


def _find(
    frame: pd.DataFrame, field: str, given: str | None, table: str = "interactions"
) -> str | None:
    """The frame's column for ``field``: ``given`` (which must exist) or the first alias."""
    if given is not None:
        if given not in frame.columns:
            raise ValueError(
                f"{_WHAT[field]} column {given!r}: no such column in the {table}; "
                f"{_columns_hint(frame)}"
            )
        return given
    by_key: dict[str, str] = {}
    for column in frame.columns:
        by_key.setdefault(_key(column), column)
    for alias in _ALIASES[field]:
        if _key(alias) in by_key:
            return by_key[_key(alias)]
    return None


def _missing(values: pd.Series) -> np.ndarray:
    """Blank ids: NaN/None, or text that exports write for nothing (``""``, ``"n/a"``...)."""
    text = values.astype("string").str.strip().str.lower()
    out: np.ndarray = (values.isna() | text.isin(MISSING_TOKENS).fillna(True)).to_numpy(bool)
    return out


def _id_text(values: pd.Series) -> pd.Series:
    """Ids as text; integer ids read as floats (a blank in the column) lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if bool((present == np.floor(present)).all()):
            return values.astype("Int64").astype(str)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(str)
    return values.astype(str).str.strip()


def _weights(values: pd.Series, source: str) -> np.ndarray:
    numbers = as_floats(values) if pd.api.types.is_numeric_dtype(values) else as_numbers(values)
    w = numbers.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(
            f"column {source!r}: {int(bad.sum())} weights are missing or not numbers; "
            "every interaction needs a positive weight"
        )
    nonpositive = w <= 0
    if nonpositive.any():
        raise ValueError(
            f"column {source!r}: {int(nonpositive.sum())} weights are zero or negative "
            f"(e.g. {float(w[nonpositive][0]):g}); weights must be > 0: drop those rows "
            "or pass another weight column"
        )
    return w


def _feature_table(
    table: pd.DataFrame,
    field: str,
    given: str | None,
    seen: Sequence[str],
    name: str,
) -> pd.DataFrame:
    """A user or item table: id column found and renamed, features read, unseen ids added."""
    column = _find(table, field, given if given in table.columns else None, name)
    if column is None:
        raise ValueError(
            f"{name} table: no {_WHAT[field]} id column (looked for "
            f"{', '.join(_ALIASES[field])}); {_columns_hint(table)}"
        )
    refuse_pans(table[column], column)
    out = table.reset_index(drop=True)
    blank = _missing(out[column])
    if blank.any():
        log.warning("%s table: dropping %d rows without an id", name, int(blank.sum()))
        out = out[~blank].reset_index(drop=True)
    ids = _id_text(out[column])
    duplicated = ids.duplicated()
    if duplicated.any():
        raise ValueError(
            f"{name} table, column {column!r}: {int(duplicated.sum())} ids appear more than "
            f"once (e.g. {ids[duplicated].iloc[0]!r}); one row per {_WHAT[field]}"
        )
    features = out.drop(columns=[column])
    if field in features.columns:
        raise ValueError(
            f"{name} table: column {field!r} is not the id column ({column!r}); rename one"
        )
    for feature in features.columns:
        read = read_column(features[feature], str(feature))
        if read.how is not None:
            log.info("%s table: column %s read as %s", name, feature, read.how)
        if read.values is not features[feature]:
            features[feature] = read.values
    features.insert(0, field, ids.to_numpy(dtype=object))
    features[field] = features[field].astype(str)
    extra = pd.Index(seen).unique().difference(pd.Index(features[field]), sort=False)
    if len(extra):
        log.warning(
            "%s table: %d %s ids of the interactions are not in it; added with blank features",
            name,
            len(extra),
            _WHAT[field],
        )
        features = pd.concat(
            [features, pd.DataFrame({field: pd.Series(extra, dtype=str)})], ignore_index=True
        )
    return features


def standardise_interactions(
    frame: pd.DataFrame,
    *,
    user_column: str | None = None,
    item_column: str | None = None,
    weight_column: str | None = None,
    time_column: str | None = None,
    event_column: str | None = None,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> RecommendData:
    """A user's own interaction log (and optional user / item tables) as :class:`RecommendData`.

    Columns not given are found by the names exports use; see the module docstring for how
    ids, weights, events, times and feature columns are read. Raises :class:`ValueError`
    naming the user's column for anything it cannot use.

    >>> log_ = pd.DataFrame({"customer_id": [7, 7, 8], "product": ["A", "B", "A"],
    ...                      "action": ["view", "hold", "click"]})
    >>> data = standardise_interactions(log_)
    >>> data.interactions[["user_id", "item_id", "event", "weight"]].values.tolist()
    [['7', 'A', 'view', 1.0], ['7', 'B', 'hold', 8.0], ['8', 'A', 'click', 2.0]]
    >>> data.users["user_id"].tolist(), data.interactions["timestamp"].isna().all()
    (['7', '8'], np.True_)
    """
    found = {
        USER: _find(frame, USER, user_column),
        ITEM: _find(frame, ITEM, item_column),
        TIME: _find(frame, TIME, time_column),
        EVENT: _find(frame, EVENT, event_column),
        WEIGHT: _find(frame, WEIGHT, weight_column),
    }
    for field in (USER, ITEM):
        if found[field] is None:
            raise ValueError(
                f"no {_WHAT[field]} column: pass {_WHAT[field]}_column, or name it one of "
                f"{', '.join(_ALIASES[field])}; {_columns_hint(frame)}"
            )
    chosen = [c for c in found.values() if c is not None]
    if len(set(chosen)) < len(chosen):
        raise ValueError(f"one column is used for two roles: {found}")
    user_source, item_source = str(found[USER]), str(found[ITEM])
    # Card numbers first: nothing below may log or keep a value before this check (columns
    # the log does not use are dropped unread).
    for column in chosen:
        refuse_pans(frame[column], str(column))

    log_frame = frame.reset_index(drop=True)
    blank = _missing(log_frame[user_source]) | _missing(log_frame[item_source])
    if blank.any():
        log.warning("dropping %d interactions without a user or an item", int(blank.sum()))
        log_frame = log_frame[~blank].reset_index(drop=True)
    out = pd.DataFrame(
        {USER: _id_text(log_frame[user_source]), ITEM: _id_text(log_frame[item_source])}
    )
    event_source = found[EVENT]
    if event_source is not None:
        events = log_frame[event_source].astype("string").str.strip().str.lower()
        events = events.fillna(NO_EVENT)
        out[EVENT] = events.astype(str)
    else:
        out[EVENT] = NO_EVENT
    if found[WEIGHT] is not None:
        out[WEIGHT] = _weights(log_frame[found[WEIGHT]], str(found[WEIGHT]))
    elif event_source is not None:
        out[WEIGHT] = out[EVENT].map(EVENT_WEIGHTS).fillna(1.0).astype(np.float64)
        unknown = ~out[EVENT].isin(list(EVENT_WEIGHTS))
        if unknown.any():
            names = sorted(out.loc[unknown, EVENT].unique())[:5]
            log.warning(
                "column %s: %d interactions of unknown events %s weighted 1 (known: %s)",
                event_source,
                int(unknown.sum()),
                names,
                ", ".join(EVENT_WEIGHTS),
            )
    else:
        out[WEIGHT] = 1.0
    time_source = found[TIME]
    if time_source is not None:
        stamps = read_timestamps(
            log_frame[time_source], str(time_source), strict=True, what="interaction times"
        )
        out[TIME] = pd.to_datetime(stamps, utc=True).dt.as_unit("ns")
        undated = out[TIME].isna()
        if undated.any():
            if int(undated.sum()) > len(out) // 2:
                raise ValueError(
                    f"column {time_source!r}: the time is blank for {int(undated.sum())} of "
                    f"{len(out)} interactions"
                )
            log.warning("dropping %d interactions with no time", int(undated.sum()))
            out = out[~undated]
        out = out.sort_values(TIME, kind="stable").reset_index(drop=True)
    else:
        log.info("no time column: interactions keep file order, timestamps are NaT")
        out[TIME] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    if out.empty:
        raise ValueError(f"no interactions with both a user ({user_source!r}) and an item")
    out = out[list(INTERACTION_COLUMNS)]

    seen_users = out[USER].unique().tolist()
    seen_items = out[ITEM].unique().tolist()
    if users is None:
        user_table = pd.DataFrame({USER: pd.Series(seen_users, dtype=str)})
    else:
        user_table = _feature_table(users, USER, user_column, seen_users, "users")
    if items is None:
        item_table = pd.DataFrame({ITEM: pd.Series(seen_items, dtype=str)})
    else:
        item_table = _feature_table(items, ITEM, item_column, seen_items, "items")
    return RecommendData(interactions=out, users=user_table, items=item_table)
