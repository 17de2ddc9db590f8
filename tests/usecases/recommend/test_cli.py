"""A fintech's own exports: `nexafi-ai train recommend --interactions` and `batch recommend -k`.

The export is the built-in generator's tiny data written the way a CRM writes it: integer
customer numbers, its own column names, capitalised events and times as text, with a customer
table and a product table beside the log. These tests train through the CLI (a few seconds),
so they run on SQLite only: the job and registry code they reach is covered on PostgreSQL by
tests/batch and tests/usecases/recommend/test_api.py.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nexafi_ai.batch import JobInterruptedError, JobStore, create_job, run_job
from nexafi_ai.cli import app
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.serving.handles import load_verified
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.recommend import USE_CASE as RECOMMEND
from nexafi_ai.usecases.recommend.data import RecommendData
from nexafi_ai.usecases.recommend.model import RecommendModel
from nexafi_ai.usecases.recommend.schemas import RecommendRequest

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

runner = CliRunner()
K = 5
TRAIN_ARGS = [
    "--user-column",
    "CUSTOMER_NO",
    "--item-column",
    "PRODUCT_CODE",
    "--event-column",
    "ACTION",
    "--time-column",
    "EVENT_TIME",
]


def _flat(output: str) -> str:
    """The CLI's text without the line breaks rich adds at the terminal width."""
    return " ".join(output.split())


@dataclass(frozen=True)
class Export:
    events: Path
    customers: Path
    products: Path
    data: RecommendData


def _number(user_ids: pd.Series) -> pd.Series:
    """U000042 -> 1042: integer customer numbers, as a CRM writes them."""
    return user_ids.str[1:].astype(int) + 1000


