"""Drift of a use case's logged traffic against its serving version's frozen reference.

One function serves the API (``GET /v1/monitoring/{use_case}/drift``), the CLI
(``nexafi-ai monitor drift``) and the retraining triggers: read the version's reference from
its verified manifest, read the window's monitored values from the inference log (extracted in
SQL), compute PSI / KS / chi-square per column, and store the report in ``drift_reports``.

Only rows the compared version answered are read: another version may log other features, and
its rows would show up as "missing" values rather than as drift. A window with fewer rows than
``min_rows`` is reported as ``insufficient_data``: PSI on a handful of rows is noise, and a
report that cries wolf teaches people to ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from nexafi_ai.db.tables import drift_reports, utcnow
from nexafi_ai.monitoring.drift import drift_report
from nexafi_ai.monitoring.reference import reference_from_manifest
from nexafi_ai.monitoring.window import logged_values
from nexafi_ai.registry import ModelRegistry
from nexafi_ai.settings import Settings
from nexafi_ai.usecases.base import UseCase

__all__ = [
    "DriftSettings",
    "NoReferenceError",
    "NoVersionError",
    "compute_drift",
    "recent_reports",
]

#: Most recent rows read per report: a million rows compute in about a second.
MAX_ROWS = 1_000_000


class NoVersionError(LookupError):
    """No version to compare with: the alias is unset and no version was named."""


class NoReferenceError(LookupError):
    """The version carries no drift reference (trained before references existed, or a use
    case whose quality is watched through live performance instead)."""


@dataclass(frozen=True, slots=True)
class DriftSettings:
    """Thresholds and window defaults (``NEXAFI_DRIFT_*`` settings, overridable per call)."""

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    window_hours: float = 24.0
    min_rows: int = 100

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        psi_warn: float | None = None,
        psi_alert: float | None = None,
        window_hours: float | None = None,
    ) -> DriftSettings:
        """The service's ``NEXAFI_DRIFT_*`` settings, with a caller's overrides where given."""
        return cls(
            psi_warn=settings.drift_psi_warn if psi_warn is None else psi_warn,
            psi_alert=settings.drift_psi_alert if psi_alert is None else psi_alert,
            window_hours=settings.drift_window_hours if window_hours is None else window_hours,
            min_rows=settings.drift_min_rows,
        )


def compute_drift(
    engine: Engine,
    registry: ModelRegistry,
    use_case: UseCase,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    version: str | None = None,
    alias: str = "champion",
    settings: DriftSettings | None = None,
    store: bool = True,
    actor: str | None = None,
) -> dict[str, Any]:
    """Drift of ``[start, end)`` (default: the last ``window_hours``) against ``version``.

    ``version`` defaults to what ``@alias`` points to. Returns the report (with its stored
    ``id`` when ``store``); raises NoVersionError / NoReferenceError / ValueError (thresholds).
    """
    cfg = settings or DriftSettings()
    if not 0 <= cfg.psi_warn <= cfg.psi_alert:
        raise ValueError("psi_warn must be >= 0 and not above psi_alert")
    if version is None:
        version = registry.alias_version(use_case.model_name, alias)
        if version is None:
            raise NoVersionError(f"{use_case.model_name}@{alias} is not set")
    resolved = registry.fetch(use_case.model_name, version)
    found = reference_from_manifest(resolved.manifest)
    if found is None:
        raise NoReferenceError(
            f"{use_case.model_name} v{version} carries no drift reference"
            + (
                "; its quality is watched through live performance"
                if use_case.performance_kind == "forecast"
                else "; retrain it to freeze one"
            )
        )
    columns, references = found
    end = end or utcnow()
    start = start or end - timedelta(hours=cfg.window_hours)
    if start >= end:
        raise ValueError("start must be before end")
    window = logged_values(
        engine,
        use_case.name,
        columns,
        start=start,
        end=end,
        model_version=version,
        limit=MAX_ROWS,
        plain=(),
    )
    n = len(window)
    report: dict[str, Any]
    if n == 0:
        report = {"status": "insufficient_data", "n": 0, "features": {}}
    else:
        report = drift_report(
            references, window[list(columns)], psi_warn=cfg.psi_warn, psi_alert=cfg.psi_alert
        )
        if n < cfg.min_rows:
            report["status"] = "insufficient_data"
    report.update(
        use_case=use_case.name,
        model_name=use_case.model_name,
        model_version=version,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        thresholds={"psi_warn": cfg.psi_warn, "psi_alert": cfg.psi_alert},
        min_rows=cfg.min_rows,
        truncated=n >= MAX_ROWS,
    )
    report["drifted"] = sorted(
        name for name, f in report["features"].items() if f["status"] == "alert"
    )
    if store:
        with engine.begin() as conn:
            report["id"] = conn.execute(
                insert(drift_reports)
                .values(
                    use_case=use_case.name,
                    model_name=use_case.model_name,
                    model_version=version,
                    window_start=start,
                    window_end=end,
                    n_rows=n,
                    status=report["status"],
                    report=report,
                    created_by=actor,
                    created_at=utcnow(),
                )
                .returning(drift_reports.c.id)
            ).scalar_one()
    return report


def recent_reports(engine: Engine, use_case: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Stored reports of ``use_case``, newest first, without their per-feature detail."""
    query = (
        select(
            drift_reports.c.id,
            drift_reports.c.model_version,
            drift_reports.c.window_start,
            drift_reports.c.window_end,
            drift_reports.c.n_rows,
            drift_reports.c.status,
            drift_reports.c.report["drifted"].label("drifted"),
            drift_reports.c.created_by,
            drift_reports.c.created_at,
        )
        .where(drift_reports.c.use_case == use_case)
        .order_by(drift_reports.c.created_at.desc(), drift_reports.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
