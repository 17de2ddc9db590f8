"""Read windows of the inference log (and its labels) as tables, with the JSON flattened in SQL.

Monitoring, live performance and retraining all start from "the logged inferences of one use
case between two instants". Values inside the ``inputs`` / ``outputs`` JSON documents are
extracted by the database (``json_extract`` on SQLite, ``#>>`` on PostgreSQL), so Python never
parses a million JSON documents to read twenty numbers from each.

Labels join by ``(use_case, entity_id)`` and are read *as of* an instant: a label observed later
than ``as_of`` does not exist yet, and a label only counts for inferences logged before it was
observed (an outcome cannot grade a score made after it was known). When an entity has several
labels (a chargeback and an analyst verdict), the one observed last wins; when it was scored
several times, the last score before the label is the one graded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    Text,
    and_,
    func,
    literal,
    select,
    type_coerce,
)

from nexafi_ai.db.tables import inference_log, labels

__all__ = ["JSON_COLUMNS", "LoggedColumn", "labelled_inferences", "logged_values"]

#: Columns of ``inference_log`` holding JSON documents a path may reach into.
JSON_COLUMNS = ("inputs", "outputs", "shadow")
#: Plain columns every window read returns beside the requested values.
_BASE = ("request_id", "entity_id", "model_version", "score", "decision", "created_at")


@dataclass(frozen=True, slots=True)
class LoggedColumn:
    """Where a monitored value lives in a log row and how to read it.

    ``path`` starts with a JSON column (``("inputs", "features", "amount")``) or names a plain
    column (``("score",)``); integers in it index arrays (``("outputs", "items", 0, "score")``).
    Numeric values are read as floats, categorical ones as text.
    """

    path: tuple[str | int, ...]
    kind: Literal["numeric", "categorical"] = "numeric"

    def to_json(self) -> dict[str, Any]:
        return {"path": list(self.path), "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoggedColumn:
        kind = data.get("kind", "numeric")
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"unknown column kind {kind!r}")
        # Integers index JSON arrays (``outputs.items.0.product_id``); the rest are keys.
        path = tuple(p if isinstance(p, int) else str(p) for p in data["path"])
        if not path:
            raise ValueError("a logged column needs a path")
        return cls(path=path, kind=kind)


def _expression(column: LoggedColumn) -> ColumnElement[Any]:
    head, *rest = column.path
    if isinstance(head, str) and head in JSON_COLUMNS and rest:
        # Read as text and converted by pandas, numbers too: a CAST in SQL would fail the whole
        # query on PostgreSQL, and turn "abc" into 0.0 on SQLite, where a broken feed must
        # simply read as missing.
        extracted: ColumnElement[Any] = inference_log.c[head][tuple(rest)].as_string()
        return extracted
    if not isinstance(head, str) or head not in inference_log.c or rest:
        raise ValueError(f"not a logged column path: {column.path}")
    return inference_log.c[head]


def _sqlite_path(steps: Sequence[str | int]) -> str | None:
    """A SQLite JSON path for ``steps``; None when a key cannot be written in one."""
    out = "$"
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        elif '"' in step or "\\" in step:
            return None
        else:
            out += f'."{step}"'
    return out


def _groups(columns: Mapping[str, LoggedColumn], dialect: str) -> dict[str, list[str]]:
    """Columns read together from one JSON document on SQLite, as one array per row.

    SQLite parses a JSON text on every ``json_extract`` call, so twenty features read one by
    one parse each row twenty times; one call with twenty paths parses it once, and pandas'
    C reader splits the arrays (:func:`_unpack`). On a million rows this took the drift
    window from 16.6 s to 10.3 s (bench/drift.py). PostgreSQL reads through ``COPY``
    (:mod:`~nexafi_ai.monitoring.pg_copy`); when it falls back to this path it keeps one
    ``#>>`` per value, since one array per row measured slower there (17.3 s against 14.6 s).
    """
    if dialect != "sqlite":
        return {}
    groups: dict[str, list[str]] = {}
    for name, spec in columns.items():
        head = spec.path[0]
        nested = isinstance(head, str) and head in JSON_COLUMNS and len(spec.path) > 1
        if nested and _sqlite_path(spec.path[1:]) is not None:
            groups.setdefault(str(head), []).append(name)
    return {head: names for head, names in groups.items() if len(names) > 1}


def _array(head: str, specs: Sequence[LoggedColumn]) -> ColumnElement[Any]:
    """One JSON array text per row holding the values at each spec's path (NULL: null)."""
    paths = [literal(_sqlite_path(spec.path[1:]), Text) for spec in specs]
    return func.json_extract(inference_log.c[head], *paths, type_=Text)


