"""Rebuild the fraud training table from the inference log and its labels (retraining).

Every scored transaction was logged with its request fields, so the standard transaction
table (``transaction_id``, ``timestamp``, ``card_id``, ``terminal_id``, ``amount``,
``is_fraud`` and the optional categorical fields) can be rebuilt from the log; ``fit_fraud``
then recomputes the windowed features over that history exactly as it would over a file.

**Outcomes.** A label in :data:`~nexafi_ai.usecases.fraud.state.POSITIVE_LABELS` is fraud and
any other label is legitimate (what the online terminal windows also assume). A transaction
without a label is only known to be legitimate once it is older than the use case's label
maturity at the retrain's cut-off (no chargeback within 45 days); younger unlabelled ones are
not known yet and are dropped, never guessed as legitimate.

**Models trained on engineered columns** (mode ``"columns"``: requests carry their own
``features``) are rebuilt in that mode: when the logged feature names are not the windowed
set, those features become the table's numeric columns and the card and terminal ids are left
out, so the challenger learns from the same inputs the champion served with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from nexafi_ai.usecases.fraud.data import OPTIONAL_FIELDS
from nexafi_ai.usecases.fraud.features import FEATURE_NAMES
from nexafi_ai.usecases.fraud.model import FraudModel
from nexafi_ai.usecases.fraud.state import POSITIVE_LABELS

__all__ = ["AS_OF_ATTR", "fraud_training_set", "logged_scores"]

#: ``logged.attrs`` key of the retrain's cut-off (else the newest logged time is used).
AS_OF_ATTR = "as_of"
_FIELDS = ("transaction_id", "card_id", "terminal_id", "amount", *OPTIONAL_FIELDS)


def _cut_off(logged: pd.DataFrame) -> pd.Timestamp:
    as_of = logged.attrs.get(AS_OF_ATTR)
    if isinstance(as_of, datetime | pd.Timestamp):
        return pd.Timestamp(as_of).tz_convert("UTC")
    return pd.Timestamp(pd.to_datetime(logged["created_at"], utc=True).max())


def fraud_training_set(logged: pd.DataFrame, *, maturity_days: float | None) -> pd.DataFrame:
    """The standard transaction table of the logged rows whose outcome is known at the cut-off.

    ``logged`` has ``inputs`` (dicts), ``created_at`` and ``label`` (text or None). Rows are
    returned oldest first; raises ValueError when nothing is known yet.
    """
    if logged.empty:
        raise ValueError("no logged fraud transactions in the training window")
    created = pd.to_datetime(logged["created_at"], utc=True)
    label = logged["label"]
    known = label.notna().to_numpy()
    if maturity_days is not None:
        matured = (created <= _cut_off(logged) - timedelta(days=maturity_days)).to_numpy()
        known |= matured
    rows = logged.loc[known]
    if rows.empty:
        raise ValueError(
            "no fraud transaction in the training window has a known outcome yet "
            f"(labels, or unlabelled ones older than {maturity_days} days)"
        )
    inputs: list[Mapping[str, Any]] = list(rows["inputs"])
    table = pd.DataFrame({field: [row.get(field) for row in inputs] for field in _FIELDS})
    table["timestamp"] = pd.to_datetime(
        pd.Series([row.get("timestamp") for row in inputs], dtype=object), utc=True
    )
    texts = rows["label"].to_numpy(dtype=object)
    table["is_fraud"] = np.array(
        [t is not None and str(t).strip().lower() in POSITIVE_LABELS for t in texts],
        dtype=np.int8,
    )
    table["amount"] = table["amount"].astype(float)
    for optional in OPTIONAL_FIELDS:
        if table[optional].isna().all():
            table = table.drop(columns=[optional])
    features = [row.get("features") or {} for row in inputs]
    names = sorted({str(name) for row in features for name in row})
    if names and not set(names) <= set(FEATURE_NAMES):
        # A columns-mode model: its inputs were the sent features, not card history.
        for name in names:
            table[name] = [float(row.get(name, np.nan)) for row in features]
        table = table.drop(columns=["card_id", "terminal_id"])
    table = table.sort_values(["timestamp", "transaction_id"], kind="stable")
    return table.reset_index(drop=True)


def logged_scores(model: FraudModel, inputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Fraud probabilities of logged requests from the features logged with them.

    ``FraudModel.predict`` computes windowed features from an empty history (it is the
    deterministic warm-up path), so grading a version on past traffic must use the features
    each transaction was actually served with: they are point-in-time by construction. A
    feature the model needs but the log lacks is missing (NaN) for that row, except
    ``amount``, which every request carries.
    """
    x = np.full((len(inputs), len(model.feature_names)), np.nan, dtype=float)
    for i, row in enumerate(inputs):
        sent = row.get("features") or {}
        for j, name in enumerate(model.feature_names):
            value = sent.get(name)
            if value is None and name == "amount":
                value = row.get("amount")
            if value is not None:
                x[i, j] = float(value)
    return np.asarray(model.booster.proba(x), dtype=float)
