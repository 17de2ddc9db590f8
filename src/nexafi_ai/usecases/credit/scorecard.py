"""A WoE-binned logistic scorecard, fitted with optbinning and served from a plain JSON table.

**Why a scorecard.** A lender must be able to say *why* an applicant scored what they did
(adverse-action notices) and show a regulator a model that fits on one page. A scorecard does
both: every feature is cut into a few bins, every bin is worth a fixed number of points, and the
score is their sum. Points lost against a feature's best bin are the adverse-action reasons.

**Fitting** (:meth:`Scorecard.fit`) is optbinning's: ``BinningProcess`` finds optimal bins per
feature (numeric features with a known risk direction are constrained to a monotone event rate,
so more debt can never earn points; categorical features group categories of similar risk;
missing values get their own bin with their empirical weight of evidence, because "never
delinquent" or "income not reported" carry information), drops features whose information value
is below :data:`MIN_IV`, and ``optbinning.Scorecard`` fits an L2-regularised scikit-learn logistic
regression on the WoE columns and scales it with points-to-double-odds (the same
:class:`~nexafi_ai.usecases.credit.scaling.ScoreScaling` the rest of the credit model uses).
optbinning spreads the intercept and the scaling offset evenly over the features, so the score
is exactly the sum of the points. A feature whose coefficient comes out with the wrong sign (it
would *raise* the points of a riskier bin, usually because a correlated feature already carries
its signal) is dropped and the card refitted, so every feature reads the way its WoE does.

**Serving** reads only the JSON of :meth:`Scorecard.to_json`: per feature the split points (or
the category groups) and the points of each bin plus the Missing bin. :meth:`Scorecard.points_one`
is pure Python (``bisect`` on the splits, a ``dict`` lookup for categories): a real-time request
scores one applicant, where importing optbinning (and its solvers), building a one-row DataFrame
and calling ``transform`` would cost milliseconds for what is a dozen comparisons; it also means
the serving image does not need optbinning at all and the artefact is reviewable text, not a
pickle. :meth:`Scorecard.points` is the vectorised equivalent for batch scoring.

**Parity with optbinning** is exact, because the table *is* optbinning's
(``Scorecard.table(style="detailed")``) and the bin lookup replicates its ``transform``:

* numeric bins are ``np.digitize(x, splits, right=False)``: a value equal to a split falls in
  the bin to its *right* (bins are ``[a, b)``), which is ``bisect.bisect_right``;
  +/-inf fall in the outer bins;
* a missing value (absent key, ``None``, NaN) scores the feature's Missing bin;
* a category not seen in training also scores the **Missing bin**: ``Scorecard.score`` bins
  with ``metric="indices"``, where an unknown category gets index ``-1``, and ``-1`` indexes
  the last row of the feature's table, which is the Missing bin. (optbinning's own
  ``predict_proba`` gives the same unseen category WoE 0 instead; the points, and so the score
  and :meth:`Scorecard.pd`, follow ``score``.)

The summation order is optbinning's too (feature by feature from 0.0, then the intercept), so
totals agree bit for bit, not just to a tolerance. Two optbinning conventions carry over with
the table and are worth knowing when reading it: a bin with no events or no non-events (an
empty Missing bin, or a tiny pure one) gets WoE 0, i.e. neutral points, not extreme ones; and
``event_rate`` in :meth:`Scorecard.table` is recomputed from the counts (optbinning shows 0 for
a bin of defaults only), so such a bin is visible there.
"""

from __future__ import annotations

import bisect
import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Final, overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from nexafi_ai.usecases.credit.scaling import FeatureSpec, ScoreScaling

__all__ = ["FORMAT", "FORMAT_VERSION", "LOGISTIC_C", "MIN_IV", "MISSING_LABEL", "Scorecard"]

#: The ``format`` key of :meth:`Scorecard.to_json` and its version (bumped on any layout change).
FORMAT: Final = "nexafi.credit.scorecard"
FORMAT_VERSION: Final = 1

#: Features whose binned information value is below this are dropped at fit. 0.02 is the usual
#: "not predictive" line in credit scoring: such a feature would add bins, and reason codes, that
#: move the score by noise.
MIN_IV: Final = 0.02