def _unpack(frame: pd.DataFrame, column: str, columns: Mapping[str, LoggedColumn]) -> None:
    """Split the arrays of one multi-path ``json_extract`` into one column per name.

    A row's array of plain values (numbers, strings, nulls) is a CSV line once its brackets
    are cut, so all rows go through pandas' C CSV reader at once, typed per column (text
    columns stay text: ``"05411"`` keeps its zero). Anything CSV cannot read the same way
    as JSON (an escape such as ``\\u00e9``, a nested value) takes the exact path: one
    ``json.loads`` of all rows joined. A row whose document is NULL gives NULL everywhere.
    """
    names = list(columns)
    texts = frame.pop(column)
    if texts.empty:
        for name in names:
            frame[name] = pd.Series([], index=frame.index, dtype="object")
        return
    empty = "[" + ",".join(["null"] * len(names)) + "]"
    lines = [t if t is not None else empty for t in texts]
    parsed = _read_as_csv(lines, columns)
    if parsed is None:
        rows = json.loads("[" + ",".join(lines) + "]")
        values = list(zip(*rows, strict=True))
        parsed = pd.DataFrame(
            {n: pd.Series(list(v), dtype="object") for n, v in zip(names, values, strict=True)}
        )
    for name in names:
        frame[name] = parsed[name].to_numpy()


def _read_as_csv(lines: list[str], columns: Mapping[str, LoggedColumn]) -> pd.DataFrame | None:
    body = "\n".join(line[1:-1] for line in lines)
    if "\\" in body or "[" in body or "{" in body:
        return None
    dtypes = {n: ("float64" if c.kind == "numeric" else "object") for n, c in columns.items()}
    try:
        parsed = pd.read_csv(
            io.StringIO(body),
            header=None,
            names=list(columns),
            dtype=dtypes,
            na_values=["null"],
            keep_default_na=False,
            quotechar='"',
            skipinitialspace=True,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    return parsed if len(parsed) == len(lines) else None


def _plain(name: str) -> ColumnElement[Any]:
    # Timestamps are parsed in one vectorised pass by pandas, not one Python call per row.
    if name == "created_at":
        return type_coerce(inference_log.c.created_at, String).label("created_at")
    return inference_log.c[name]


def _window_filters(
    use_case: str, start: datetime | None, end: datetime | None, model_version: str | None
) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [inference_log.c.use_case == use_case]
    if start is not None:
        filters.append(inference_log.c.created_at >= start)
    if end is not None:
        filters.append(inference_log.c.created_at < end)
    if model_version is not None:
        filters.append(inference_log.c.model_version == model_version)
    return filters


def logged_values(
    engine: Engine,
    use_case: str,
    columns: Mapping[str, LoggedColumn],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    model_version: str | None = None,
    limit: int | None = None,
    raw: Sequence[str] = (),
    plain: Sequence[str] = _BASE,
) -> pd.DataFrame:
    """Logged inferences of ``use_case`` in ``[start, end)``: one row each, oldest first.

    Columns: the ``plain`` log columns (by default request id, entity id, version, score,
    decision, time), one per entry of ``columns`` (extracted in SQL), and the whole JSON
    documents named in ``raw`` (``"inputs"``, ``"outputs"``; parsed, so keep those windows
    small). ``limit`` keeps the most recent rows. Drift passes ``plain=()``: on a million rows,
    reading ids it does not need costs more than the statistics.
    """
    if engine.dialect.name == "postgresql" and not raw:
        from nexafi_ai.monitoring.pg_copy import COPYABLE_PLAIN, copy_window

        if all(name in COPYABLE_PLAIN for name in plain):
            copied = copy_window(
                engine,
                use_case,
                columns,
                start=start,
                end=end,
                model_version=model_version,
                limit=limit,
                plain=plain,
            )
            if copied is not None:
                return _typed(copied, columns, plain)
    grouped = _groups(columns, engine.dialect.name)
    batched = {name for names in grouped.values() for name in names}
    wanted: list[ColumnElement[Any]] = [_plain(name) for name in plain if name not in columns]
    wanted += [
        _expression(spec).label(f"v__{name}")
        for name, spec in columns.items()
        if name not in batched
    ]
    for head, names in grouped.items():
        specs = [columns[n] for n in names]
        wanted.append(_array(head, specs).label(f"j__{head}"))
    wanted += [inference_log.c[name] for name in raw if name not in plain]
    query = select(*wanted).where(*_window_filters(use_case, start, end, model_version))
    if limit is not None:
        query = query.order_by(inference_log.c.created_at.desc(), inference_log.c.id.desc())
        query = query.limit(limit)
    else:
        query = query.order_by(inference_log.c.created_at, inference_log.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])
    if limit is not None:
        frame = frame.iloc[::-1].reset_index(drop=True)
    frame = frame.rename(columns={f"v__{name}": name for name in columns})
    for head, names in grouped.items():
        _unpack(frame, f"j__{head}", {name: columns[name] for name in names})
    return _typed(frame, columns, plain)


