"""Rebuild the credit training table from the inference log and its labels (retraining).

Every scored application was logged with its request (the named fields and the lender's
``attributes``), so the standard applicant table can be rebuilt and read by the same
:func:`~nexafi_ai.usecases.credit.data.standardise_applicants` a lender's file goes through:
the challenger learns from the values the champion was asked to score.

An applicant without a label (the loan is still running) or with a label that is not a final
outcome is dropped: calling young loans good would teach the model that they are safe. The
application date is the request's ``application_date``, else the time it was scored, so the
out-of-time split of ``fit_credit`` still runs oldest to newest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nexafi_ai.usecases.credit.data import ID, TIME, standardise_applicants
from nexafi_ai.usecases.credit.generator import TARGET

__all__ = ["credit_training_set"]

log = logging.getLogger(__name__)


def credit_training_set(logged: pd.DataFrame, *, outcomes: NDArray[np.float64]) -> pd.DataFrame:
    """The standard applicant table of the logged applicants with a final outcome.

    ``logged`` has ``inputs`` (dicts), ``created_at`` and ``entity_id``; ``outcomes`` has, per
    row, 1.0 (default), 0.0 (repaid) or NaN (still running, or a word that is not an outcome).
    """
    keep = ~np.isnan(outcomes)
    dropped = int((~keep).sum())
    if dropped:
        log.info("credit retrain: %d logged applicants without a final outcome left out", dropped)
    if not keep.any():
        raise ValueError("no logged credit applicant in the training window has an outcome yet")
    records: list[dict[str, Any]] = []
    rows = logged.loc[keep]
    for inputs, created, outcome in zip(
        rows["inputs"], rows["created_at"], outcomes[keep], strict=True
    ):
        body: Mapping[str, Any] = inputs
        record = {k: v for k, v in body.items() if k != "attributes"}
        record.update(body.get("attributes") or {})
        record[ID] = str(body.get(ID))
        record[TIME] = body.get(TIME) or pd.Timestamp(created).isoformat()
        record[TARGET] = int(outcome)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    return standardise_applicants(frame, target=TARGET)
