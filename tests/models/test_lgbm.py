import math
import threading
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from nexafi_ai.models import FastBooster, top_reasons

N_FEATURES = 8
NAMES = [f"f{i}" for i in range(N_FEATURES)]


def make_data(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic labelled rows, 10% of values missing so the trees learn missing-value routes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES))
    signal = x[:, 0] + 0.5 * x[:, 1] - 0.7 * x[:, 2] * x[:, 3] + rng.normal(scale=0.5, size=n)
    x[rng.random(x.shape) < 0.1] = np.nan
    return x, (signal > 0).astype(np.int32)


def train(**params: object) -> lightgbm.Booster:
    x, y = make_data(seed=0)
    dataset = lightgbm.Dataset(x, y, feature_name=NAMES)
    # One thread: OpenMP's spinning workers crawl on a busy CI machine (seen: 25 s, not 50 ms).
    base = {"objective": "binary", "num_leaves": 15, "num_threads": 1, "verbose": -1, "seed": 0}
    return lightgbm.train({**base, **params}, dataset, num_boost_round=50)


@pytest.fixture(scope="module")
def booster() -> lightgbm.Booster:
    return train()


@pytest.fixture
def fast(booster: lightgbm.Booster) -> FastBooster:
    return FastBooster(booster)


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    """Fresh rows, a fifth of values missing, plus an all-missing and an all-zero row."""
    x, _ = make_data(seed=1, n=300)
    x[np.random.default_rng(2).random(x.shape) < 0.2] = np.nan
    return np.vstack([x, np.full(N_FEATURES, np.nan), np.zeros(N_FEATURES)])


def test_fast_path_matches_booster_predict(
    fast: FastBooster, booster: lightgbm.Booster, rows: np.ndarray
) -> None:
    raw = [fast.raw_one(row.tolist()) for row in rows]
    proba = [fast.proba_one(row.tolist()) for row in rows]
    contrib = [fast.contrib_one(row.tolist()) for row in rows]
    np.testing.assert_allclose(raw, booster.predict(rows, raw_score=True), rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba, booster.predict(rows), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        contrib, booster.predict(rows, pred_contrib=True), rtol=0, atol=1e-12
    )


def test_batch_methods_match_booster_predict(
    fast: FastBooster, booster: lightgbm.Booster, rows: np.ndarray
) -> None:
    np.testing.assert_array_equal(fast.raw(rows), booster.predict(rows, raw_score=True))
    np.testing.assert_array_equal(fast.proba(rows), booster.predict(rows))
    contrib = fast.contrib(rows)
    assert contrib.shape == (len(rows), N_FEATURES + 1)
    np.testing.assert_array_equal(contrib, booster.predict(rows, pred_contrib=True))


def test_contributions_sum_to_raw_margin(fast: FastBooster, rows: np.ndarray) -> None:
    for row in rows:
        contrib = fast.contrib_one(row.tolist())
        assert len(contrib) == N_FEATURES + 1
        assert math.isclose(math.fsum(contrib), fast.raw_one(row.tolist()), abs_tol=1e-9)
    np.testing.assert_allclose(fast.contrib(rows).sum(axis=1), fast.raw(rows), atol=1e-9)


def test_proba_is_the_sigmoid_of_the_raw_margin(fast: FastBooster, rows: np.ndarray) -> None:
    for row in rows[:50]:
        raw = fast.raw_one(row.tolist())
        assert fast.proba_one(row.tolist()) == pytest.approx(1 / (1 + math.exp(-raw)), abs=1e-15)


def test_proba_honours_the_objective_sigmoid_parameter(rows: np.ndarray) -> None:
    steep = train(sigmoid=0.5)
    fast = FastBooster(steep)
    proba = [fast.proba_one(row.tolist()) for row in rows]
    np.testing.assert_allclose(proba, steep.predict(rows), rtol=0, atol=1e-12)


def test_none_and_nan_are_both_missing(fast: FastBooster, rows: np.ndarray) -> None:
    row = rows[0].tolist()
    row[0] = row[3] = math.nan
    with_none = [None if math.isnan(v) else v for v in row]
    assert fast.raw_one(with_none) == fast.raw_one(row)
    assert fast.contrib_one(with_none) == fast.contrib_one(row)
    # Missing is not zero: the trees learned where missing values go.
    assert fast.raw_one([math.nan] * N_FEATURES) != fast.raw_one([0.0] * N_FEATURES)


def test_numpy_rows_and_tuples_are_accepted(fast: FastBooster, rows: np.ndarray) -> None:
    expected = fast.raw_one(rows[5].tolist())
    assert fast.raw_one(rows[5]) == expected
    assert fast.raw_one(tuple(rows[5].tolist())) == expected


def test_round_trip_through_model_file_and_string(
    fast: FastBooster, booster: lightgbm.Booster, rows: np.ndarray, tmp_path: Path
) -> None:
    path = tmp_path / "model.txt"
    fast.booster.save_model(str(path))
    from_file = FastBooster.from_model_file(path)
    from_string = FastBooster.from_model_string(booster.model_to_string())
    for loaded in (from_file, from_string):
        assert loaded.feature_names == NAMES
        for row in rows[:100]:
            assert loaded.raw_one(row.tolist()) == fast.raw_one(row.tolist())
            assert loaded.proba_one(row.tolist()) == fast.proba_one(row.tolist())
            assert loaded.contrib_one(row.tolist()) == fast.contrib_one(row.tolist())
        np.testing.assert_array_equal(loaded.contrib(rows), fast.contrib(rows))


