"""Deterministic row chunks of a CSV or Parquet file: chunk ``i`` is always the same rows.

Resuming depends on it: a chunk recorded as done must cover exactly the rows it covered before
the crash. A :class:`ChunkPlan` is made once per job (row count, chunk size and, for CSV, one
column type for the whole file) and stored in the job's checkpoint, so every later read of the
file (a resumed run, a Dask worker) splits and types it identically.

CSV has no row index, so its chunks are read in one pass in order (``read_csv(chunksize=)``).
Pandas infers column types per chunk, which would let a column be integers in one chunk and
floats (a missing value) in the next; the planning pass records each column's type across the
whole file and every read uses it, so chunked output has the types a whole-file read would.
Parquet records its row groups, so any chunk can be read on its own (Dask workers do).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from pandas.api.types import is_bool_dtype, is_float_dtype, is_integer_dtype

__all__ = [
    "ChunkPlan",
    "TableFormat",
    "iter_chunks",
    "plan_chunks",
    "read_chunk",
    "table_format",
]

TableFormat = Literal["csv", "parquet"]

_PARQUET = frozenset({".parquet", ".pq"})
_CSV = frozenset({".csv", ".txt", ".gz"})


def table_format(path: Path) -> TableFormat:
    """``csv`` or ``parquet`` by extension (the same rule as :mod:`nexafi_ai.io`).

    >>> table_format(Path("loans.parquet")), table_format(Path("loans.csv.gz"))
    ('parquet', 'csv')
    """
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _CSV:
        return "csv"
    raise ValueError(f"{path.name}: expected a .csv or .parquet file")


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """How a job's input splits into chunks; JSON-serialisable into the checkpoint."""

    path: str
    format: TableFormat
    rows_total: int
    chunk_rows: int
    #: CSV only: one pandas dtype per column for the whole file (see the module docstring).
    csv_dtypes: Mapping[str, str] | None = None

    @property
    def chunks(self) -> int:
        """Number of chunks; an empty file is one empty chunk, so its output has a header."""
        return max(1, math.ceil(self.rows_total / self.chunk_rows))

    def rows_in(self, index: int) -> int:
        """Rows of chunk ``index``: ``chunk_rows`` except in the last one."""
        start = index * self.chunk_rows
        return max(0, min(self.chunk_rows, self.rows_total - start))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkPlan:
        fmt = data["format"]
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"unknown chunk plan format {fmt!r}")
        dtypes = data.get("csv_dtypes")
        return cls(
            path=str(data["path"]),
            format=fmt,
            rows_total=int(data["rows_total"]),
            chunk_rows=int(data["chunk_rows"]),
            csv_dtypes=None if dtypes is None else {str(k): str(v) for k, v in dtypes.items()},
        )


def plan_chunks(path: Path, chunk_rows: int) -> ChunkPlan:
    """Count the rows of ``path`` (and type CSV columns) for chunks of ``chunk_rows`` rows."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    fmt = table_format(path)
    if fmt == "parquet":
        rows = pq.ParquetFile(path).metadata.num_rows
        return ChunkPlan(str(path), fmt, int(rows), chunk_rows)
    rows = 0
    kinds: dict[str, set[str]] = {}
    has_missing: dict[str, bool] = {}
    columns: list[str] = []
    with pd.read_csv(path, chunksize=chunk_rows, low_memory=False) as reader:
        for frame in reader:
            rows += len(frame)
            if not columns:
                columns = [str(c) for c in frame.columns]
            for name in frame.columns:
                column = frame[name]
                kinds.setdefault(str(name), set()).add(_kind(column))
                has_missing[str(name)] = has_missing.get(str(name), False) or bool(
                    column.isna().any()
                )
    if not columns:  # a header-only file still has columns
        columns = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    dtypes = {c: _unify(kinds.get(c, set()), has_missing.get(c, False)) for c in columns}
    return ChunkPlan(str(path), fmt, rows, chunk_rows, dtypes)


def _kind(column: pd.Series[Any]) -> str:
    """What one chunk's column holds: empty, bool, int, float or text."""
    values = column.dropna()
    if values.empty:
        return "empty"
    if is_bool_dtype(column.dtype):
        return "bool"
    if is_integer_dtype(column.dtype):
        return "int"
    if is_float_dtype(column.dtype):
        return "float"
    if column.dtype == object and all(isinstance(v, bool) for v in values):
        return "bool"  # booleans with gaps are read as object
    return "text"