#: Inverse L2 strength of the logistic regression. WoE columns all live on the log-odds scale,
#: so one C suits every feature; 1.0 shrinks a little and keeps lbfgs converging in a few dozen
#: iterations on collinear bureau features.
LOGISTIC_C: Final = 1.0
_MAX_ITER: Final = 1000

#: The label of the bin that missing values and unseen categories fall in.
MISSING_LABEL: Final = "Missing"

#: optbinning event-rate trend per :attr:`FeatureSpec.monotone` (+1: more value, more risk).
_TRENDS: Final = {1: "ascending", -1: "descending", 0: "auto"}
_DEFAULT_SCALING: Final = ScoreScaling()
#: A monotone check tolerance: points are sums of floats scaled by ~29 points per unit log-odds.
_MONOTONE_TOL: Final = 1e-9

#: A category value as it can live in JSON.
Category = str | int | float | bool
FloatArray = NDArray[np.float64]


def _json_scalar(value: Any) -> Category:
    """A category as a plain JSON scalar (optbinning hands back numpy / Arrow scalars)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, str | int | float | bool):
        raise TypeError(f"category {value!r} is not a JSON scalar (str, int, float, bool)")
    return value


def _format_edge(value: float) -> str:
    """A split point for a label: 7 significant digits, no exponent (``3.04999995`` -> 3.05)."""
    return str(
        np.format_float_positional(value, precision=7, unique=False, fractional=False, trim="-")
    )


def _interval_labels(splits: Sequence[float]) -> list[str]:
    """``(-inf, a)``, ``[a, b)``, ..., ``[z, inf)``: a value equal to a split goes right."""
    if not splits:
        return ["(-inf, inf)"]
    edges = [_format_edge(s) for s in splits]
    labels = [f"(-inf, {edges[0]})"]
    labels += [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
    labels.append(f"[{edges[-1]}, inf)")
    return labels


class _Bin:
    """One row of the points table (a regular bin or the Missing bin)."""

    __slots__ = ("count", "event_rate", "iv", "label", "points", "woe")

    def __init__(
        self,
        label: str,
        points: float,
        count: float,
        event_rate: float | None,
        woe: float,
        iv: float,
    ) -> None:
        self.label = label
        self.points = points
        self.count = count
        self.event_rate = event_rate
        self.woe = woe
        self.iv = iv

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "points": self.points,
            "count": self.count,
            "event_rate": self.event_rate,
            "woe": self.woe,
            "iv": self.iv,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Bin:
        rate = data["event_rate"]
        return cls(
            label=str(data["label"]),
            points=float(data["points"]),
            count=float(data["count"]),
            event_rate=None if rate is None else float(rate),
            woe=float(data["woe"]),
            iv=float(data["iv"]),
        )


class _FeatureTable:
    """One feature's bins and points, with the lookups serving needs precomputed.

    ``points`` and ``labels`` are indexed by bin index; the last index is the Missing bin, as in
    optbinning's table (where the Special bin sits just before it; no special codes are used, so
    that bin is unreachable and not kept).
    """

    __slots__ = (
        "bins",
        "category_index",
        "coefficient",
        "groups",
        "iv",
        "labels",
        "missing",
        "missing_index",
        "name",
        "numeric",
        "points",
        "spec",
        "splits",
    )

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        coefficient: float,
        iv: float,
        splits: Sequence[float] = (),
        groups: Sequence[Sequence[Category]] = (),
        bins: Sequence[_Bin],
        missing: _Bin,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.numeric = spec.kind == "numeric"
        self.coefficient = coefficient
        self.iv = iv
        self.splits = [float(s) for s in splits]
        self.groups = [list(g) for g in groups]
        self.bins = list(bins)
        self.missing = missing
        n_bins = len(self.splits) + 1 if self.numeric else len(self.groups)
        if len(self.bins) != n_bins:
            raise ValueError(f"{self.name}: {len(self.bins)} bins for {n_bins} intervals/groups")
        if self.numeric and self.splits != sorted(self.splits):
            raise ValueError(f"{self.name}: split points must be increasing")
        self.missing_index = len(self.bins)
        # Later groups win, as in optbinning's transform (it assigns group by group).
        self.category_index: dict[Category, int] = {}
        for i, group in enumerate(self.groups):
            for category in group:
                self.category_index[category] = i
        self.points: tuple[float, ...] = (*(b.points for b in self.bins), missing.points)
        self.labels: tuple[str, ...] = (*(b.label for b in self.bins), missing.label)

    def index_one(self, value: Any) -> int:
        """The bin index of one raw value: pure Python, the real-time path."""
        if self.numeric:
            if value is None:
                return self.missing_index
            if isinstance(value, str):
                raise TypeError(f"{self.name}: numeric feature got the string {value!r}")
            x = float(value)
            if x != x:  # NaN
                return self.missing_index
            return bisect.bisect_right(self.splits, x)
        # None, NaN and categories unseen in training all miss the dict: the Missing bin.
        return self.category_index.get(value, self.missing_index)

    def index(self, column: pd.Series) -> NDArray[np.intp]:
        """Vectorised :meth:`index_one`, written as optbinning's own transform is."""
        if self.numeric:
            values = pd.to_numeric(column, errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            idx = np.searchsorted(np.asarray(self.splits, dtype=np.float64), values, "right")
            idx[np.isnan(values)] = self.missing_index
            return idx.astype(np.intp)
        idx = np.full(len(column), self.missing_index, dtype=np.intp)
        for i, group in enumerate(self.groups):
            idx[column.isin(group).to_numpy(dtype=bool)] = i
        return idx

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            **self.spec.to_json(),
            "coefficient": self.coefficient,
            "iv": self.iv,
        }
        if self.numeric:
            data["splits"] = list(self.splits)
        else:
            data["groups"] = [list(g) for g in self.groups]
        data["bins"] = [b.to_json() for b in self.bins]
        data["missing"] = self.missing.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _FeatureTable:
        spec = FeatureSpec.from_json(dict(data))
        return cls(
            spec,
            coefficient=float(data["coefficient"]),
            iv=float(data["iv"]),
            splits=[float(s) for s in data.get("splits", ())],
            groups=[[_json_scalar(c) for c in g] for g in data.get("groups", ())],
            bins=[_Bin.from_json(b) for b in data["bins"]],
            missing=_Bin.from_json(data["missing"]),
        )


