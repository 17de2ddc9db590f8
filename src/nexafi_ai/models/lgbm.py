"""One-row LightGBM scoring and exact TreeSHAP in microseconds, for the real-time fraud path.

``lightgbm.Booster.predict`` re-validates and converts its input, builds a predictor and
allocates its output on every call: about a hundred microseconds of Python and ctypes glue for
a single row, far more than walking the trees. LightGBM's C API has a single-row fast path:
``LGBM_BoosterPredictForMatSingleRowFastInit`` parses the parameters and builds the predictor
once into a ``FastConfig`` handle, after which ``LGBM_BoosterPredictForMatSingleRowFast`` only
reads a row and walks the trees. :class:`FastBooster` drives that path with preallocated ctypes
buffers, so a call allocates nothing but the returned Python float (or list), and keeps
``Booster.predict`` for batches, pinned to the same trees, so both paths give the same numbers.

This leans on private names of the ``lightgbm`` package, as it exposes no public way to the
C API: ``lightgbm.libpath._LIB`` (the loaded library), ``Booster._handle``, and the
``_C_API_*`` constants and ``_safe_call`` of ``lightgbm.basic``. All have been stable through
LightGBM 4.x; the parity tests would catch a change.
"""

from __future__ import annotations

import ctypes
import heapq
import math
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import lightgbm
import numpy as np
import numpy.typing as npt
from lightgbm.basic import (
    _C_API_DTYPE_FLOAT64,
    _C_API_PREDICT_CONTRIB,
    _C_API_PREDICT_NORMAL,
    _C_API_PREDICT_RAW_SCORE,
    _safe_call,
)
from lightgbm.libpath import _LIB

__all__ = ["FastBooster", "Row", "top_reasons"]

#: One transaction's features in model order; ``None`` and NaN both mean "missing".
Row = Sequence[float | None] | npt.NDArray[np.floating[Any]]

# Deliberately no ``num_threads=1``: one row is scored on the calling thread whatever this
# says (measured: no difference), while the C API would also make the value LightGBM's
# process-wide default until the next call that passes its own.
_FAST_PARAMETERS = b""