def _unify(kinds: set[str], has_missing: bool) -> str:
    """One dtype for a column from what its chunks held.

    >>> _unify({"int"}, False), _unify({"int", "empty"}, True), _unify({"int", "float"}, False)
    ('int64', 'float64', 'float64')
    >>> _unify({"bool"}, True), _unify({"int", "text"}, False), _unify({"empty"}, True)
    ('boolean', 'str', 'float64')
    """
    seen = kinds - {"empty"}
    if not seen or seen <= {"int", "float"}:
        return "int64" if seen == {"int"} and not has_missing else "float64"
    if seen == {"bool"}:
        return "boolean" if has_missing else "bool"
    return "str"


def _csv_reader(plan: ChunkPlan) -> Any:
    return pd.read_csv(
        plan.path,
        chunksize=plan.chunk_rows,
        dtype=dict(plan.csv_dtypes or {}),
        low_memory=False,
    )


def iter_chunks(plan: ChunkPlan, skip: Iterable[int] = ()) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(index, rows)`` for every chunk in order, except the indices in ``skip``.

    Skipped CSV chunks are still parsed (CSV cannot seek to a row); skipped Parquet chunks
    are not read at all.
    """
    skipped = frozenset(skip)
    if plan.format == "parquet":
        chunks = _ParquetChunks(plan)
        for index in range(plan.chunks):
            if index not in skipped:
                yield index, chunks.read(index)
        return
    produced = 0
    with _csv_reader(plan) as reader:
        for index, frame in enumerate(reader):
            produced += 1
            if index not in skipped:
                yield index, frame.reset_index(drop=True)
    if produced == 0 and 0 not in skipped:  # header only: one empty chunk
        yield 0, _empty_csv_frame(plan)
    elif produced != plan.chunks:
        raise ValueError(
            f"{Path(plan.path).name} now has {produced} chunks, the job planned {plan.chunks}: "
            "the input changed while the job ran"
        )


def _empty_csv_frame(plan: ChunkPlan) -> pd.DataFrame:
    return pd.read_csv(plan.path, nrows=0, dtype=dict(plan.csv_dtypes or {}))


def read_chunk(plan: ChunkPlan, index: int) -> pd.DataFrame:
    """The rows of chunk ``index`` alone.

    Parquet reads only the row groups that overlap the chunk. CSV has to be parsed from the
    start, so random access to CSV is for tests and small files; the engines stream CSV.
    """
    if not 0 <= index < plan.chunks:
        raise IndexError(f"chunk {index} out of range 0..{plan.chunks - 1}")
    if plan.format == "csv":
        for i, frame in iter_chunks(plan):
            if i == index:
                return frame
        raise IndexError(f"chunk {index} not found in {plan.path}")
    return _ParquetChunks(plan).read(index)


class _ParquetChunks:
    """Chunks of one Parquet file by row offsets; keeps the last row groups it decoded.

    Row groups are often larger than a chunk (pyarrow writes up to a million rows per group),
    so consecutive chunks usually come from the group already in memory.
    """

    def __init__(self, plan: ChunkPlan) -> None:
        self.plan = plan
        self.file = pq.ParquetFile(plan.path)
        meta = self.file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self.offsets = [sum(sizes[:g]) for g in range(len(sizes) + 1)]
        self._cached: tuple[tuple[int, ...], pa.Table] | None = None

    def read(self, index: int) -> pd.DataFrame:
        start = index * self.plan.chunk_rows
        stop = start + self.plan.rows_in(index)
        groups = tuple(
            g
            for g in range(len(self.offsets) - 1)
            if self.offsets[g] < stop and self.offsets[g + 1] > start
        )
        if not groups:  # an empty file: the schema, no rows
            table: pa.Table = self.file.schema_arrow.empty_table()
        else:
            if self._cached is None or self._cached[0] != groups:
                self._cached = (groups, self.file.read_row_groups(list(groups)))
            first_row = self.offsets[groups[0]]
            table = self._cached[1].slice(start - first_row, stop - start)
        frame: pd.DataFrame = table.to_pandas()
        return frame.reset_index(drop=True)