class Scorecard:
    """A fitted points table: ``score = sum(points) + intercept``, PD through :attr:`scaling`.

    Build one with :meth:`fit` or :meth:`from_json`. ``features`` lists the features the card
    kept, in model order; every per-feature list (:meth:`points_one`, :attr:`best_points`,
    :meth:`bin_labels_one`, columns of :meth:`points`) follows that order.
    """

    def __init__(
        self,
        tables: Sequence[_FeatureTable],
        scaling: ScoreScaling,
        *,
        intercept: float = 0.0,
        dropped: Sequence[Mapping[str, Any]] = (),
        fit_info: Mapping[str, Any] | None = None,
    ) -> None:
        if not tables:
            raise ValueError("a scorecard needs at least one feature")
        names = [t.name for t in tables]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate feature names: {names}")
        self._tables = list(tables)
        self.scaling = scaling
        self.intercept = float(intercept)
        self.features: list[FeatureSpec] = [t.spec for t in tables]
        #: Per feature, the most points any reachable bin (Missing included) gives.
        self.best_points: list[float] = [max(t.points) for t in tables]
        #: Features given to :meth:`fit` that the card does not use, and why.
        self.dropped: list[dict[str, Any]] = [dict(d) for d in dropped]
        self.fit_info: dict[str, Any] = dict(fit_info or {})
        #: The fitted ``optbinning.Scorecard`` (set by :meth:`fit` only, never serialised), kept
        #: so tests and analysts can check parity against optbinning itself.
        self._optbinning: Any = None

    # --- Fitting ------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        x: pd.DataFrame,
        y: ArrayLike,
        features: Sequence[FeatureSpec],
        *,
        scaling: ScoreScaling = _DEFAULT_SCALING,
        sample_weight: ArrayLike | None = None,
    ) -> Scorecard:
        """Bin, select, fit and scale; see the module docstring for the method.

        ``y`` is 1 for a default (the event), 0 otherwise. Features with IV below
        :data:`MIN_IV` or a coefficient of the wrong sign are dropped (listed in
        :attr:`dropped`); :class:`ValueError` if none is left.
        """
        specs = list(features)
        if not specs:
            raise ValueError("fit needs at least one feature")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate feature names: {names}")
        absent = [n for n in names if n not in x.columns]
        if absent:
            raise KeyError(f"columns not in the frame: {absent}")
        target = np.asarray(y)
        if target.shape != (len(x),):
            raise ValueError(f"y has shape {target.shape}, expected ({len(x)},)")
        if not np.isin(target, (0, 1)).all() or len(np.unique(target)) != 2:
            raise ValueError("y must be 0/1 with both classes present")
        target = target.astype(np.int64)
        weights: FloatArray | None = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.shape != target.shape or not np.isfinite(weights).all():
                raise ValueError("sample_weight must be finite with one weight per row")
            if (weights < 0).any() or weights.sum() <= 0:
                raise ValueError("sample_weight must be >= 0 with a positive total")
        frame = _fit_frame(x, specs)

        dropped: list[dict[str, Any]] = []
        active = specs
        while True:
            model = _fit_optbinning(frame, target, active, scaling, weights)
            selected = [str(n) for n in model.binning_process_.get_support(names=True)]
            coefficients = dict(zip(selected, model.estimator_.coef_.ravel().tolist(), strict=True))
            wrong = [n for n in selected if coefficients[n] >= 0.0]
            if not wrong:
                break
            # Drop the worst one only: removing it can fix the sign of a correlated other.
            worst = max(wrong, key=lambda n: coefficients[n])
            dropped.append(
                {
                    "name": worst,
                    "reason": "wrong_sign",
                    "iv": _iv_of(model, worst),
                    "coefficient": coefficients[worst],
                }
            )
            active = [s for s in active if s.name != worst]
            if not active:
                raise ValueError("no feature left: every coefficient had the wrong sign")

        for spec in active:
            if spec.name not in coefficients:
                dropped.append(
                    {"name": spec.name, "reason": "iv_below_floor", "iv": _iv_of(model, spec.name)}
                )
        by_name = {s.name: s for s in active}
        detailed = model.table(style="detailed")
        tables = [
            _table_from_optbinning(model, detailed, by_name[name], coefficients[name])
            for name in selected
        ]
        n_rows = len(frame)
        bad = float(target.mean() if weights is None else np.average(target, weights=weights))
        card = cls(
            tables,
            scaling,
            intercept=float(model.intercept_),
            dropped=dropped,
            fit_info={
                "n_rows": n_rows,
                "bad_rate": bad,
                "weighted": weights is not None,
                "min_iv": MIN_IV,
                "logistic_c": LOGISTIC_C,
                "optbinning_version": _optbinning_version(),
            },
        )
        card._optbinning = model
        return card

    # --- Scoring: one applicant (pure Python) ------------------------------------------------

    def points_one(self, values: Mapping[str, Any]) -> list[float]:
        """The points of one applicant, per feature, without numpy, pandas or optbinning.

        A missing key, ``None`` or NaN scores the Missing bin; so does a category unseen in
        training (as optbinning's ``score`` does). A string for a numeric feature is a
        :class:`TypeError`, not a silent parse.
        """
        return [t.points[t.index_one(values.get(t.name))] for t in self._tables]

    def score_one(self, values: Mapping[str, Any]) -> float:
        """The score of one applicant: :meth:`total` of :meth:`points_one`."""
        return self.total(self.points_one(values))

    def pd_one(self, values: Mapping[str, Any]) -> float:
        """The probability of default of one applicant, from its score through the scaling."""
        return self.scaling.pd_one(self.total(self.points_one(values)))

    def bin_labels_one(self, values: Mapping[str, Any]) -> list[str]:
        """The bin each value fell in, for reason texts: ``"[0.35, 0.52)"``, ``"Missing"``."""
        return [t.labels[t.index_one(values.get(t.name))] for t in self._tables]

    # --- Scoring: a frame (vectorised) -------------------------------------------------------

    def points(self, x: pd.DataFrame) -> FloatArray:
        """``(n_rows, n_features)`` points, equal row by row to :meth:`points_one`.

        Unlike :meth:`points_one`, a whole missing column is a :class:`KeyError`: in a batch that
        is a schema error, not an applicant leaving a field blank.
        """
        out = np.empty((len(x), len(self._tables)), dtype=np.float64)
        for j, t in enumerate(self._tables):
            out[:, j] = np.asarray(t.points, dtype=np.float64)[t.index(x[t.name])]
        return out

    @overload
    def total(self, points: Sequence[float]) -> float: ...
    @overload
    def total(self, points: FloatArray) -> FloatArray: ...
    def total(self, points: Sequence[float] | FloatArray) -> float | FloatArray:
        """The score: points summed feature by feature from 0.0 (optbinning's order), plus the
        intercept (0.0 here: optbinning spreads it into the points).

        A sequence (one applicant) gives a float; a 2-D array (:meth:`points`) one per row.
        """
        if isinstance(points, np.ndarray):
            if points.ndim != 2 or points.shape[1] != len(self._tables):
                raise ValueError(f"expected (n, {len(self._tables)}) points, got {points.shape}")
            acc = np.zeros(points.shape[0], dtype=np.float64)
            for j in range(points.shape[1]):
                acc += points[:, j]
            out: FloatArray = acc + self.intercept
            return out
        if len(points) != len(self._tables):
            raise ValueError(f"expected {len(self._tables)} points, got {len(points)}")
        total = 0.0
        for p in points:
            total += p
        return total + self.intercept

    def score(self, x: pd.DataFrame) -> FloatArray:
        """Vectorised :meth:`score_one`."""
        return self.total(self.points(x))

    def pd(self, x: pd.DataFrame) -> FloatArray:
        """Vectorised :meth:`pd_one`."""
        return self.scaling.pd(self.total(self.points(x)))

    # --- Reporting ----------------------------------------------------------------------------

    def table(self) -> list[dict[str, Any]]:
        """The points table for analysts, one row per bin (the Missing bin last per feature).

        ``count`` is the (weighted) training count, ``event_rate`` the training default rate of
        the bin (None for an empty bin), ``woe`` and ``iv`` optbinning's.
        """
        rows: list[dict[str, Any]] = []
        for t in self._tables:
            for i, b in enumerate([*t.bins, t.missing]):
                rows.append(
                    {
                        "feature": t.name,
                        "bin_index": i,
                        "bin": b.label,
                        "points": b.points,
                        "count": b.count,
                        "event_rate": b.event_rate,
                        "woe": b.woe,
                        "iv": b.iv,
                    }
                )
        return rows

    # --- Persistence --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Everything serving needs, as plain JSON (floats survive ``json`` exactly)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "scaling": self.scaling.to_json(),
            "intercept": self.intercept,
            "features": [t.to_json() for t in self._tables],
            "dropped": [dict(d) for d in self.dropped],
            "fit": dict(self.fit_info),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scorecard:
        """Rebuild a card from :meth:`to_json`; needs neither optbinning nor scikit-learn."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a scorecard: format {data.get('format')!r}")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"scorecard format version {data.get('format_version')!r} is not supported "
                f"(this code reads {FORMAT_VERSION})"
            )
        return cls(
            [_FeatureTable.from_json(f) for f in data["features"]],
            ScoreScaling.from_json(data["scaling"]),
            intercept=float(data["intercept"]),
            dropped=data.get("dropped", ()),
            fit_info=data.get("fit"),
        )


# --- optbinning glue (fit time only) ----------------------------------------------------------


def _fit_frame(x: pd.DataFrame, specs: Sequence[FeatureSpec]) -> pd.DataFrame:
    """The feature columns, numeric ones as float64 (nullable ints -> NaN) so optbinning bins
    them as numbers; categorical ones as given (optbinning reads them as objects)."""
    columns: dict[str, Any] = {}
    for spec in specs:
        column = x[spec.name]
        if spec.kind == "numeric":
            values = pd.to_numeric(column, errors="raise").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
            columns[spec.name] = pd.Series(values, index=x.index)
        else:
            columns[spec.name] = column
    return pd.DataFrame(columns, index=x.index)


def _fit_optbinning(
    frame: pd.DataFrame,
    target: NDArray[np.int64],
    specs: Sequence[FeatureSpec],
    scaling: ScoreScaling,
    weights: FloatArray | None,
) -> Any:
    """Fit ``optbinning.Scorecard`` on ``specs``; imported here so serving never loads it."""
    from optbinning import BinningProcess
    from optbinning import Scorecard as OptbScorecard
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    names = [s.name for s in specs]
    fit_params = {
        s.name: {"monotonic_trend": _TRENDS[s.monotone]} for s in specs if s.kind == "numeric"
    }
    categorical = [s.name for s in specs if s.kind == "categorical"]
    process = BinningProcess(
        names,
        categorical_variables=categorical or None,
        binning_fit_params=fit_params,
        selection_criteria={"iv": {"min": MIN_IV}},
    )
    model = OptbScorecard(
        binning_process=process,
        estimator=LogisticRegression(C=LOGISTIC_C, max_iter=_MAX_ITER),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": scaling.pdo,
            "odds": scaling.base_odds,
            "scorecard_points": scaling.base_points,
        },
        rounding=False,
    )
    with warnings.catch_warnings():
        # optbinning 1.0 writes strings into float columns of its binning tables and calls
        # reset_index(inplace=True): pandas 3 deprecations, nothing wrong with the result.
        warnings.filterwarnings("ignore", message="Setting an item of incompatible dtype")
        warnings.filterwarnings("ignore", message="The inplace keyword")
        # Nothing selected: the ValueError below says so in our words.
        warnings.filterwarnings("ignore", message="No variables were selected")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        try:
            model.fit(frame, target, sample_weight=weights, metric_missing="empirical")
        except ValueError as exc:
            if not _selected_any(model):
                raise ValueError(f"no feature has a binned IV >= {MIN_IV}") from exc
            raise
    n_iter = int(np.max(model.estimator_.n_iter_))
    if n_iter >= _MAX_ITER:
        raise RuntimeError(f"logistic regression did not converge in {_MAX_ITER} iterations")
    return model


def _selected_any(model: Any) -> bool:
    """Whether the binning process of a (possibly failed) optbinning fit kept any feature."""
    process = getattr(model, "binning_process_", None)
    support = getattr(process, "_support", None)
    return support is not None and bool(np.asarray(support).any())


def _optbinning_version() -> str:
    import optbinning

    return str(optbinning.__version__)


def _iv_of(model: Any, name: str) -> float:
    return float(model.binning_process_.get_binned_variable(name).binning_table.iv)


def _table_from_optbinning(
    model: Any, detailed: pd.DataFrame, spec: FeatureSpec, coefficient: float
) -> _FeatureTable:
    """One feature's bins from ``Scorecard.table("detailed")``: its points are the points."""
    rows = detailed[detailed["Variable"] == spec.name]
    optb = model.binning_process_.get_binned_variable(spec.name)
    if spec.kind == "numeric":
        splits = [float(s) for s in optb.splits]
        groups: list[list[Category]] = []
        labels = _interval_labels(splits)
    else:
        splits = []
        groups = [[_json_scalar(c) for c in group] for group in optb.splits]
        labels = [", ".join(str(c) for c in group) for group in groups]
    # Rows: the bins in index order, then Special (no special codes: unreachable), then Missing.
    if len(rows) != len(labels) + 2:
        raise RuntimeError(f"{spec.name}: table has {len(rows)} rows for {len(labels)} bins")
    points = rows["Points"].to_numpy(dtype=np.float64)
    count = rows["Count"].to_numpy(dtype=np.float64)
    event = rows["Event"].to_numpy(dtype=np.float64)
    woe = rows["WoE"].to_numpy(dtype=np.float64)
    iv = rows["IV"].to_numpy(dtype=np.float64)
    if not np.isfinite(points).all():
        raise RuntimeError(f"{spec.name}: non-finite points {points.tolist()}")

    def row(i: int, label: str) -> _Bin:
        rate = float(event[i] / count[i]) if count[i] > 0 else None
        return _Bin(label, float(points[i]), float(count[i]), rate, float(woe[i]), float(iv[i]))

    bins = [row(i, label) for i, label in enumerate(labels)]
    regular = [b.points for b in bins]
    steps = np.diff(regular)
    if (spec.monotone == 1 and (steps > _MONOTONE_TOL).any()) or (
        spec.monotone == -1 and (steps < -_MONOTONE_TOL).any()
    ):
        raise RuntimeError(f"{spec.name}: points not monotone ({spec.monotone}): {regular}")
    return _FeatureTable(
        spec,
        coefficient=coefficient,
        iv=float(optb.binning_table.iv),
        splits=splits,
        groups=groups,
        bins=bins,
        missing=row(len(rows) - 1, MISSING_LABEL),
    )
