"""The contract every registered use case must meet (scikit-learn's check_estimator idea).

Parametrised over every discovered use case plus the test-only toy, so each new use case is
checked by adding it, with no edit here.
"""

from pathlib import Path

import pytest
from pydantic import ValidationError
from toy_usecase import USE_CASE as TOY

from nexafi_ai.registry import write_manifest
from nexafi_ai.serving.handles import ModelLoadError, check_warmup
from nexafi_ai.usecases import Model, UseCase, all_use_cases
from nexafi_ai.usecases.base import outputs_match

USE_CASES = {**all_use_cases(), TOY.name: TOY}


@pytest.fixture(params=sorted(USE_CASES), ids=str)
def use_case(request: pytest.FixtureRequest) -> UseCase:
    return USE_CASES[request.param]


def test_identity(use_case: UseCase) -> None:
    assert use_case.name.isidentifier()
    assert use_case.model_name
    assert use_case.request_model.model_config.get("extra") == "forbid"


def test_fit_predict_save_load_round_trip(use_case: UseCase, tmp_path: Path) -> None:
    data = use_case.builtin_data(size="tiny", seed=1)
    result = use_case.fit(data, seed=1)
    assert isinstance(result.model, Model)
    assert result.metrics, "fit must report held-out metrics"
    bodies = use_case.example_requests(data, 5)
    assert len(bodies) == 5
    requests = [use_case.request_model.model_validate(b) for b in bodies]
    before = [r.model_dump(mode="json") for r in result.model.predict(requests)]
    assert all(isinstance(r, dict) for r in before)

    result.model.save(tmp_path)
    write_manifest(tmp_path)  # raises on pickle-like files: artifacts must be data-only
    loaded = use_case.load(tmp_path)
    after = [r.model_dump(mode="json") for r in loaded.predict(requests)]
    assert outputs_match(before, after, rel_tol=1e-9)


def test_schema_rejects_bad_input_naming_the_field(use_case: UseCase) -> None:
    cases = use_case.invalid_requests()
    assert cases, "a use case must list invalid requests"
    for body, field in cases:
        with pytest.raises(ValidationError) as info:
            use_case.request_model.model_validate(body)
        fields = {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}
        assert field in fields, (body, fields)


def test_warmup_detects_a_model_that_answers_differently(use_case: UseCase, tmp_path: Path) -> None:
    import json

    data = use_case.builtin_data(size="tiny", seed=2)
    model = use_case.fit(data, seed=2).model
    bodies = use_case.example_requests(data, 2)
    answers = model.predict([use_case.request_model.model_validate(b) for b in bodies])
    cases = [
        {"request": b, "response": a.model_dump(mode="json")}
        for b, a in zip(bodies, answers, strict=True)
    ]
    (tmp_path / "warmup.json").write_text(json.dumps(cases))
    assert check_warmup(use_case, model, tmp_path) == 2
    other = use_case.fit(use_case.builtin_data(size="tiny", seed=99), seed=99).model
    with pytest.raises(ModelLoadError, match="warm-up output differs"):
        check_warmup(use_case, other, tmp_path)
