"""Chunks are deterministic and typed as a whole-file read would type them; parts assemble."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nexafi_ai.batch import PartsDir, iter_chunks, plan_chunks, read_chunk


def test_csv_chunks_keep_quoted_newlines_and_whole_file_types(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    # Chunk 0 has integers only in "n"; chunk 1 has a gap, which makes the whole column float.
    path.write_text('id,n,note\n1,10,"two\nlines"\n2,20,b\n\n3,,c\n4,40,"d,e"\n5,50,f\n')
    plan = plan_chunks(path, 2)
    assert (plan.rows_total, plan.chunks) == (5, 3)
    assert plan.csv_dtypes == {"id": "int64", "n": "float64", "note": "str"}
    chunks = dict(iter_chunks(plan))
    assert [c["id"].tolist() for c in chunks.values()] == [[1, 2], [3, 4], [5]]
    assert all(c["n"].dtype == np.float64 for c in chunks.values())
    assert chunks[0]["note"].tolist() == ["two\nlines", "b"]
    pd.testing.assert_frame_equal(read_chunk(plan, 1), chunks[1])
    assert [i for i, _ in iter_chunks(plan, skip=[0, 2])] == [1]


def test_parquet_chunks_cross_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    frame = pd.DataFrame({"id": np.arange(1000), "x": np.linspace(0, 1, 1000)})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=300)
    plan = plan_chunks(path, 250)
    assert (plan.rows_total, plan.chunks) == (1000, 4)
    streamed = [chunk for _, chunk in iter_chunks(plan)]
    assert [len(c) for c in streamed] == [250, 250, 250, 250]
    pd.testing.assert_frame_equal(pd.concat(streamed, ignore_index=True), frame)
    pd.testing.assert_frame_equal(read_chunk(plan, 2), frame.iloc[500:750].reset_index(drop=True))


def test_empty_file_is_one_empty_chunk(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id,x1,x2\n")
    plan = plan_chunks(path, 100)
    assert (plan.rows_total, plan.chunks) == (0, 1)
    [(index, chunk)] = list(iter_chunks(plan))
    assert index == 0
    assert list(chunk.columns) == ["id", "x1", "x2"]
    assert chunk.empty


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".csv.gz"])
def test_parts_assemble_in_order_and_promote_types(tmp_path: Path, suffix: str) -> None:
    parts = PartsDir(tmp_path / f"out{suffix}")
    # Chunk 1's "reason" is all missing (null type in Arrow); assembly must still agree.
    parts.write(1, pd.DataFrame({"id": ["c", "d"], "reason": [None, None]}))
    parts.write(0, pd.DataFrame({"id": ["a", "b"], "reason": ["X", None]}))
    assert parts.is_complete(0, 2)
    assert not parts.is_complete(0, 3)
    assert not parts.is_complete(2, 2)
    parts.assemble(2)
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    out = read(parts.output)
    assert out["id"].tolist() == ["a", "b", "c", "d"]
    assert out["reason"].iloc[0] == "X"
    assert out["reason"].iloc[1:].isna().all()
    assert not list(parts.path.glob(".*.tmp"))
