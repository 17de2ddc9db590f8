"""Live model handles: the version a use case serves, replaced whole and never mutated.

A reload fetches the new version, verifies every file hash, loads it and replays the warm-up
requests recorded at training (their outputs must match), and only then swaps one reference.
Requests in flight keep the object they started with; a version that fails any step is
refused and the previous one keeps serving (TF Serving's availability-preserving policy).

A use case has one handle for the alias it serves (``@champion``) and, when shadow scoring is
on, an *optional* one for ``@challenger``: a challenger that is not set is normal, not an error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nexafi_ai.db.tables import utcnow
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.usecases.base import Model, UseCase, outputs_match

__all__ = [
    "WARMUP_FILE",
    "LoadedModel",
    "ModelHandle",
    "ModelLoadError",
    "check_warmup",
    "load_verified",
]

log = logging.getLogger(__name__)

#: Requests and the outputs the model gave at training time, stored with every version.
WARMUP_FILE = "warmup.json"


class ModelLoadError(RuntimeError):
    """A version could not be fetched, verified, loaded or warmed; it was not swapped in."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One loaded, verified and warmed version."""

    use_case: str
    name: str
    version: str
    model: Model
    manifest: dict[str, Any]
    loaded_at: datetime


def check_warmup(use_case: UseCase, model: Model, directory: Path) -> int:
    """Replay the recorded warm-up requests; raise when any output differs. Returns the count.

    This catches what a hash cannot: a model that loads but answers differently here
    (another library version, a wrong feature order) never goes live.
    """
    path = directory / WARMUP_FILE
    if not path.is_file():
        raise ModelLoadError(f"{directory}: no {WARMUP_FILE}; cannot warm up this version")
    cases = json.loads(path.read_text())
    requests = [use_case.request_model.model_validate(c["request"]) for c in cases]
    responses = model.predict(requests)
    for case, response in zip(cases, responses, strict=True):
        if not outputs_match(case["response"], response.model_dump(mode="json")):
            raise ModelLoadError(
                f"warm-up output differs from the one recorded at training for {case['request']}"
            )
    return len(cases)


def load_verified(use_case: UseCase, registry: ModelRegistry, version: str) -> LoadedModel:
    """Fetch ``version``, check every file hash, load it and replay its warm-up record.

    The one way any component (serving, batch, explanations) gets a model to run: a version
    that fails any step raises instead of answering.
    """
    resolved = registry.fetch(use_case.model_name, version)
    model = use_case.load(resolved.path)
    check_warmup(use_case, model, resolved.path)
    return LoadedModel(
        use_case=use_case.name,
        name=resolved.name,
        version=resolved.version,
        model=model,
        manifest=dict(resolved.manifest),
        loaded_at=utcnow(),
    )


class ModelHandle:
    """Holds the live version of one use case's model under one alias.

    ``optional`` handles (the shadow challenger) treat an unset alias as "nothing to load":
    no error, and whatever was loaded is dropped, since the alias was removed on purpose.
    """

    def __init__(self, use_case: UseCase, alias: str, *, optional: bool = False) -> None:
        self.use_case = use_case
        self.alias = alias
        self.optional = optional
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        #: The last version refused and when (``time.monotonic()``), so a watcher does not
        #: re-download and re-verify a broken version on every tick.
        self.refused_version: str | None = None
        self.refused_at: float = 0.0
        # Reentrant: a caller that must read the alias and swap as one step (the watcher, an
        # alias move that loads, then moves, or puts back) holds it around load_version.
        self._reload_lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        """Held across a multi-step change so no other reloader interleaves (off-loop only)."""
        return self._reload_lock

    @property
    def model_name(self) -> str:
        return self.use_case.model_name

    def load_version(self, registry: ModelRegistry, version: str) -> LoadedModel:
        """Fetch, verify, load and warm ``version``, then swap it in (blocking: run off-loop)."""
        with self._reload_lock:
            try:
                loaded = load_verified(self.use_case, registry, version)
            except Exception as exc:
                self.last_error = f"{self.model_name} v{version}: {exc}"
                self.refused_version, self.refused_at = version, time.monotonic()
                log.error("refused %s; still serving %s", self.last_error, self.serving_version)
                raise ModelLoadError(self.last_error) from exc
            previous, self.current = self.current, loaded  # the atomic swap
            self.last_error = None
            self.refused_version = None
        log.info(
            "%s@%s now serves %s v%s (was %s)",
            self.use_case.name,
            self.alias,
            self.model_name,
            loaded.version,
            previous.version if previous else None,
        )
        return loaded

    def restore(self, loaded: LoadedModel | None) -> None:
        """Put back a version swapped out moments ago (its alias move failed)."""
        with self._reload_lock:
            self.current = loaded

    def load_alias(self, registry: ModelRegistry) -> LoadedModel | None:
        """Load whatever ``@alias`` points to; None (and not ready) when the alias is unset.

        An unset alias keeps a required handle's current version serving (an alias deleted by
        mistake must not take scoring down) but empties an optional one.
        """
        with self._reload_lock:
            version = registry.alias_version(self.model_name, self.alias)
            if version is None:
                if self.optional:
                    self.current, self.last_error = None, None
                else:
                    self.last_error = f"{self.model_name}@{self.alias} is not set"
                return None
            if self.current is not None and self.current.version == version:
                return self.current
            return self.load_version(registry, version)

    @property
    def serving_version(self) -> str | None:
        current = self.current
        return None if current is None else current.version
