"""The reference a batch job's output is checked against: a one-shot, in-memory scoring."""

from __future__ import annotations

import pandas as pd

from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.usecases import UseCase


class Reference:
    """What a one-shot, in-memory ``score_batch`` of a whole table gives."""

    def __init__(self, use_case: UseCase, registry: ModelRegistry, version: str) -> None:
        self.use_case = use_case
        self.model = load_verified(use_case, registry, version).model

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        scores = self.use_case.score_batch(self.model, self.use_case.prepare_data(frame))
        return pd.concat([frame.reset_index(drop=True), scores.reset_index(drop=True)], axis=1)

    def check(self, output: pd.DataFrame, frame: pd.DataFrame) -> None:
        """Every input row exactly once, in order, with the one-shot scores."""
        expected = self.score(frame)
        assert output["id"].astype(str).tolist() == frame["id"].astype(str).tolist()
        assert list(output.columns) == list(expected.columns)
        pd.testing.assert_series_equal(
            output["score"].astype(float), expected["score"], check_names=False, rtol=1e-12
        )
        assert output["decision"].astype(str).tolist() == expected["decision"].tolist()
