"""Read a window of monitored values from PostgreSQL with ``COPY ... TO STDOUT (FORMAT CSV)``.

On a million logged rows, the driver turning twenty million extracted values into Python
objects costs more than PostgreSQL extracting them. ``COPY`` streams the same query's result
as CSV text and pandas' C reader types it per column, which took a million-row drift window
from 14.6 s to 9.2 s (bench/drift.py). The query is the one
:func:`~nexafi_ai.monitoring.window.logged_values` would run; anything it cannot read the same
way (a value that is not a number in a numeric column) returns None and the caller takes the
ordinary path.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import Engine

from nexafi_ai.db.tables import inference_log
from nexafi_ai.monitoring.window import JSON_COLUMNS, LoggedColumn

__all__ = ["COPYABLE_PLAIN", "copy_window"]

#: Plain log columns this path can return, with the dtype each is read as.
COPYABLE_PLAIN: dict[str, str] = {
    "request_id": "object",
    "entity_id": "object",
    "model_version": "object",
    "score": "float64",
    "decision": "object",
    "created_at": "object",
}
#: How NULL is written: distinct from an empty string, which stays a value.
_NULL = "\\N"


def copy_window(
    engine: Engine,
    use_case: str,
    columns: Mapping[str, LoggedColumn],
    *,
    start: datetime | None,
    end: datetime | None,
    model_version: str | None,
    limit: int | None,
    plain: Sequence[str],
) -> pd.DataFrame | None:
    """The window as a frame (plain columns, then ``columns``), newest ``limit`` rows, oldest
    first; None when the values cannot be read as CSV the way the ordinary path reads them."""
    selects: list[sql.Composable] = []
    params: dict[str, Any] = {"use_case": use_case}
    names: list[str] = []
    dtypes: dict[str, str] = {}
    for name in plain:
        if name in columns:
            continue
        selects.append(sql.Identifier(name))
        names.append(name)
        dtypes[name] = COPYABLE_PLAIN[name]
    for i, (name, spec) in enumerate(columns.items()):
        head, *rest = spec.path
        if isinstance(head, str) and head in JSON_COLUMNS and rest:
            key = f"path_{i}"
            params[key] = [str(step) for step in rest]
            selects.append(sql.SQL("{} #>> %({})s").format(sql.Identifier(head), sql.SQL(key)))
        else:
            selects.append(sql.Identifier(str(head)))
        names.append(name)
        dtypes[name] = "float64" if spec.kind == "numeric" else "object"
    filters = [sql.SQL("use_case = %(use_case)s")]
    for key, value, clause in (
        ("start", start, "created_at >= %(start)s"),
        ("end", end, "created_at < %(end)s"),
        ("model_version", model_version, "model_version = %(model_version)s"),
    ):
        if value is not None:
            params[key] = value
            filters.append(sql.SQL(clause))
    if limit is not None:
        params["limit"] = limit
        order = sql.SQL("ORDER BY created_at DESC, id DESC LIMIT %(limit)s")
    else:
        order = sql.SQL("ORDER BY created_at, id")
    query = sql.SQL("SELECT {} FROM {} WHERE {} {}").format(
        sql.SQL(", ").join(selects),
        sql.Identifier(inference_log.name),
        sql.SQL(" AND ").join(filters),
        order,
    )
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT CSV, NULL {})").format(
        query, sql.Literal(_NULL)
    )
    buffer = io.BytesIO()
    with engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        if not isinstance(driver, psycopg.Connection):
            return None
        with driver.cursor() as cursor, cursor.copy(statement, params) as copy:
            for chunk in copy:
                buffer.write(chunk)
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame({n: pd.Series([], dtype=dtypes[n]) for n in names})
    try:
        frame = pd.read_csv(
            buffer,
            header=None,
            names=names,
            dtype=dtypes,
            na_values=[_NULL],
            keep_default_na=False,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    if limit is not None:
        frame = frame.iloc[::-1].reset_index(drop=True)
    return frame
