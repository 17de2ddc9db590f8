"""The local engine: chunks scored one after another in the calling process.

Memory stays at one chunk (input, features and scores) whatever the file size; the chunk
size trades that memory for per-chunk overhead (one part file and one checkpoint commit).
"""

from __future__ import annotations

from collections.abc import Sequence

from nexafi_ai.batch.chunks import iter_chunks
from nexafi_ai.batch.engine import ChunkDone, ChunkWork, JobInterruptedError, score_rows

__all__ = ["LocalEngine"]


class LocalEngine:
    """Sequential, in-process execution (the default engine)."""

    name = "local"

    def run(self, work: ChunkWork, pending: Sequence[int], on_done: ChunkDone) -> None:
        todo = frozenset(pending)
        skip = [i for i in range(work.plan.chunks) if i not in todo]
        for index, raw in iter_chunks(work.plan, skip=skip):
            if work.should_stop():
                raise JobInterruptedError(f"job {work.job_id} stopped before chunk {index}")
            scored = score_rows(
                work.use_case,
                work.model,
                raw,
                columns=work.columns,
                time_column=work.time_column,
                options=work.options,
            )
            rows = work.parts.write(index, scored, input_rows=len(raw))
            on_done(index, rows)
