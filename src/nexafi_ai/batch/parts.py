"""Scored chunks on disk (``<output>.parts/part-000042.parquet``) and the final assembly.

A part file appears whole or not at all: it is written under a temporary name, flushed to disk
and renamed into place. The job's checkpoint is committed only after the rename, so after any
crash a checkpointed chunk has its part file, and a part file the checkpoint does not list is
from a chunk that must be (and is) scored and written again; assembly reads exactly one part
per chunk index, so nothing is ever counted twice. Parts are Parquet whatever the output
format: they keep column types exactly between a chunk's scoring and the assembly.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from nexafi_ai.batch.chunks import table_format

__all__ = ["PartsDir", "input_rows_of", "parts_dir_for"]


def parts_dir_for(output: Path) -> Path:
    """Where the parts of ``output`` live: beside it, so the final rename stays on one disk.

    >>> parts_dir_for(Path("/data/scored.csv")).as_posix()
    '/data/scored.csv.parts'
    """
    return output.with_name(output.name + ".parts")


#: Part-file metadata key: the input rows a part covers (its own row count may differ).
_INPUT_ROWS = b"nexafi.input_rows"


def input_rows_of(part: Path) -> int:
    """The input rows a part file covers: its recorded count, else (older parts) its rows."""
    meta = pq.ParquetFile(part)
    recorded = (meta.schema_arrow.metadata or {}).get(_INPUT_ROWS)
    return int(recorded) if recorded is not None else int(meta.metadata.num_rows)


class PartsDir:
    """The part files of one job's output."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = parts_dir_for(output)

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:06d}.parquet"

    def write(self, index: int, frame: pd.DataFrame, *, input_rows: int | None = None) -> int:
        """Write chunk ``index`` atomically; returns the input rows it covers.

        ``input_rows`` is the chunk's input row count when the output has another (a use case
        answering several rows per input row); it is recorded in the part's metadata, so a
        resumed job can tell a finished part from a stray one by the input rows it covers.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        covered = int(table.num_rows) if input_rows is None else int(input_rows)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _INPUT_ROWS: str(covered).encode()}
        )
        target = self.part(index)
        scratch = self.path / f".{target.name}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, scratch)
            _fsync(scratch)
            os.replace(scratch, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()
        return covered

    def is_complete(self, index: int, rows: int) -> bool:
        """Whether chunk ``index`` has a readable part file covering ``rows`` input rows."""
        try:
            return input_rows_of(self.part(index)) == rows
        except (OSError, ValueError, pa.ArrowException):
            return False

    def reset(self) -> None:
        """Start empty (a job starting from its first chunk must not see older parts)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def remove_scratch(self) -> None:
        """Drop half-written temporary files a crashed run left behind."""
        if self.path.is_dir():
            for scratch in self.path.glob(".part-*.tmp"):
                scratch.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def assemble(self, chunks: int) -> None:
        """Concatenate parts ``0..chunks-1`` in order into the output file, atomically.

        One part at a time is in memory. Parquet output gets one schema for all parts (a
        column missing in one chunk and typed in another is promoted, e.g. null to string).
        """
        parts = [self.part(i) for i in range(chunks)]
        missing = [p.name for p in parts if not p.is_file()]
        if missing:
            raise RuntimeError(f"cannot assemble {self.output.name}: missing {missing[:5]}")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.output.with_name(f".{self.output.name}.{uuid.uuid4().hex}.tmp")
        try:
            if table_format(self.output) == "parquet":
                _assemble_parquet(parts, scratch)
            else:
                _assemble_csv(parts, scratch, gzipped=self.output.suffix.lower() == ".gz")
            _fsync(scratch)
            os.replace(scratch, self.output)
        finally:
            with contextlib.suppress(FileNotFoundError):
                scratch.unlink()


def _assemble_parquet(parts: list[Path], target: Path) -> None:
    schemas = [pq.read_schema(p) for p in parts]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"scored chunks disagree on column types: {exc}") from exc
    # One part's input row count says nothing about the whole output.
    kept = {k: v for k, v in (schema.metadata or {}).items() if k != _INPUT_ROWS}
    schema = schema.with_metadata(kept)
    with pq.ParquetWriter(target, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).cast(schema))


@contextlib.contextmanager
def _text_out(target: Path, *, gzipped: bool) -> Iterator[IO[str]]:
    if gzipped:
        with gzip.open(target, "wt", newline="", encoding="utf-8") as handle:
            yield handle
    else:
        with target.open("w", newline="", encoding="utf-8") as handle:
            yield handle


def _assemble_csv(parts: list[Path], target: Path, *, gzipped: bool) -> None:
    with _text_out(target, gzipped=gzipped) as out:
        for k, part in enumerate(parts):
            frame: pd.DataFrame = pq.read_table(part).to_pandas()
            frame.to_csv(out, header=k == 0, index=False)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
