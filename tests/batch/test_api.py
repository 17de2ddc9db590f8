"""``/v1/jobs`` over HTTP: submit, follow, refuse bad paths, resume abandoned jobs at start-up."""

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from batch_reference import Reference
from fastapi.testclient import TestClient
from sqlalchemy import update

from nexafi_ai.batch import RUNNING, SUCCEEDED, JobStore, create_job
from nexafi_ai.db import batch_jobs
from nexafi_ai.db.tables import utcnow
from nexafi_ai.registry import ModelVersionInfo
from nexafi_ai.serving.app import create_app
from nexafi_ai.settings import Settings
from nexafi_ai.usecases import UseCase

ADMIN = {"X-API-Key": "admin-key-0123456789abcdef"}
READER = {"X-API-Key": "read-key-0123456789abcdef"}
SCORER = {"X-API-Key": "score-key-0123456789abcdef"}


@pytest.fixture
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    keys = {
        ADMIN["X-API-Key"]: frozenset({"admin", "read"}),
        READER["X-API-Key"]: frozenset({"read"}),
        SCORER["X-API-Key"]: frozenset({"score"}),
    }
    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    return settings.model_copy(update={"api_keys": keys, "batch_dir": batch_dir})


@pytest.fixture
def client(
    api_settings: Settings, toy: UseCase, toy_champion: ModelVersionInfo
) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, use_cases={toy.name: toy})) as c:
        yield c


def _finished(client: TestClient, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=READER).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"}
    return body["error"]  # type: ignore[no-any-return]


def test_submit_and_follow_a_job(
    client: TestClient,
    api_settings: Settings,
    reference: Reference,
    portfolio: pd.DataFrame,
) -> None:
    (api_settings.batch_root / "in").mkdir()
    portfolio.to_parquet(api_settings.batch_root / "in" / "book.parquet", index=False)
    body = {"use_case": "toy", "input": "in/book.parquet", "output": "out/scored.csv"}
    r = client.post("/v1/jobs", json={**body, "chunk_rows": 700}, headers=ADMIN)
    assert r.status_code == 202, r.text
    submitted = r.json()
    assert submitted["status"] in ("queued", "running", "succeeded")
    assert (submitted["input"], submitted["output"]) == ("in/book.parquet", "out/scored.csv")
    assert (submitted["model_version"], submitted["chunk_rows"]) == ("1", 700)

    job = _finished(client, submitted["id"])
    assert job["status"] == "succeeded", job
    assert job["rows_done"] == job["rows_total"] == len(portfolio)
    reference.check(pd.read_csv(api_settings.batch_root / "out" / "scored.csv"), portfolio)
    listed = client.get("/v1/jobs", headers=READER).json()["jobs"]
    assert [j["id"] for j in listed] == [submitted["id"]]
    assert client.get("/v1/jobs?status=failed", headers=READER).json() == {"jobs": []}


def test_bad_requests_name_the_field(
    client: TestClient, api_settings: Settings, tmp_path: Path
) -> None:
    (api_settings.batch_root / "book.csv").write_text("id,x1,x2\na,1,2\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("id,x1,x2\n")
    (api_settings.batch_root / "link.csv").symlink_to(outside)
    good = {"use_case": "toy", "input": "book.csv", "output": "scored.csv"}
    cases = [
        ({"input": str(outside)}, "input"),
        ({"input": "../secret.csv"}, "input"),
        ({"input": "link.csv"}, "input"),
        ({"input": "missing.csv"}, "input"),
        ({"output": "../../etc/scored.csv"}, "output"),
        ({"output": "/tmp/scored.csv"}, "output"),
        ({"output": "scored.xlsx"}, "output"),
        ({"output": "book.csv"}, "output"),
        ({"use_case": "nope"}, "use_case"),
        ({"engine": "spark"}, "engine"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"surprise": 1}, "surprise"),
    ]
    for change, field in cases:
        r = client.post("/v1/jobs", json={**good, **change}, headers=ADMIN)
        assert r.status_code == 422, (change, r.text)
        assert _error(r)["field"] == field, (change, r.text)
    r = client.post("/v1/jobs", json={**good, "alias": "challenger"}, headers=ADMIN)
    assert r.status_code == 409
    assert _error(r)["field"] == "alias"
    assert "nexafi-toy@challenger is not set" in _error(r)["message"]

    r = client.get("/v1/jobs/no-such-job", headers=READER)
    assert r.status_code == 404
    assert _error(r) == {
        "code": "not_found",
        "message": "no batch job no-such-job",
        "field": "job_id",
    }
    assert client.post("/v1/jobs", json=good, headers=SCORER).status_code == 403
    assert client.post("/v1/jobs", json=good, headers=READER).status_code == 403
    assert client.post("/v1/jobs", json=good).status_code == 401
    assert client.get("/v1/jobs", headers=SCORER).status_code == 403
    assert client.get("/v1/jobs", headers=READER).json() == {"jobs": []}


def test_startup_resumes_a_job_left_running_with_a_stale_heartbeat(
    api_settings: Settings,
    toy: UseCase,
    toy_champion: ModelVersionInfo,
    store: JobStore,
    reference: Reference,
    portfolio: pd.DataFrame,
) -> None:
    source = api_settings.batch_root / "book.csv"
    portfolio.to_csv(source, index=False)
    job = create_job(
        store,
        toy,
        input_path=source,
        output_path=api_settings.batch_root / "scored.parquet",
        model_version="1",
        alias="champion",
        chunk_rows=500,
        origin="api",
    )
    # A replica claimed it, then vanished: it is running, owned elsewhere, heartbeat stale.
    assert store.claim(job.id, stale_after_s=60) is not None
    with store.engine.begin() as conn:
        conn.execute(
            update(batch_jobs)
            .where(batch_jobs.c.id == job.id)
            .values(
                checkpoint={"owner": {"host": "replica-gone", "pid": 1}},
                updated_at=utcnow() - timedelta(hours=1),
            )
        )
    stuck = store.get(job.id)
    assert stuck is not None
    assert stuck.status == RUNNING

    with TestClient(create_app(api_settings, use_cases={toy.name: toy})) as client:
        finished = _finished(client, job.id)
    assert finished["status"] == "succeeded", finished
    final = store.get(job.id)
    assert final is not None
    assert final.status == SUCCEEDED
    reference.check(pd.read_parquet(api_settings.batch_root / "scored.parquet"), portfolio)
