"""The session's fitted credit candidates (shared by the credit tests' fixtures and tests)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from nexafi_ai.usecases.base import FitResult


@dataclass(frozen=True)
class Fitted:
    data: pd.DataFrame
    result: FitResult

    def by_kind(self, kind: str) -> FitResult:
        candidates = (self.result, *self.result.alternatives)
        return next(r for r in candidates if r.metadata["kind"] == kind)
