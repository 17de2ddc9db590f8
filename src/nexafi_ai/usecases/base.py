"""The contract every use case (fraud, credit, recommend, forecast, ...) fulfils.

The API, CLI, training pipeline, batch runner and contract tests only talk to this interface,
so adding a use case is one new folder under ``usecases/`` exporting ``USE_CASE``. A use case
is a stateless description (schemas, data, how to fit and load); fitted state lives in its
:class:`Model`, which follows the MLServer runtime shape: load, predict, save.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from fastapi import APIRouter
    from numpy.typing import ArrayLike, NDArray

    from nexafi_ai.monitoring.window import LoggedColumn
    from nexafi_ai.serving.context import ServiceContext

__all__ = [
    "FitResult",
    "LogFields",
    "Model",
    "NotFittedError",
    "RequestFieldError",
    "TrainingData",
    "UseCase",
    "check_options",
    "outputs_match",
]


class NotFittedError(RuntimeError):
    """A model was asked to predict or save before it was fitted."""


class RequestFieldError(ValueError):
    """A request that passed its schema but not the loaded model's own checks.

    What a model needs can depend on the version (the columns a lender trained on, the
    fields that were never missing in training), so the model checks it and the API turns
    this into a 422 naming ``field``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@runtime_checkable
class Model(Protocol):
    """A fitted model of one use case: a runtime the service holds and swaps atomically."""

    def predict(self, requests: Sequence[BaseModel]) -> list[BaseModel]:
        """Answer validated requests (the use case's ``request_model``), one response each."""
        ...

    def save(self, directory: Path) -> None:
        """Write the model to ``directory`` in data-only formats (never pickle)."""
        ...


#: What a use case trains on: one table (``pd.DataFrame``) for most, several for some (the
#: recommend use case's interactions, users and items: an object with a ``tables()`` method).
#: Each use case annotates its own type; the pipeline only passes the value through.
TrainingData = Any


