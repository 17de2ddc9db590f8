"""The use-case registry: every subpackage here that exports ``USE_CASE``, plus plug-ins.

Discovery is by folder (``usecases/<name>/__init__.py`` defining ``USE_CASE``) and by the
``nexafi_ai.usecases`` entry-point group, so a third-party package can add a use case without
editing this repository. Tests and embedding applications may :func:`register` extra ones.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from nexafi_ai.usecases.base import FitResult, LogFields, Model, NotFittedError, UseCase

__all__ = [
    "FitResult",
    "LogFields",
    "Model",
    "NotFittedError",
    "UseCase",
    "all_use_cases",
    "get_use_case",
    "register",
    "unregister",
]

_extra: dict[str, UseCase] = {}
_discovered: dict[str, UseCase] | None = None


def _discover() -> dict[str, UseCase]:
    found: dict[str, UseCase] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        use_case = getattr(module, "USE_CASE", None)
        if isinstance(use_case, UseCase):
            found[use_case.name] = use_case
    for entry in entry_points(group="nexafi_ai.usecases"):
        use_case = entry.load()
        if isinstance(use_case, UseCase):
            found.setdefault(use_case.name, use_case)
    return found


def all_use_cases() -> dict[str, UseCase]:
    """Every known use case by name, built-in ones first, in a stable order."""
    global _discovered
    if _discovered is None:
        _discovered = _discover()
    return {**_discovered, **_extra}


def get_use_case(name: str) -> UseCase:
    """The use case called ``name``; KeyError lists the known names."""
    known = all_use_cases()
    if name not in known:
        raise KeyError(f"unknown use case {name!r}; known: {sorted(known)}")
    return known[name]


def register(use_case: UseCase) -> None:
    """Add a use case at run time (tests, embedding applications)."""
    _extra[use_case.name] = use_case


def unregister(name: str) -> None:
    """Remove a use case added with :func:`register`."""
    _extra.pop(name, None)
