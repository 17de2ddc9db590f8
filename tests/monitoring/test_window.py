from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert

from nexafi_ai.db.tables import inference_log, labels
from nexafi_ai.monitoring.window import LoggedColumn, labelled_inferences, logged_values

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _log(engine: Engine, i: int, entity: str, *, score: float, when: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(inference_log).values(
                request_id=f"r{i}",
                use_case="fraud",
                entity_id=entity,
                model_name="nexafi-fraud",
                model_version="1",
                inputs={"channel": "web" if i % 2 else "pos", "features": {"amount": i * 1.5}},
                outputs={"decision": "approve"},
                score=score,
                decision="approve",
                latency_ms=1.0,
                created_at=when,
            )
        )


def test_logged_values_extract_json_in_sql_on_both_databases(engine: Engine) -> None:
    for i in range(5):
        _log(engine, i, f"tx{i}", score=i / 10, when=T0 + timedelta(minutes=i))
    columns = {
        "amount": LoggedColumn(("inputs", "features", "amount")),
        "channel": LoggedColumn(("inputs", "channel"), "categorical"),
        "missing": LoggedColumn(("inputs", "features", "nope")),
        "score": LoggedColumn(("score",)),
    }
    got = logged_values(engine, "fraud", columns, start=T0 + timedelta(minutes=1))
    assert got["request_id"].tolist() == ["r1", "r2", "r3", "r4"]
    assert got["amount"].tolist() == [1.5, 3.0, 4.5, 6.0]
    assert got["channel"].tolist() == ["web", "pos", "web", "pos"]
    assert got["missing"].isna().all()
    assert got["score"].tolist() == [0.1, 0.2, 0.3, 0.4]
    recent = logged_values(engine, "fraud", columns, limit=2)
    assert recent["request_id"].tolist() == ["r3", "r4"]
    assert logged_values(engine, "credit", columns).empty


def test_labels_join_as_of_and_only_grade_earlier_scores(engine: Engine) -> None:
    _log(engine, 0, "a", score=0.9, when=T0)
    _log(engine, 1, "a", score=0.8, when=T0 + timedelta(hours=1))
    _log(engine, 2, "a", score=0.1, when=T0 + timedelta(hours=5))  # after the label: not graded
    _log(engine, 3, "b", score=0.2, when=T0)
    _log(engine, 4, "c", score=0.3, when=T0)  # never labelled
    with engine.begin() as conn:
        conn.execute(
            insert(labels),
            [
                {
                    "use_case": "fraud",
                    "entity_id": "a",
                    "label": "1",
                    "source": "chargeback",
                    "observed_at": T0 + timedelta(hours=2),
                },
                {
                    "use_case": "fraud",
                    "entity_id": "b",
                    "label": "1",
                    "source": "chargeback",
                    "observed_at": T0 + timedelta(hours=1),
                },
                {
                    "use_case": "fraud",
                    "entity_id": "b",
                    "label": "0",
                    "source": "analyst",
                    "observed_at": T0 + timedelta(hours=3),
                },
            ],
        )
    got = labelled_inferences(engine, "fraud").set_index("entity_id")
    assert sorted(got.index) == ["a", "b"]
    assert got.loc["a", "request_id"] == "r1"
    assert got.loc["a", "score"] == 0.8
    assert got.loc["b", "label"] == "0"
    assert got.loc["b", "source"] == "analyst"
    early = labelled_inferences(engine, "fraud", as_of=T0 + timedelta(hours=1, minutes=30))
    assert early["entity_id"].tolist() == ["b"]
    assert early["label"].tolist() == ["1"]
    assert isinstance(early["observed_at"].iloc[0], pd.Timestamp)


def test_extracted_values_keep_their_text_and_types(engine: Engine) -> None:
    """Codes keep leading zeros, commas and accents; a missing document is missing."""
    inputs = [
        {"mcc": "05411", "merchant": "shop, inc", "amount": 1.5, "flag": 3},
        {"mcc": "5999", "merchant": "crédit agricole", "amount": None, "flag": 4},
        {"mcc": None, "merchant": "", "amount": "7.25", "flag": 5},
    ]
    with engine.begin() as conn:
        for i, doc in enumerate([*inputs, None]):
            conn.execute(
                insert(inference_log).values(
                    request_id=f"t{i}",
                    use_case="fraud",
                    entity_id=f"t{i}",
                    model_name="m",
                    model_version="1",
                    inputs=doc or {},
                    outputs={},
                    shadow=None if doc is None else {"score": 0.5 + i},
                    latency_ms=1.0,
                    created_at=T0 + timedelta(seconds=i),
                )
            )
    columns = {
        "mcc": LoggedColumn(("inputs", "mcc"), "categorical"),
        "merchant": LoggedColumn(("inputs", "merchant"), "categorical"),
        "amount": LoggedColumn(("inputs", "amount")),
        "flag": LoggedColumn(("inputs", "flag"), "categorical"),
        "shadow_score": LoggedColumn(("shadow", "score")),
    }
    got = logged_values(engine, "fraud", columns, plain=())
    assert list(got.columns) == list(columns)
    assert got["mcc"].tolist()[:2] == ["05411", "5999"]
    assert got["mcc"].isna().tolist() == [False, False, True, True]
    assert got["merchant"].tolist()[:3] == ["shop, inc", "crédit agricole", ""]
    assert got["amount"].tolist()[0] == 1.5
    assert got["amount"].tolist()[2] == 7.25
    assert got["amount"].isna().tolist() == [False, True, False, True]
    assert [str(v) for v in got["flag"].tolist()[:3]] == ["3", "4", "5"]
    assert got["shadow_score"].tolist()[:3] == [0.5, 1.5, 2.5]
    assert np.isnan(got["shadow_score"].iloc[3])


def test_a_value_that_is_not_a_number_reads_as_missing(engine: Engine) -> None:
    """A broken feed (text or a flag where a number belongs) is missing, never an error."""
    for i, amount in enumerate([2.5, "abc", True]):
        with engine.begin() as conn:
            conn.execute(
                insert(inference_log).values(
                    request_id=f"n{i}",
                    use_case="fraud",
                    entity_id=f"n{i}",
                    model_name="m",
                    model_version="1",
                    inputs={"amount": amount, "channel": "pos"},
                    outputs={},
                    latency_ms=1.0,
                    created_at=T0 + timedelta(seconds=i),
                )
            )
    columns = {
        "amount": LoggedColumn(("inputs", "amount")),
        "channel": LoggedColumn(("inputs", "channel"), "categorical"),
    }
    got = logged_values(engine, "fraud", columns, plain=())
    assert got["amount"].iloc[0] == 2.5
    assert np.isnan(got["amount"].iloc[1])
    assert got["channel"].tolist() == ["pos", "pos", "pos"]
