"""Use cases that answer several rows per input row (``_row``) and jobs with batch options."""

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from toy_usecase import ToyModel, ToyUseCase

from nexafi_ai.batch import (
    FAILED,
    SUCCEEDED,
    BatchError,
    BatchInputError,
    DaskEngine,
    JobStore,
    PartsDir,
    create_job,
    find_resumable,
    run_job,
    score_rows,
)
from nexafi_ai.registry import ModelRegistry, ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import Model, UseCase, register


class TopToy(ToyUseCase):
    """The toy use case answering its top ``k`` "offers" per row, none when ``x1 < -1.5``."""

    batch_options = ("k",)
    fail_on: ClassVar[str | None] = None
    row_override: ClassVar[Any] = None

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        if self.fail_on is not None and self.fail_on in set(data["id"]):
            raise RuntimeError("disk on fire")
        k = int((options or {}).get("k", "2"))
        p = super().score_batch(model, data)["score"].to_numpy()
        counts = np.where(data["x1"].to_numpy() < -1.5, 0, k)
        row = np.repeat(np.arange(len(data)), counts)
        rank = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        out = pd.DataFrame({"_row": row, "rank": rank, "offer_score": p[row] / rank})
        if self.row_override is not None:
            out["_row"] = self.row_override
        return out


@pytest.fixture
def top(toy: UseCase) -> TopToy:
    """Replaces the toy for one test (same name, so the toy's registered model serves it)."""
    use_case = TopToy()
    register(use_case)
    TopToy.fail_on = None
    TopToy.row_override = None
    return use_case


def _model(toy: UseCase) -> ToyModel:
    model = toy.fit(toy.builtin_data(size="tiny", seed=1), seed=1).model
    assert isinstance(model, ToyModel)
    return model


def test_row_column_repeats_each_input_row_per_output_row(top: TopToy) -> None:
    raw = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "x1": [0.5, -2.0, 1.0, 0.0], "x2": [0.1, 0.2, 0.3, 0.4]}
    )
    model = _model(top)
    out = score_rows(top, model, raw, columns={}, time_column=None, options={"k": "3"})
    assert list(out.columns) == ["id", "x1", "x2", "rank", "offer_score"]
    assert out["id"].tolist() == ["a"] * 3 + ["c"] * 3 + ["d"] * 3  # b has none, order kept
    assert out["rank"].tolist() == [1, 2, 3] * 3
    assert out["x2"].tolist() == [0.1] * 3 + [0.3] * 3 + [0.4] * 3
    # Without options the use case is called without them, as before they existed.
    assert len(score_rows(top, model, raw, columns={}, time_column=None)) == 6
    # An empty chunk keeps every column, so the assembled file still has its header.
    empty = score_rows(top, model, raw.head(0), columns={}, time_column=None)
    assert list(empty.columns) == ["id", "x1", "x2", "rank", "offer_score"]
    # A use case without _row keeps the one-row-per-input rule.
    plain = score_rows(ToyUseCase(), model, raw, columns={}, time_column=None)
    assert plain["id"].tolist() == raw["id"].tolist()


@pytest.mark.parametrize(
    "rows",
    [
        [1, 1, 0, 0, 2, 2],  # decreasing: output would not be in input order
        [0, 0, 2, 2, 3, 4],  # position 4 in a chunk of four rows
        [-1, 0, 0, 2, 2, 3],
        [0.0, 0.0, 2.0, 2.0, 3.0, 3.0],  # not integers
    ],
)
def test_row_values_that_would_misplace_rows_are_refused(top: TopToy, rows: list[Any]) -> None:
    raw = pd.DataFrame({"id": ["a", "b", "c", "d"], "x1": [0.5, -2.0, 1.0, 0.0], "x2": [0.0] * 4})
    TopToy.row_override = rows
    with pytest.raises(ValueError, match="_row"):
        score_rows(top, _model(top), raw, columns={}, time_column=None)


def _job(store: JobStore, use_case: UseCase, source: Path, output: Path, **kw: Any) -> str:
    params: dict[str, Any] = {"model_version": "1", "alias": "champion", "chunk_rows": 300}
    params.update(kw)
    return create_job(store, use_case, input_path=source, output_path=output, **params).id