class FastBooster:
    """A LightGBM binary-classification booster for one-row-at-a-time scoring and TreeSHAP.

    ``*_one`` methods take one row (a sequence of ``n_features`` floats in the order of
    :attr:`feature_names`; ``None`` or NaN is a missing value, routed the way LightGBM routes
    missing values) and go through the C fast path. The batch methods take a 2-D array and go
    through ``Booster.predict``, which is the faster of the two from about ten rows up.

    Every method is safe to call from several threads: a lock guards the shared input and
    output buffers, since ctypes releases the GIL during the C call. Uncontended it costs
    about 0.2 µs, 2% of a ~9 µs call on a 200-tree model, cheaper than a silently wrong score.
    Threads scoring the same instance take turns, as LightGBM would make them anyway (each
    fast config has its own mutex), so a thread pool scoring in parallel wants one instance
    per thread.

    The instance takes the booster over: do not train it further, nor call its ``predict``
    with another ``num_iteration``. LightGBM keeps the iteration count to predict with inside
    the booster, and any predict call overwrites it, so a stray ``predict(num_iteration=5)``
    silently changes what the fast path computes (seen with 4.7). Call :meth:`close` (or use the
    instance as a context manager) to free the native handles promptly; garbage collection
    frees them otherwise.
    """

    def __init__(self, booster: lightgbm.Booster) -> None:
        if booster.num_model_per_iteration() != 1:
            raise ValueError(
                "FastBooster needs a model with one output per row (binary classification), "
                f"this one has {booster.num_model_per_iteration()} (multiclass?)"
            )
        self._booster = booster
        #: Feature names in model order: the order of a row's values.
        self.feature_names: list[str] = list(booster.feature_name())
        self.n_features: int = booster.num_feature()
        # Pinned and passed to both paths (see the class docstring): Booster.predict's default,
        # best_iteration, must not become what the fast path uses only after a batch call.
        self._num_iteration: int = booster.best_iteration if booster.best_iteration > 0 else -1
        self._lock = threading.Lock()
        self._closed = False
        self._row = (ctypes.c_double * self.n_features)()
        self._out_len = (ctypes.c_int64 * 1)()
        self._raw_out = (ctypes.c_double * 1)()
        self._proba_out = (ctypes.c_double * 1)()
        self._contrib_out = (ctypes.c_double * (self.n_features + 1))()
        self._predict_fast = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        # Registered before the handles exist, so that a failure half-way through still frees
        # the ones already made; holding the booster frees the configs before the booster.
        self._handles: list[ctypes.c_void_p] = []
        self._finalizer = weakref.finalize(self, _free_fast_configs, self._handles, booster)
        self._raw_config = self._fast_config(_C_API_PREDICT_RAW_SCORE)
        # Proba gets its own config rather than a sigmoid in Python: LightGBM's output
        # transform honours the objective's ``sigmoid`` parameter, so this matches
        # ``Booster.predict`` bit for bit whatever the model was trained with.
        self._proba_config = self._fast_config(_C_API_PREDICT_NORMAL)
        self._contrib_config = self._fast_config(_C_API_PREDICT_CONTRIB)

    @classmethod
    def from_model_file(cls, path: Path) -> FastBooster:
        """Load a model saved with ``Booster.save_model``: LightGBM's text format, never pickle."""
        return cls(lightgbm.Booster(model_file=str(path)))

    @classmethod
    def from_model_string(cls, text: str) -> FastBooster:
        """Load a model from the text ``Booster.model_to_string`` wrote."""
        return cls(lightgbm.Booster(model_str=text))

    @property
    def booster(self) -> lightgbm.Booster:
        """The wrapped booster, to save or inspect; see the class docstring before predicting."""
        return self._booster

    def _fast_config(self, predict_type: int) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._booster._handle,
                ctypes.c_int(predict_type),
                ctypes.c_int(0),  # start_iteration
                ctypes.c_int(self._num_iteration),
                ctypes.c_int(_C_API_DTYPE_FLOAT64),
                ctypes.c_int32(self.n_features),
                ctypes.c_char_p(_FAST_PARAMETERS),
                ctypes.byref(handle),
            )
        )
        self._handles.append(handle)
        return handle

    # --- one row: the C fast path -------------------------------------------------------------

    def raw_one(self, row: Row) -> float:
        """The raw margin (log-odds) of one row."""
        with self._lock:
            self._predict_one(row, self._raw_config, self._raw_out, 1)
            return self._raw_out[0]

    def proba_one(self, row: Row) -> float:
        """The positive-class probability of one row: LightGBM's sigmoid of :meth:`raw_one`."""
        with self._lock:
            self._predict_one(row, self._proba_config, self._proba_out, 1)
            return self._proba_out[0]

    def contrib_one(self, row: Row) -> list[float]:
        """Exact TreeSHAP values of one row: one per feature, then the bias (expected value).

        They sum to :meth:`raw_one` (up to float rounding), in log-odds, not probability.
        """
        with self._lock:
            self._predict_one(row, self._contrib_config, self._contrib_out, self.n_features + 1)
            return self._contrib_out[:]

    def _predict_one(
        self, row: Row, config: ctypes.c_void_p, out: ctypes.Array[ctypes.c_double], size: int
    ) -> None:
        # Caller holds the lock: the buffers and the handles are shared state.
        if self._closed:
            raise RuntimeError("FastBooster is closed")
        if len(row) != self.n_features:
            raise ValueError(f"expected a row of {self.n_features} features, got {len(row)}")
        try:
            # A C loop, the fastest copy of a list of floats; ctypes takes any sequence of
            # numbers here, its stubs only admit a list.
            self._row[:] = row  # type: ignore[call-overload]
        except TypeError:
            # None (missing) is no float; anything else that is not a number fails again here.
            self._row[:] = [math.nan if v is None else v for v in row]
        ret = self._predict_fast(config, self._row, self._out_len, out)
        if ret != 0:
            _safe_call(ret)
        if self._out_len[0] != size:
            raise RuntimeError(f"LightGBM wrote {self._out_len[0]} outputs, expected {size}")

    # --- many rows: Booster.predict ------------------------------------------------------------

    def raw(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Raw margins of a 2-D batch, one per row."""
        return self._predict_many(rows, raw_score=True)

    def proba(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Positive-class probabilities of a 2-D batch, one per row."""
        return self._predict_many(rows)

    def contrib(self, rows: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """TreeSHAP values of a 2-D batch: shape ``(n_rows, n_features + 1)``, bias last."""
        return self._predict_many(rows, pred_contrib=True)

    def _predict_many(self, rows: npt.ArrayLike, **kind: bool) -> npt.NDArray[np.float64]:
        matrix = np.asarray(rows, dtype=np.float64)  # None becomes NaN, i.e. missing
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(
                f"expected rows of {self.n_features} features, got an array of shape {matrix.shape}"
            )
        with self._lock:  # only to order against close(); Booster.predict has no shared state
            if self._closed:
                raise RuntimeError("FastBooster is closed")
        if matrix.shape[0] == 0:
            width = (self.n_features + 1,) if kind.get("pred_contrib") else ()
            return np.empty((0, *width), dtype=np.float64)
        out = self._booster.predict(matrix, num_iteration=self._num_iteration, **kind)
        return np.asarray(out, dtype=np.float64)

    # --- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the native fast-path handles; later calls raise. Safe to call more than once."""
        with self._lock:  # never free a handle another thread is predicting with
            self._closed = True
            self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _free_fast_configs(handles: list[ctypes.c_void_p], booster: lightgbm.Booster) -> None:
    """Free the fast configs; ``booster`` is only held so that it outlives them."""
    del booster
    while handles:
        _safe_call(_LIB.LGBM_FastConfigFree(handles.pop()))


def top_reasons(
    contrib: Sequence[float], names: Sequence[str], k: int = 3, *, min_value: float = 0.0
) -> list[tuple[str, float]]:
    """The ``k`` features pushing the score up the most: the reasons behind a high fraud score.

    ``contrib`` is :meth:`FastBooster.contrib_one`'s output (the trailing bias is ignored: it is
    the same for every row and explains nothing) or the per-feature values alone. Only values
    above ``min_value`` count; ties go to the feature that comes first, so the answer is
    deterministic.

    >>> top_reasons([0.5, -1.0, 2.0, 0.5, -3.0], ["amount", "age", "velocity", "country"], k=3)
    [('velocity', 2.0), ('amount', 0.5), ('country', 0.5)]
    >>> top_reasons([0.0, -0.2, 0.1], ["a", "b"])
    []
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if len(contrib) == len(names) + 1:
        contrib = contrib[:-1]
    elif len(contrib) != len(names):
        raise ValueError(
            f"{len(contrib)} contributions for {len(names)} feature names: expected "
            f"{len(names)} (or {len(names) + 1} with the bias last)"
        )
    candidates = ((-value, i) for i, value in enumerate(contrib) if value > min_value)
    return [(names[i], float(-negative)) for negative, i in heapq.nsmallest(k, candidates)]
