"""Reading and writing users' tables: CSV or Parquet, chosen by the file extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table"]

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv", ".txt", ".gz"}


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; anything else is refused with a clear message."""
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return pd.read_parquet(path)
    if suffix in _CSV:
        return pd.read_csv(path, low_memory=False)
    raise ValueError(f"{path.name}: expected a .csv or .parquet file")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet for .parquet/.pq paths, CSV otherwise, without the index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in _PARQUET:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