def test_best_iteration_is_used_by_both_paths_whatever_the_call_order(rows: np.ndarray) -> None:
    booster = train()
    booster.best_iteration = 20  # what early stopping would leave
    fast = FastBooster(booster)
    first = fast.raw_one(rows[0].tolist())  # before any batch call has run a predictor
    assert first == pytest.approx(booster.predict(rows[:1], raw_score=True)[0], abs=1e-12)
    assert first != pytest.approx(booster.predict(rows[:1], raw_score=True, num_iteration=-1)[0])
    np.testing.assert_array_equal(fast.raw(rows[:1]), [first])
    assert fast.raw_one(rows[0].tolist()) == first


def test_wrong_row_length_names_the_expected_feature_count(fast: FastBooster) -> None:
    for method in (fast.raw_one, fast.proba_one, fast.contrib_one):
        with pytest.raises(ValueError, match=f"expected a row of {N_FEATURES} features, got 7"):
            method([0.0] * 7)
    with pytest.raises(ValueError, match=f"{N_FEATURES} features, got 9"):
        fast.raw_one([0.0] * 9)
    with pytest.raises(ValueError, match=f"expected rows of {N_FEATURES} features"):
        fast.raw(np.zeros((3, 7)))
    with pytest.raises(ValueError, match=f"expected rows of {N_FEATURES} features"):
        fast.proba(np.zeros(N_FEATURES))  # one row must still be 2-D for the batch path


def test_non_numbers_are_refused(fast: FastBooster) -> None:
    with pytest.raises(TypeError):
        fast.raw_one(["1.0"] + [0.0] * (N_FEATURES - 1))  # type: ignore[arg-type]
    assert math.isfinite(fast.raw_one([0.0] * N_FEATURES))  # the failed call left no damage


def test_empty_batch(fast: FastBooster) -> None:
    assert fast.raw(np.empty((0, N_FEATURES))).shape == (0,)
    assert fast.contrib(np.empty((0, N_FEATURES))).shape == (0, N_FEATURES + 1)


def test_multiclass_models_are_refused() -> None:
    x, y = make_data(seed=0)
    params = {"objective": "multiclass", "num_class": 3, "num_threads": 1, "verbose": -1}
    multi = lightgbm.train(params, lightgbm.Dataset(x, y + (x[:, 4] > 1)), num_boost_round=2)
    with pytest.raises(ValueError, match="one output per row"):
        FastBooster(multi)


def test_close_twice_is_safe_and_later_calls_raise(booster: lightgbm.Booster) -> None:
    fast = FastBooster(booster)
    fast.close()
    fast.close()
    with pytest.raises(RuntimeError, match="closed"):
        fast.raw_one([0.0] * N_FEATURES)
    with pytest.raises(RuntimeError, match="closed"):
        fast.contrib(np.zeros((1, N_FEATURES)))
    with FastBooster(booster) as scoped:
        scoped.raw_one([0.0] * N_FEATURES)
    with pytest.raises(RuntimeError, match="closed"):
        scoped.proba_one([0.0] * N_FEATURES)
    del fast, scoped  # the finalizer has nothing left to free


def test_garbage_collection_frees_the_handles(booster: lightgbm.Booster) -> None:
    for _ in range(200):
        FastBooster(booster).raw_one([0.0] * N_FEATURES)


def test_threads_sharing_an_instance_get_their_own_answers(
    fast: FastBooster, rows: np.ndarray
) -> None:
    expected = fast.raw(rows)
    failures: list[str] = []

    def score(offset: int) -> None:
        for repeat in range(5):
            for i in range(offset, len(rows), 4):
                if fast.raw_one(rows[i].tolist()) != expected[i]:
                    failures.append(f"row {i} repeat {repeat}")

    threads = [threading.Thread(target=score, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_top_reasons_orders_by_contribution_then_feature_order() -> None:
    contrib = [0.2, -1.0, 0.9, 0.2, 0.0, 0.9, 0.05, -0.3, 5.0]  # last: bias, ignored
    assert top_reasons(contrib, NAMES) == [("f2", 0.9), ("f5", 0.9), ("f0", 0.2)]
    assert top_reasons(contrib, NAMES, k=5) == [
        ("f2", 0.9),
        ("f5", 0.9),
        ("f0", 0.2),
        ("f3", 0.2),
        ("f6", 0.05),
    ]
    assert top_reasons(contrib, NAMES, k=10, min_value=0.1) == [
        ("f2", 0.9),
        ("f5", 0.9),
        ("f0", 0.2),
        ("f3", 0.2),
    ]
    assert top_reasons(contrib, NAMES, k=0) == []
    assert top_reasons(contrib[:-1], NAMES, k=1) == [("f2", 0.9)]  # without the bias too
    assert top_reasons([-0.1] * N_FEATURES, NAMES) == []  # nothing pushes the score up


def test_top_reasons_is_deterministic_under_ties() -> None:
    contrib = [0.3] * N_FEATURES + [1.0]
    answers = {tuple(top_reasons(contrib, NAMES)) for _ in range(20)}
    assert answers == {(("f0", 0.3), ("f1", 0.3), ("f2", 0.3))}


def test_top_reasons_explains_a_real_score(fast: FastBooster, rows: np.ndarray) -> None:
    i = int(np.argmax(fast.raw(rows)))
    contrib = fast.contrib_one(rows[i].tolist())
    reasons = top_reasons(contrib, fast.feature_names, k=3)
    assert 1 <= len(reasons) <= 3
    values = [value for _, value in reasons]
    assert values == sorted(values, reverse=True)
    assert all(value > 0 for value in values)
    assert values[0] == max(contrib[:-1])
    assert all(isinstance(value, float) for value in values)


def test_top_reasons_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="3 contributions for 8 feature names"):
        top_reasons([0.1, 0.2, 0.3], NAMES)
    with pytest.raises(ValueError, match="k must be"):
        top_reasons([0.1] * N_FEATURES, NAMES, k=-1)