@pytest.fixture
def export(tmp_path: Path) -> Export:
    data = RECOMMEND.builtin_data(size="tiny", seed=5)
    assert isinstance(data, RecommendData)
    it = data.interactions
    events = pd.DataFrame(
        {
            "CUSTOMER_NO": _number(it["user_id"]),
            "PRODUCT_CODE": it["item_id"],
            "ACTION": it["event"].str.capitalize(),
            "EVENT_TIME": it["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    customers = data.users.assign(CUSTOMER_NO=_number(data.users["user_id"])).drop(
        columns="user_id"
    )
    products = data.items.rename(columns={"item_id": "PRODUCT_CODE"})
    paths = Export(
        tmp_path / "events.csv", tmp_path / "customers.csv", tmp_path / "products.parquet", data
    )
    events.to_csv(paths.events, index=False)
    customers.to_csv(paths.customers, index=False)
    products.to_parquet(paths.products, index=False)
    return paths


def _to_score(export: Export, path: Path) -> pd.DataFrame:
    """Known customers with no profile columns filled in, a new customer described by their
    profile, and an unknown customer with nothing to go on."""
    active = _number(export.data.interactions["user_id"].drop_duplicates()).head(23)
    frame = pd.DataFrame({"CUSTOMER_NO": active.to_numpy(), "SEGMENT": "retail"})
    frame["age"] = pd.NA
    frame["income"] = pd.NA
    frame["goal"] = pd.NA
    new = {"CUSTOMER_NO": 999_001, "SEGMENT": "new", "age": 31, "income": 52_000.0}
    unknown = {"CUSTOMER_NO": 999_002, "SEGMENT": "lost"}
    frame = pd.concat(
        [frame.iloc[:10], pd.DataFrame([{**new, "goal": "home"}, unknown]), frame.iloc[10:]],
        ignore_index=True,
    )
    frame.to_csv(path, index=False)
    return frame


def test_train_on_own_exports_then_batch_k_rows_per_customer(
    cli_env: Settings, export: Export, registry: ModelRegistry, tmp_path: Path
) -> None:
    args = ["train", "recommend", "--interactions", str(export.events), *TRAIN_ARGS]
    tables = ["--users", str(export.customers), "--items", str(export.products)]
    result = runner.invoke(app, [*args, *tables, "--promote", "champion"])
    assert result.exit_code == 0, result.output
    assert "nexafi-recommend version 1 registered" in result.output
    assert "ndcg" in result.output
    assert "popularity" in result.output  # the baseline beside the model

    source = tmp_path / "to_score.csv"
    frame = _to_score(export, source)
    out = tmp_path / "recommendations.csv"
    batch = ["batch", "recommend", "--input", str(source), "--column", "user_id=CUSTOMER_NO"]
    result = runner.invoke(app, [*batch, "--output", str(out), "-k", str(K)])
    assert result.exit_code == 0, result.output
    recs = pd.read_csv(out)
    assert list(recs.columns) == [
        *frame.columns,
        "rank",
        "product_id",
        "score",
        "reason_code",
        "reason",
        "strategy",
    ]
    per_user = recs.groupby("CUSTOMER_NO", sort=False)
    # Customers in input order, the one with nothing to go on left out, ranks 1..n <= k.
    expected_order = [c for c in frame["CUSTOMER_NO"] if c != 999_002]
    assert list(per_user.groups) == expected_order
    for customer, rows in per_user:
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1)), customer
        assert 1 <= len(rows) <= K
        assert rows["product_id"].is_unique
        assert set(rows["SEGMENT"]) == set(frame.loc[frame["CUSTOMER_NO"] == customer, "SEGMENT"])
    known = recs[recs["CUSTOMER_NO"] < 999_000]
    assert (known.groupby("CUSTOMER_NO").size() == K).all()
    assert set(known["strategy"]) == {"hybrid"}
    assert set(recs.loc[recs["CUSTOMER_NO"] == 999_001, "strategy"]) == {"cold_start"}

    # The batch answers what the API answers for the same customer.
    model = load_verified(RECOMMEND, registry, "1").model
    assert isinstance(model, RecommendModel)
    first = str(frame["CUSTOMER_NO"].iloc[0])
    answer = model.recommend(RecommendRequest(user_id=first, k=K))
    assert recs.loc[recs["CUSTOMER_NO"] == int(first), "product_id"].tolist() == [
        item.product_id for item in answer.items
    ]

    # Chunked (7 customers a chunk, so chunks end mid-file) gives the one-chunk file.
    chunked = tmp_path / "chunked.csv"
    result = runner.invoke(
        app, [*batch, "--output", str(chunked), "--k", str(K), "--chunk-rows", "7"]
    )
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_csv(chunked), recs)

    # Interrupted after its first chunk, the same command resumes the job and finishes it.
    resumed = tmp_path / "resumed.csv"
    store = JobStore(registry.engine)
    job = create_job(
        store,
        RECOMMEND,
        input_path=source,
        output_path=resumed,
        model_version="1",
        alias="champion",
        chunk_rows=7,
        columns={"user_id": "CUSTOMER_NO"},
        options={"k": str(K)},
    )
    stop = threading.Event()

    def after_first_chunk(done: int, total: int) -> None:
        if done:
            stop.set()

    with pytest.raises(JobInterruptedError):
        run_job(job.id, store=store, registry=registry, stop=stop, progress=after_first_chunk)
    result = runner.invoke(app, [*batch, "--output", str(resumed), "-k", str(K)])
    assert result.exit_code == 0, result.output
    assert f"resuming job {job.id} at row 7" in _flat(result.output)
    pd.testing.assert_frame_equal(pd.read_csv(resumed), recs)

    # Another k is another job, not a resumption of this one.
    result = runner.invoke(app, [*batch, "--output", str(resumed), "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.output
    assert (pd.read_csv(resumed).groupby("CUSTOMER_NO").size() <= 2).all()

    # Without the id column named, the file cannot be read as customers: a clear failure.
    plain = ["batch", "recommend", "--input", str(source), "--output", str(tmp_path / "x.csv")]
    result = runner.invoke(app, plain)
    assert result.exit_code == 2, result.output
    assert "no user_id column (name yours with --column user_id=COLUMN)" in _flat(result.output)
    result = runner.invoke(app, [*plain, "--option", "top=3"])
    assert result.exit_code == 2, result.output
    assert "unknown option 'top'; known: k" in _flat(result.output)


def test_bad_commands_and_files_are_refused_clearly(cli_env: Settings, export: Export) -> None:
    events = str(export.events)
    cases = [
        (["--interactions", events, "--item-column", "NOPE", *TRAIN_ARGS[:2]], "NOPE"),
        (["--users", str(export.customers)], "--interactions"),
        (["--interactions", events, "--target", "ACTION"], "not a label"),
        (["--interactions", events, "--column", "amount=ACTION"], "amount"),
        (
            ["--interactions", events, "--user-column", "A", "--column", "user_id=B"],
            "disagrees",
        ),
        (["--interactions", str(export.events.with_suffix(".xlsx"))], "xlsx"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["train", "recommend", *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in _flat(result.output), (extra, result.output)

    for k in ("0", "51"):
        result = runner.invoke(
            app,
            ["batch", "recommend", "--input", events, "--output", "x.csv", "-k", k],
        )
        assert result.exit_code == 2, result.output