@dataclass(frozen=True, slots=True)
class FitResult:
    """A fitted model with what the registry records beside it.

    ``metrics`` are measured on data the model never saw (held-out, time-ordered where time
    exists); ``metadata`` goes into the manifest (features, schema, data fingerprint, reference
    bins for drift).
    """

    model: Model
    metrics: Mapping[str, float]
    params: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Other candidates fitted and evaluated on the same data (a scorecard beside a boosted
    #: model, say). They are registered as versions too, so the registry keeps every
    #: candidate with its metrics; only this result is promoted.
    alternatives: Sequence[FitResult] = ()


@dataclass(frozen=True, slots=True)
class LogFields:
    """The columns of ``inference_log`` a use case fills from a request and its response."""

    entity_id: str | None = None
    score: float | None = None
    decision: str | None = None


class UseCase(ABC):
    """Describes one business use case; instances are stateless and shared.

    Subclasses set the class variables and implement the abstract methods. The defaults give
    every use case a ``POST /v1/<name>/predict`` route; a use case with a hotter path
    (online features, idempotency) overrides :meth:`router`.
    """

    #: URL segment, CLI argument and ``inference_log.use_case`` value, e.g. ``"fraud"``.
    name: ClassVar[str]
    #: Registered model name in the registry, e.g. ``"nexafi-fraud"``.
    model_name: ClassVar[str]
    #: One-line description shown in the CLI and the OpenAPI docs.
    summary: ClassVar[str] = ""
    request_model: ClassVar[type[BaseModel]]
    response_model: ClassVar[type[BaseModel]]
    #: Whether :meth:`score_batch` gives the same answer on any split of a table into row
    #: chunks. The batch runner scores chunkable use cases in chunks (resumable, distributable);
    #: a use case whose batch features look across rows (windows over the file's own history)
    #: sets False and its files are scored as one chunk.
    batch_chunkable: ClassVar[bool] = True
    #: Whether training on a user's file needs a label column (``--target``). A use case
    #: that learns from an interaction log (who did what, when) has no label to name.
    needs_target: ClassVar[bool] = True
    #: The ``options`` keys :meth:`score_batch` understands (``nexafi-ai batch -k 10``, the
    #: ``options`` of ``POST /v1/jobs``); a job naming another key is refused when created,
    #: before any row is scored.
    batch_options: ClassVar[tuple[str, ...]] = ()
    #: What live performance measures once labels arrive: ``"classification"`` (a label is
    #: the outcome the score predicted: fraud, default), ``"ranking"`` (a label is the item
    #: the user took up) or ``"forecast"`` (realised values graded against the forecast).
    performance_kind: ClassVar[str] = "classification"
    #: Days after which an unlabelled inference counts as a negative in live performance (no
    #: chargeback within 45 days: the transaction was legitimate); None: only labels count.
    label_maturity_days: ClassVar[float | None] = None

    @abstractmethod
    def builtin_data(self, *, size: str = "default", seed: int = 0) -> TrainingData:
        """Generate the built-in training data; ``size`` is ``"tiny"`` (tests) or ``"default"``."""

    @abstractmethod
    def fit(
        self, data: TrainingData, *, seed: int = 0, options: Mapping[str, str] | None = None
    ) -> FitResult:
        """Fit on ``data`` and evaluate on a held-out part of it the model never saw.

        ``options`` are the use case's own training settings (``--option KEY=VALUE``); a key
        the use case does not know is a ValueError naming it, never silently ignored.
        """

    @abstractmethod
    def load(self, directory: Path) -> Model:
        """Load a model that :meth:`Model.save` wrote into ``directory``."""

    @abstractmethod
    def example_requests(self, data: TrainingData, n: int) -> list[dict[str, Any]]:
        """``n`` valid JSON request bodies drawn from ``data`` (warm-up, tests, benchmarks)."""

    @abstractmethod
    def invalid_requests(self) -> list[tuple[dict[str, Any], str]]:
        """Bad request bodies, each with the field its 422 error must name."""

    def prepare_data(
        self,
        frame: pd.DataFrame,
        *,
        target: str | None = None,
        time_column: str | None = None,
        positive_label: str | None = None,
        mapping: Mapping[str, str] | None = None,
        tables: Mapping[str, pd.DataFrame] | None = None,
    ) -> TrainingData:
        """Turn a user's table (their column names) into the data :meth:`fit` expects.

        ``target`` is None for batch scoring input. ``tables`` are further tables by name
        (``users``, ``items``) for use cases that learn from more than one; the others ignore
        them. Use cases that cannot learn from users' files keep this default.
        """
        raise NotImplementedError(f"the {self.name} use case cannot read users' files yet")

    def prepare_batch(
        self,
        frame: pd.DataFrame,
        *,
        time_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Turn a table to score (the user's column names) into what :meth:`score_batch` reads.

        By default the training table without its label (:meth:`prepare_data` with no
        target). A use case that scores another kind of table than it learns from overrides
        this: recommend learns from an interaction log but scores a table of customers.
        """
        prepared: pd.DataFrame = self.prepare_data(frame, time_column=time_column, mapping=mapping)
        return prepared

    def score_batch(
        self, model: Model, data: pd.DataFrame, *, options: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """Vectorised scoring of a whole table, in input order.

        By default one output row per input row. A use case that answers several rows per
        input row (the top k products of each user) adds an integer ``_row`` column: the
        position of the input row each output row belongs to, non-decreasing; the batch
        runner then repeats each input row once per output row. ``options`` are the job's
        settings (keys from :attr:`batch_options`, values as text).
        """
        raise NotImplementedError(f"the {self.name} use case has no batch scoring yet")

    def log_fields(self, request: BaseModel, response: BaseModel) -> LogFields:
        """What of a scored request goes into the indexed log columns."""
        score = getattr(response, "score", None)
        return LogFields(score=float(score) if isinstance(score, int | float) else None)

    def label_value(self, text: str) -> float:
        """A stored label as the number metrics need (1.0 positive, 0.0 negative).

        Raises ValueError for text this use case cannot read as an outcome. Only used when
        :attr:`performance_kind` is ``"classification"``.
        """
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "positive"}:
            return 1.0
        if lowered in {"0", "false", "no", "negative"}:
            return 0.0
        raise ValueError(f"cannot read {text!r} as a {self.name} outcome")

    def monitored_columns(self) -> Mapping[str, LoggedColumn]:
        """Logged values whose drift is watched, when training does not freeze its own reference.

        Training replays a sample of :meth:`example_requests` through the fitted model and
        freezes these values of the requests and answers (as the serving route logs them)
        into the version. Use cases whose training code freezes a reference from its held-out
        data (fraud, credit) do not need this; the default watches nothing.
        """
        return {}

    def outcomes(self, labels: pd.Series) -> NDArray[np.float64]:
        """``labels`` read by :meth:`label_value`: 1.0 / 0.0, NaN where absent or unreadable.

        The one way live performance, retraining and rebuilt training sets turn stored label
        text into outcomes; each distinct text is read once, however many rows carry it.
        """
        import numpy as np

        read: dict[Any, float] = {}
        for text in labels.dropna().unique():
            try:
                read[text] = self.label_value(str(text))
            except ValueError:
                read[text] = float("nan")  # a word that is not an outcome (yet)
        return np.asarray(labels.map(read), dtype=np.float64)

    def training_set_from_log(self, logged: pd.DataFrame) -> TrainingData:
        """Training data rebuilt from logged inferences and their labels (retraining).

        ``logged`` has the logged ``inputs`` (dicts), ``created_at``, ``entity_id`` and
        ``label`` (text, None where unlabelled) of every inference in the training window, as
        known at the retrain's cut-off (no label from after it). Use cases whose requests do
        not carry what training needs keep this default and retrain from a file instead.
        """
        raise NotImplementedError(
            f"the {self.name} use case cannot rebuild training data from its log; "
            "retrain it from a file"
        )

    def score_logged(self, model: Model, inputs: Sequence[Mapping[str, Any]]) -> ArrayLike | None:
        """Scores ``model`` gives logged requests, when a request alone cannot reproduce them.

        Retraining grades champion and challenger on the same logged traffic. By default
        (None) each logged request is rebuilt and answered; a use case whose features depend
        on state at scoring time (fraud's point-in-time windows) scores the features it
        logged instead.
        """
        return None

    def restore_state(self, service: ServiceContext) -> None:
        """Rebuild process-local online state (feature windows) from stored history.

        Called once at start-up, before the service reports ready; state kept in Redis or the
        database needs nothing. The default has no such state.
        """
        return None

    def router(self, service: ServiceContext) -> APIRouter:
        """The use case's endpoints; by default one generic predict route."""
        from nexafi_ai.serving.routes.predict import predict_router

        return predict_router(self, service)


def check_options(options: Mapping[str, str] | None, known: Sequence[str]) -> dict[str, str]:
    """``options`` as a dict, refusing keys not in ``known`` (a typo must not pass silently).

    >>> check_options({"cutoff_pd": "0.3"}, ["cutoff_pd"])
    {'cutoff_pd': '0.3'}
    >>> check_options({"cutof": "0.3"}, ["cutoff_pd"])
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'cutof'; known: cutoff_pd
    """
    out = dict(options or {})
    for key in out:
        if key not in known:
            raise ValueError(f"unknown option {key!r}; known: {', '.join(sorted(known)) or 'none'}")
    return out


def outputs_match(expected: Any, actual: Any, *, rel_tol: float = 1e-6) -> bool:
    """Compare two JSON-like outputs, floats within ``rel_tol``: the warm-up golden check.

    >>> outputs_match({"p": [0.1, 0.2]}, {"p": [0.1 + 1e-12, 0.2]})
    True
    >>> outputs_match({"p": 0.1}, {"p": 0.2})
    False
    """
    if isinstance(expected, float) or isinstance(actual, float):
        if not isinstance(expected, int | float) or not isinstance(actual, int | float):
            return False
        return math.isclose(expected, actual, rel_tol=rel_tol, abs_tol=1e-9)
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return expected.keys() == actual.keys() and all(
            outputs_match(expected[k], actual[k], rel_tol=rel_tol) for k in expected
        )
    if isinstance(expected, list | tuple) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(
            outputs_match(e, a, rel_tol=rel_tol) for e, a in zip(expected, actual, strict=True)
        )
    return bool(expected == actual)
