"""What an execution engine receives (:class:`ChunkWork`) and does (:class:`ChunkEngine`).

An engine scores the pending chunks of one job, writes each one's part file and reports each
finished chunk to the runner, which commits the checkpoint. Engines never touch the job table:
how the work is spread (one process, a Dask cluster) is their only concern.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from nexafi_ai.batch.chunks import ChunkPlan
from nexafi_ai.batch.parts import PartsDir
from nexafi_ai.usecases.base import Model, UseCase

__all__ = [
    "ROW_COLUMN",
    "ChunkDone",
    "ChunkEngine",
    "ChunkWork",
    "JobInterruptedError",
    "score_rows",
]

#: The score column that maps output rows to input rows (see :meth:`UseCase.score_batch`).
ROW_COLUMN = "_row"

#: Called by an engine after chunk ``index`` (``rows`` input rows) has its part file on disk.
ChunkDone = Callable[[int, int], None]


class JobInterruptedError(RuntimeError):
    """The process is stopping (shutdown, Ctrl-C); the job is handed back, not failed."""


@dataclass(frozen=True, slots=True)
class ChunkWork:
    """Everything needed to score any chunk of one job."""

    job_id: str
    plan: ChunkPlan
    parts: PartsDir
    use_case: UseCase
    model: Model
    #: Verified local copy of the model version, and its registered manifest hash, for
    #: engines that ship the model to other processes.
    model_dir: Path
    manifest_sha256: str | None
    columns: Mapping[str, str]
    time_column: str | None
    #: True when the runner wants the engine to stop after the chunks in flight.
    should_stop: Callable[[], bool]
    #: The job's batch options, passed to ``score_batch`` (e.g. ``{"k": "10"}``).
    options: Mapping[str, str] = field(default_factory=dict)


class ChunkEngine(Protocol):
    """Scores chunks; one implementation per execution backend."""

    name: str

    def run(self, work: ChunkWork, pending: Sequence[int], on_done: ChunkDone) -> None:
        """Score every chunk in ``pending`` and call ``on_done`` as each part is written.

        Raises :class:`JobInterruptedError` when ``work.should_stop()`` turns true, and the
        first chunk's error when one fails.
        """
        ...


def score_rows(
    use_case: UseCase,
    model: Model,
    raw: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    time_column: str | None,
    options: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The user's rows followed by the use case's score columns.

    One output row per input row, or, when the scores carry a ``_row`` column (see
    :meth:`UseCase.score_batch`), each input row repeated once per output row that belongs to
    it, in input order. The same function scores every chunk in every engine, so a chunked
    run gives what a one-shot ``prepare_batch`` + ``score_batch`` of each chunk gives.
    """
    frame = use_case.prepare_batch(raw, time_column=time_column, mapping=dict(columns))
    # Options are passed only when the job has some: a use case written before they existed
    # (a plug-in with the old ``score_batch(model, data)``) keeps working for its own jobs.
    if options:
        scores = use_case.score_batch(model, frame, options=dict(options))
    else:
        scores = use_case.score_batch(model, frame)
    rows = raw.reset_index(drop=True)
    if ROW_COLUMN in scores.columns:
        rows = rows.iloc[_row_positions(use_case, scores[ROW_COLUMN], len(raw))]
        scores = scores.drop(columns=ROW_COLUMN)
    elif len(scores) != len(raw):
        raise ValueError(
            f"the {use_case.name} use case returned {len(scores)} scores for {len(raw)} rows"
        )
    clash = sorted(set(map(str, scores.columns)) & set(map(str, raw.columns)))
    if clash:
        raise ValueError(
            f"input columns {clash} have the names of score columns; rename them in the file"
        )
    return pd.concat([rows.reset_index(drop=True), scores.reset_index(drop=True)], axis=1)


def _row_positions(
    use_case: UseCase, positions: pd.Series[Any], n_rows: int
) -> npt.NDArray[np.int64]:
    """``_row`` as integer positions, refusing what would misplace or reorder output rows."""
    values = positions.to_numpy()
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"the {use_case.name} use case returned a non-integer {ROW_COLUMN}")
    out = values.astype(np.int64)
    if out[0] < 0 or out[-1] >= n_rows or bool((np.diff(out) < 0).any()):
        raise ValueError(
            f"the {use_case.name} use case returned {ROW_COLUMN} values that are not "
            f"non-decreasing positions in 0..{n_rows - 1}"
        )
    return out