def _typed(
    frame: pd.DataFrame, columns: Mapping[str, LoggedColumn], plain: Sequence[str]
) -> pd.DataFrame:
    """Monitored columns as float64 (numeric) or object (text), time as UTC, in order."""
    for name, spec in columns.items():
        if spec.kind == "numeric":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype("object")
    if "created_at" in frame:
        frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    order = [n for n in plain if n not in columns] + list(columns)
    return frame[order + [c for c in frame.columns if c not in order]]


def labelled_inferences(
    engine: Engine,
    use_case: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    as_of: datetime | None = None,
    columns: Mapping[str, LoggedColumn] | None = None,
    raw: Sequence[str] = (),
) -> pd.DataFrame:
    """Inferences logged in ``[start, end)`` joined with their label as known at ``as_of``.

    One row per labelled entity: its last inference before the label, with ``label``,
    ``source`` and ``observed_at`` (the label observed last wins). Unlabelled inferences are
    absent; see :func:`logged_values` for the whole window.
    """
    columns = dict(columns or {})
    wanted: list[ColumnElement[Any]] = [
        inference_log.c[name] for name in _BASE if name not in columns
    ]
    wanted += [_expression(spec).label(f"v__{name}") for name, spec in columns.items()]
    wanted += [inference_log.c[name] for name in raw if name not in _BASE]
    wanted += [labels.c.label, labels.c.source, labels.c.observed_at]
    join = and_(
        labels.c.use_case == inference_log.c.use_case,
        labels.c.entity_id == inference_log.c.entity_id,
        labels.c.observed_at >= inference_log.c.created_at,
    )
    filters = _window_filters(use_case, start, end, None)
    if as_of is not None:
        filters.append(labels.c.observed_at <= as_of)
    query = (
        select(*wanted)
        .select_from(inference_log.join(labels, join))
        .where(*filters)
        .order_by(inference_log.c.created_at, inference_log.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=[c.name for c in query.selected_columns])
    frame = _typed(frame.rename(columns={f"v__{name}": name for name in columns}), columns, _BASE)
    if frame.empty:
        return frame
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    # The label observed last (ties: source name, for determinism), then the last inference.
    frame = frame.sort_values(["observed_at", "source"], kind="stable")
    frame = frame.drop_duplicates("request_id", keep="last")
    frame = frame.sort_values(["created_at", "request_id"], kind="stable")
    frame = frame.drop_duplicates("entity_id", keep="last")
    return frame.reset_index(drop=True)
