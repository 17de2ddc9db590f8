"""What an execution engine receives (:class:`ChunkWork`) and does (:class:`ChunkEngine`).

An engine scores the pending chunks of one job, writes each one's part file and reports each
finished chunk to the runner, which commits the checkpoint. Engines never touch the job table:
how the work is spread (one process, a Dask cluster) is their only concern.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from nexafi_ai.batch.chunks import ChunkPlan
from nexafi_ai.batch.parts import PartsDir
from nexafi_ai.usecases.base import Model, UseCase

__all__ = ["ChunkDone", "ChunkEngine", "ChunkWork", "JobInterruptedError", "score_rows"]

#: Called by an engine after chunk ``index`` (``rows`` rows) has its part file on disk.
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
) -> pd.DataFrame:
    """The user's rows followed by the use case's score columns, one output row per input row.

    The same function scores every chunk in every engine, so a chunked run gives what a
    one-shot ``prepare_data`` + ``score_batch`` of each chunk gives.
    """
    frame = use_case.prepare_data(raw, time_column=time_column, mapping=dict(columns))
    scores = use_case.score_batch(model, frame)
    if len(scores) != len(raw):
        raise ValueError(
            f"the {use_case.name} use case returned {len(scores)} scores for {len(raw)} rows"
        )
    clash = sorted(set(map(str, scores.columns)) & set(map(str, raw.columns)))
    if clash:
        raise ValueError(
            f"input columns {clash} have the names of score columns; rename them in the file"
        )
    return pd.concat([raw.reset_index(drop=True), scores.reset_index(drop=True)], axis=1)
