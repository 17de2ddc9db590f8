"""The versioned catalog of adverse-action reason codes a credit decision may cite.

A declined applicant must be told the *specific principal reasons* (ECOA / Regulation B;
CFPB circular 2022-03 says a complex model is no excuse). So reasons are never free text made
up at scoring time: each is a stable code from a versioned catalog, with a fixed text, tied to
one model feature. The built-in catalog (``reason_codes.json``) covers the built-in applicant
features. A model trained on a user's own columns extends it with one generated code per
feature the catalog does not know, and the extended catalog is saved *inside the model
version*, so an old decision can always be re-explained with the catalog it was made with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["CATALOG_FILE", "ReasonCatalog", "ReasonEntry", "builtin_catalog"]

#: The catalog's file name inside a model version.
CATALOG_FILE = "reason_codes.json"


@dataclass(frozen=True, slots=True)
class ReasonEntry:
    """One reason: its code, the feature it speaks for, and the words an applicant reads."""

    code: str
    feature: str
    text: str
    missing_text: str

    def wording(self, missing: bool) -> str:
        """The text for this applicant: a missing value has its own, clearer wording."""
        return self.missing_text if missing else self.text


class ReasonCatalog:
    """Reason entries by feature, with the catalog version every answer reports."""

    def __init__(self, version: str, entries: Iterable[ReasonEntry]) -> None:
        self.version = version
        self.entries = list(entries)
        self._by_feature = {e.feature: e for e in self.entries}
        codes = [e.code for e in self.entries]
        if len(set(codes)) != len(codes):
            raise ValueError("reason catalog: duplicate codes")
        if len(self._by_feature) != len(self.entries):
            raise ValueError("reason catalog: more than one code for a feature")

    def __contains__(self, code: object) -> bool:
        return any(e.code == code for e in self.entries)

    def for_feature(self, feature: str) -> ReasonEntry:
        """The entry for ``feature``; KeyError when the catalog does not cover it."""
        return self._by_feature[feature]

    def covering(self, features: Iterable[str]) -> ReasonCatalog:
        """This catalog restricted to ``features``, extended with a code for each unknown one.

        Generated codes (``CU01``...) are numbered in feature order, and the extended catalog's
        version says which base it extends plus a hash of the additions, so two models with the
        same columns get the same codes.

        >>> cat = builtin_catalog().covering(["debt_to_income", "fico_band"])
        >>> [(e.code, e.feature) for e in cat.entries]
        [('CR01', 'debt_to_income'), ('CU01', 'fico_band')]
        >>> cat.version.startswith(builtin_catalog().version + "+")
        True
        """
        names = list(dict.fromkeys(features))
        kept = [self._by_feature[n] for n in names if n in self._by_feature]
        unknown = [n for n in names if n not in self._by_feature]
        added = [
            ReasonEntry(
                code=f"CU{i:02d}",
                feature=name,
                text=f"Value of {name.replace('_', ' ')} indicates higher repayment risk",
                missing_text=f"{name.replace('_', ' ').capitalize()} was not provided",
            )
            for i, name in enumerate(unknown, start=1)
        ]
        version = self.version
        if added:
            digest = hashlib.sha256("\n".join(unknown).encode()).hexdigest()[:8]
            version = f"{self.version}+{digest}"
        return ReasonCatalog(version, kept + added)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "codes": [
                {
                    "code": e.code,
                    "feature": e.feature,
                    "text": e.text,
                    "missing_text": e.missing_text,
                }
                for e in self.entries
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReasonCatalog:
        return cls(
            str(data["version"]),
            (
                ReasonEntry(
                    code=str(c["code"]),
                    feature=str(c["feature"]),
                    text=str(c["text"]),
                    missing_text=str(c.get("missing_text") or c["text"]),
                )
                for c in data["codes"]
            ),
        )


def builtin_catalog() -> ReasonCatalog:
    """The catalog shipped with this package (``reason_codes.json``)."""
    text = resources.files("nexafi_ai.usecases.credit").joinpath(CATALOG_FILE).read_text()
    return ReasonCatalog.from_json(json.loads(text))