def test_chunked_and_resumed_expansion_gives_the_one_chunk_file(
    top: TopToy,
    store: JobStore,
    registry: ModelRegistry,
    toy_champion: ModelVersionInfo,
    portfolio: pd.DataFrame,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    whole = tmp_path / "whole.csv"
    run_job(
        _job(store, top, portfolio_csv, whole, chunk_rows=10_000, options={"k": "3"}),
        store=store,
        registry=registry,
    )
    expected = pd.read_csv(whole)
    kept = portfolio[portfolio["x1"] >= -1.5]
    assert expected["id"].tolist() == np.repeat(kept["id"].to_numpy(), 3).tolist()
    assert expected["rank"].tolist() == [1, 2, 3] * len(kept)

    chunked = tmp_path / "chunked.parquet"
    TopToy.fail_on = str(portfolio["id"].iloc[1000])  # in chunk 3 of 10
    job_id = _job(store, top, portfolio_csv, chunked, options={"k": "3"})
    with pytest.raises(BatchError, match="disk on fire"):
        run_job(job_id, store=store, registry=registry)
    failed = store.get(job_id)
    assert failed is not None
    assert (failed.status, failed.rows_done) == (FAILED, 900)  # input rows, not output rows
    # Finished parts are recognised by the input rows they cover, though they hold more.
    assert all(PartsDir(chunked).is_complete(i, 300) for i in range(3))
    assert not PartsDir(chunked).is_complete(0, 900)

    same = {"input_path": portfolio_csv, "output_path": chunked, "model_version": "1"}
    assert find_resumable(store, top, **same, options={"k": "3"}) is not None
    assert find_resumable(store, top, **same, options={"k": "4"}) is None
    assert find_resumable(store, top, **same) is None

    TopToy.fail_on = None
    job = run_job(job_id, store=store, registry=registry, retry_failed=True)
    assert (job.status, job.rows_done, job.rows_total) == (SUCCEEDED, 3000, 3000)
    assert job.params["options"] == {"k": "3"}
    pd.testing.assert_frame_equal(pd.read_parquet(chunked), expected)
    assert b"nexafi.input_rows" not in (pq.read_schema(chunked).metadata or {})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_dask_engine_passes_options_and_expands_rows(
    top: TopToy,
    store: JobStore,
    registry: ModelRegistry,
    toy_champion: ModelVersionInfo,
    portfolio_csv: Path,
    tmp_path: Path,
) -> None:
    local_out, dask_out = tmp_path / "local.parquet", tmp_path / "dask.parquet"
    run_job(
        _job(store, top, portfolio_csv, local_out, options={"k": "4"}),
        store=store,
        registry=registry,
    )
    # Threads: the workers share this process, so they know the test-only use case.
    job_id = _job(store, top, portfolio_csv, dask_out, options={"k": "4"}, engine="dask")
    run_job(job_id, store=store, registry=registry, engine=DaskEngine(None, processes=False))
    pd.testing.assert_frame_equal(pd.read_parquet(dask_out), pd.read_parquet(local_out))
    assert set(pd.read_parquet(dask_out)["rank"]) == {1, 2, 3, 4}


def test_unknown_batch_options_are_refused_when_the_job_is_created(
    toy: UseCase, store: JobStore, portfolio_csv: Path, tmp_path: Path
) -> None:
    with pytest.raises(BatchInputError, match="unknown option 'k'") as info:
        _job(store, toy, portfolio_csv, tmp_path / "o.csv", options={"k": "3"})
    assert info.value.field == "options"
    assert store.recent() == []


ADMIN = {"X-API-Key": "admin-key-0123456789abcdef"}


def test_api_jobs_pass_options_through(
    top: TopToy,
    settings: Settings,
    toy_champion: ModelVersionInfo,
    portfolio: pd.DataFrame,
    tmp_path: Path,
) -> None:
    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    portfolio.head(500).to_csv(batch_dir / "book.csv", index=False)
    api = settings.model_copy(
        update={
            "api_keys": {ADMIN["X-API-Key"]: frozenset({"admin", "read"})},
            "batch_dir": batch_dir,
        }
    )
    body = {"use_case": "toy", "input": "book.csv", "output": "offers.csv"}
    with TestClient(create_app(api, use_cases={"toy": top})) as client:
        r = client.post("/v1/jobs", json={**body, "options": {"kk": "2"}}, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "options"
        r = client.post("/v1/jobs", json={**body, "options": {"k": "2"}}, headers=ADMIN)
        assert r.status_code == 202, r.text
        assert r.json()["options"] == {"k": "2"}
        deadline = time.monotonic() + 60
        while (job := client.get(f"/v1/jobs/{r.json()['id']}", headers=ADMIN).json())[
            "status"
        ] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert job["status"] == "succeeded", job
    offers = pd.read_csv(batch_dir / "offers.csv")
    assert len(offers) == 2 * int((portfolio.head(500)["x1"] >= -1.5).sum())
