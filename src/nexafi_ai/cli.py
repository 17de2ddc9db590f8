"""``nexafi-ai``: the command line for operators and ML engineers.

``run`` is the one-command local start (migrate, train what is missing, serve); the other
commands are its parts plus registry operations. Everything reads the same ``NEXAFI_*``
settings as the service, so the CLI and a running server always agree on where things are.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nexafi_ai.settings import Settings, get_settings

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    from nexafi_ai.batch import BatchJob, JobStore
    from nexafi_ai.registry import ModelRegistry
    from nexafi_ai.usecases import UseCase

app = typer.Typer(help="NexaFi AI Service: train, register, serve and monitor models.")
db_app = typer.Typer(help="Database schema (Alembic migrations).")
models_app = typer.Typer(help="Registered models, versions and aliases.")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
monitor_app = typer.Typer(help="Drift and live performance of the served models.")
app.add_typer(monitor_app, name="monitor")
console = Console(stderr=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time for long steps; yields a function to update its text."""
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(title, total=None)
        yield lambda message: progress.update(task, description=message)


def _upgrade(settings: Settings) -> str | None:
    from nexafi_ai.db import current_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        return current_revision(engine)
    finally:
        engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to NEXAFI_DATABASE_URL."""
    revision = _upgrade(get_settings())
    console.print(f"database at revision [bold]{revision}[/bold]")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the newest one this version ships."""
    from nexafi_ai.db import current_revision, head_revision, make_engine

    engine = make_engine(get_settings().database_url)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"current: {current}  head: {head_revision()}")


def _registry(settings: Settings, engine: Engine | None = None) -> ModelRegistry:
    """The registry; pass the command's ``engine`` so one pool serves both (audit rows)."""
    from nexafi_ai.db import make_engine
    from nexafi_ai.serving.app import build_registry

    return build_registry(settings, engine or make_engine(settings.database_url))


@models_app.command("list")
def models_list() -> None:
    """Registered models with their versions, aliases and headline metrics."""
    registry = _registry(get_settings())
    table = Table("model", "version", "aliases", "created", "metrics")
    for model in registry.list_models():
        for v in model.versions:
            metrics = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items())[:6])
            table.add_row(
                model.name,
                v.version,
                ",".join(v.aliases),
                f"{v.created_at:%Y-%m-%d %H:%M}",
                metrics,
            )
    Console().print(table)


@models_app.command("promote")
def models_promote(
    name: str,
    version: str,
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
) -> None:
    """Point NAME@ALIAS at VERSION (promote or roll back); the move is audited.

    The version's files are verified first; a version that fails verification is refused.
    """
    from nexafi_ai.registry import ArtifactVerificationError, ModelNotFoundError

    registry = _registry(get_settings())
    try:
        registry.fetch(name, version)
        change = registry.set_alias(name, alias, version, actor=_actor(), reason=reason)
    except (ModelNotFoundError, ArtifactVerificationError) as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(code=1) from exc
    console.print(f"{name}@{alias}: {change.from_version} -> {change.to_version}")


def _parse_pairs(pairs: list[str] | None, hint: str, shape: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise typer.BadParameter(f"{pair!r}: expected {shape}", param_hint=hint)
        mapping[key.strip()] = value.strip()
    return mapping


def _parse_columns(pairs: list[str] | None) -> dict[str, str]:
    return _parse_pairs(pairs, "--column", "FIELD=COLUMN")


def _metrics_table(
    metrics: dict[str, float], model: str = "model", baseline: str = "baseline"
) -> Table:
    """Held-out metrics with the baseline (or the other candidate) beside the model."""
    table = Table("held-out metric", model, baseline)
    for key in sorted(metrics):
        if key.startswith("baseline_"):
            continue
        base = metrics.get(f"baseline_{key}")
        table.add_row(key, f"{metrics[key]:.4f}", "" if base is None else f"{base:.4f}")
    return table


DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        "--interactions",
        help=(
            "Train on this CSV/Parquet file instead of built-in data (for recommend: the "
            "interaction log, one row per user and product event)."
        ),
    ),
]
TargetOpt = Annotated[
    str | None, typer.Option(help="Label column of --data (use cases that learn a label).")
]
TimeOpt = Annotated[str | None, typer.Option(help="Time column of --data (datetimes or seconds).")]
PositiveOpt = Annotated[
    str | None, typer.Option(help="Value of --target that means positive (e.g. fraud, bad).")
]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option("--column", help="Map a field to your column: FIELD=COLUMN (repeatable)."),
]
FieldColumnOpt = Annotated[str | None, typer.Option(help="Your column for this field.")]
DateColumnOpt = Annotated[str | None, typer.Option(help="Date column of a price table (forecast).")]
ValueColumnOpt = Annotated[
    str | None,
    typer.Option(help="Price column of a price table (forecast), e.g. the adjusted close."),
]
SymbolColumnOpt = Annotated[
    str | None,
    typer.Option(help="Symbol column of a price table (forecast); none: one series."),
]
#: Shorthand options for ``--column FIELD=COLUMN``: (option name, field).
_FIELD_OPTIONS = (
    ("--user-column", "user_id"),
    ("--item-column", "item_id"),
    ("--weight-column", "weight"),
    ("--event-column", "event"),
    ("--date-column", "date"),
    ("--value-column", "value"),
    ("--symbol-column", "symbol"),
)


def _read_tables(users: Path | None, items: Path | None) -> dict[str, pd.DataFrame]:
    """The extra tables a use case learns from (``--users``, ``--items``), by name."""
    from nexafi_ai.io import read_table

    return {name: read_table(path) for name, path in (("users", users), ("items", items)) if path}


def _field_mapping(column: list[str] | None, shorthands: dict[str, str | None]) -> dict[str, str]:
    """``--column`` pairs plus the ``--user-column``-style shorthands (which must agree)."""
    mapping = _parse_columns(column)
    for option, field in _FIELD_OPTIONS:
        value = shorthands.get(field)
        if value is None:
            continue
        if mapping.get(field, value) != value:
            raise typer.BadParameter(
                f"--column {field}={mapping[field]} disagrees with {option} {value}",
                param_hint=option,
            )
        mapping[field] = value
    return mapping


@app.command()
def train(
    use_case: Annotated[str, typer.Argument(help="Use case to train, e.g. fraud.")],
    data: DataOpt = None,
    target: TargetOpt = None,
    time_column: TimeOpt = None,
    positive_label: PositiveOpt = None,
    column: ColumnOpt = None,
    users: Annotated[
        Path | None,
        typer.Option(help="Users' profile table (recommend): a user column + profile columns."),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(help="Products table (recommend): an item column + product columns."),
    ] = None,
    user_column: FieldColumnOpt = None,
    item_column: FieldColumnOpt = None,
    weight_column: FieldColumnOpt = None,
    event_column: FieldColumnOpt = None,
    date_column: DateColumnOpt = None,
    value_column: ValueColumnOpt = None,
    symbol_column: SymbolColumnOpt = None,
    size: Annotated[
        str, typer.Option(help="Built-in data size: tiny, small or default.")
    ] = "default",
    seed: Annotated[int, typer.Option(help="Random seed for data and model.")] = 0,
    promote: Annotated[
        str | None, typer.Option(help="Alias to point at the new version, e.g. champion.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="A use-case training setting, KEY=VALUE (repeatable), e.g. cutoff_pd=0.25.",
        ),
    ] = None,
) -> None:
    """Train USE_CASE on built-in data or on your file, register it, print held-out metrics.

    Recommendations learn from an interaction log instead of a labelled table:
    ``train recommend --interactions events.csv --user-column customer --item-column product
    [--users users.csv] [--items products.csv]``. Forecasting learns from daily prices:
    ``train forecast --data prices.csv --date-column Date --value-column "Adj Close"
    [--symbol-column Ticker]``.
    """
    from nexafi_ai.training import train_and_register

    settings = get_settings()
    uc = _use_case(use_case)
    frame = None
    shorthands = {
        "user_id": user_column,
        "item_id": item_column,
        "weight": weight_column,
        "event": event_column,
        "date": date_column,
        "value": value_column,
        "symbol": symbol_column,
    }
    mapping = _field_mapping(column, shorthands)
    if data is None:
        # Options that describe a file are a mistake without the file, not something to ignore.
        given = [
            flag
            for flag, value in (("--users", users), ("--items", items), ("--column", column))
            if value
        ] + [flag for flag, field in _FIELD_OPTIONS if shorthands[field] is not None]
        if given:
            raise typer.BadParameter(
                f"{', '.join(given)}: these describe your file; give it with --data/--interactions",
                param_hint=given[0],
            )
    else:
        frame = _prepared(
            uc,
            data,
            target=target,
            time_column=time_column,
            positive_label=positive_label,
            mapping=mapping,
            tables=_read_tables(users, items),
        )
    _upgrade(settings)
    registry = _registry(settings)
    with _progress(f"training {uc.name}") as say:
        try:
            info = train_and_register(
                uc,
                registry,
                frame,
                seed=seed,
                size=size,
                promote_to=promote,
                actor=_actor(),
                source=str(data) if data is not None else "builtin",
                progress=say,
                options=_parse_pairs(option, "--option", "KEY=VALUE"),
            )
        except ValueError as exc:
            console.print(f"[red]training failed:[/red] {exc}")
            raise typer.Exit(code=2) from exc
    params = dict(info.params)
    Console().print(
        _metrics_table(
            dict(info.metrics),
            params.get("kind", "model"),
            params.get("baseline") or "baseline",
        )
    )
    console.print(f"{info.name} version {info.version} registered")


def _prepared(
    uc: UseCase,
    data: Path,
    *,
    target: str | None,
    time_column: str | None,
    positive_label: str | None,
    mapping: dict[str, str],
    tables: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """A user's file read and mapped to what the use case trains on; exit 2 when it cannot be."""
    from nexafi_ai.io import read_table

    if target is None and uc.needs_target:
        raise typer.BadParameter("--target is required with --data", param_hint="--target")
    try:
        frame: pd.DataFrame = uc.prepare_data(
            read_table(data),
            target=target,
            time_column=time_column,
            positive_label=positive_label,
            mapping=mapping,
            tables=tables,
        )
    except (ValueError, KeyError, NotImplementedError, OSError) as exc:
        console.print(f"[red]cannot read {data}:[/red] {_message(exc)}")
        raise typer.Exit(code=2) from exc
    return frame


def _message(exc: BaseException) -> str:
    """An error as a user reads it (a bare KeyError prints only its quoted key)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def _use_case(name: str) -> UseCase:
    from nexafi_ai.usecases import get_use_case

    try:
        return get_use_case(name)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="USE_CASE") from exc


EngineOpt = Annotated[
    str,
    typer.Option(help="Where chunks run: local (this process) or dask (NEXAFI_DASK_SCHEDULER)."),
]


@app.command()
def batch(
    use_case: Annotated[str, typer.Argument(help="Use case to score with, e.g. fraud.")],
    input: Annotated[
        Path | None, typer.Option("--input", help="CSV or Parquet file to score.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Where to write (.csv or .parquet).")
    ] = None,
    column: ColumnOpt = None,
    time_column: TimeOpt = None,
    alias: Annotated[str, typer.Option(help="Model alias to score with.")] = "champion",
    engine: EngineOpt = "local",
    chunk_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Rows per chunk (default NEXAFI_BATCH_CHUNK_ROWS)."),
    ] = None,
    job_id: Annotated[
        str | None, typer.Option("--job-id", help="Resume this job (see batch_jobs).")
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "-k",
            "--k",
            min=1,
            max=50,
            help="Recommendations per user (recommend; default 10): one output row per rank.",
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=60,
            help="Trading days to forecast (forecast; default 5): one output row per step.",
        ),
    ] = None,
    date_column: DateColumnOpt = None,
    value_column: ValueColumnOpt = None,
    symbol_column: SymbolColumnOpt = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="A use-case batch setting, KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Score a file with NAME@ALIAS; output keeps every input row, in order, plus the scores.

    Recommendations write one row per user and rank: ``batch recommend --input users.csv
    --output recs.csv -k 10`` repeats each user's columns for each of their top 10 products.
    Forecasts write one row per symbol and step: ``batch forecast --input prices.csv --output
    forecasts.csv --horizon 5`` repeats each symbol's last row for each of the 5 days ahead.
    The file is scored in chunks, each one committed as it finishes; after a crash, the same
    command resumes the job where it stopped (same use case, files, options, model version).
    """
    from nexafi_ai.batch import BatchError

    settings = get_settings()
    uc = _use_case(use_case)
    if engine not in ("local", "dask"):
        raise typer.BadParameter("expected local or dask", param_hint="--engine")
    price_columns = {"date": date_column, "value": value_column, "symbol": symbol_column}
    columns = _field_mapping(column, price_columns)
    options = _parse_pairs(option, "--option", "KEY=VALUE")
    for key, value, flag in (("k", k, "-k"), ("horizon", horizon, "--horizon")):
        if value is None:
            continue
        if options.get(key, str(value)) != str(value):
            raise typer.BadParameter(
                f"--option {key}={options[key]} disagrees with {flag} {value}", param_hint=flag
            )
        options[key] = str(value)
    _upgrade(settings)
    store, registry = _job_store(settings), _registry(settings)
    try:
        job, resumed = _find_or_create_job(
            settings,
            store,
            registry,
            uc,
            input=input,
            output=output,
            columns=columns,
            time_column=time_column,
            alias=alias,
            engine=engine,
            chunk_rows=chunk_rows,
            job_id=job_id,
            options=options,
        )
        busy = job.status == "running" and not store.claimable(
            job, stale_after_s=settings.batch_stale_after_s, retry_failed=True
        )
        if busy:
            owner = job.owner
            raise BatchError(
                f"job {job.id} is running in another process "
                f"(pid {owner.get('pid')} on {owner.get('host')}); run this again once that "
                "process has stopped"
            )
        if resumed:
            console.print(f"resuming job {job.id} at row {job.rows_done:,}")
        else:
            console.print(f"job {job.id}: {uc.model_name} v{job.params['model_version']}")
        final = _run_with_progress_bar(settings, store, registry, job, engine)
    except BatchError as exc:
        console.print(f"[red]batch failed:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    finally:
        store.engine.dispose()
        registry.engine.dispose()
    console.print(
        f"scored {final.rows_done:,} rows with {uc.model_name} "
        f"v{final.params['model_version']} -> {final.output_uri} (job {final.id})"
    )


def _run_with_progress_bar(
    settings: Settings, store: JobStore, registry: ModelRegistry, job: BatchJob, engine: str
) -> BatchJob:
    from nexafi_ai.batch import run_job

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"scoring {Path(str(job.input_uri)).name}", total=None)
        return run_job(
            job.id,
            store=store,
            registry=registry,
            engine=engine,
            dask_scheduler=settings.dask_scheduler,
            stale_after_s=settings.batch_stale_after_s,
            retry_failed=True,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )


def _job_store(settings: Settings) -> JobStore:
    from nexafi_ai.batch import JobStore
    from nexafi_ai.db import make_engine

    return JobStore(make_engine(settings.database_url))


def _find_or_create_job(
    settings: Settings,
    store: JobStore,
    registry: ModelRegistry,
    uc: UseCase,
    *,
    input: Path | None,
    output: Path | None,
    columns: dict[str, str],
    time_column: str | None,
    alias: str,
    engine: str,
    chunk_rows: int | None,
    job_id: str | None,
    options: dict[str, str],
) -> tuple[BatchJob, bool]:
    """The job this command continues (and True), or a new one (and False)."""
    from nexafi_ai.batch import BatchError, check_batch_options, create_job, find_resumable

    if job_id is not None:
        job = store.get(job_id)
        if job is None:
            raise BatchError(f"no batch job {job_id}")
        if job.use_case != uc.name:
            raise BatchError(f"job {job_id} scores {job.use_case}, not {uc.name}")
        for given, stored, flag in (
            (input, job.input_uri, "--input"),
            (output, job.output_uri, "--output"),
        ):
            if given is not None and str(given.expanduser().absolute()) != stored:
                raise BatchError(f"job {job_id} has {flag} {stored}")
        stored_options = dict(job.params.get("options") or {})
        if options and options != stored_options:
            raise BatchError(f"job {job_id} has options {stored_options}")
        return job, True
    if input is None or output is None:
        raise typer.BadParameter("--input and --output are required without --job-id")
    input_path, output_path = input.expanduser().absolute(), output.expanduser().absolute()
    version = registry.alias_version(uc.model_name, alias)
    if version is None:
        raise BatchError(f"{uc.model_name}@{alias} is not set; train and promote a model first")
    check_batch_options(uc, options)  # a typo fails here, not after planning the file
    found = find_resumable(
        store,
        uc,
        input_path=input_path,
        output_path=output_path,
        model_version=version,
        columns=columns,
        time_column=time_column,
        options=options,
    )
    if found is not None:
        planned = found.params.get("chunk_rows")
        if chunk_rows is not None and planned != chunk_rows:
            console.print(f"keeping the job's chunk size of {planned:,} rows")
        return found, True
    job = create_job(
        store,
        uc,
        input_path=input_path,
        output_path=output_path,
        model_version=version,
        alias=alias,
        engine=engine,
        chunk_rows=chunk_rows or settings.batch_chunk_rows,
        columns=columns,
        time_column=time_column,
        options=options,
        created_by=_actor(),
        origin="cli",
        stale_after_s=settings.batch_stale_after_s,
    )
    return job, False


def _serve(settings: Settings, workers: int) -> None:
    import uvicorn

    # Workers and the factory read settings from the environment: pass overrides through it.
    os.environ["NEXAFI_HOST"] = settings.host
    os.environ["NEXAFI_PORT"] = str(settings.port)
    get_settings.cache_clear()
    uvicorn.run(
        "nexafi_ai.serving.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


HostOpt = Annotated[str | None, typer.Option(help="Bind address (default NEXAFI_HOST).")]
PortOpt = Annotated[int | None, typer.Option(help="Port (default NEXAFI_PORT).")]
WorkersOpt = Annotated[int, typer.Option(help="Worker processes.")]


def _settings_with(host: str | None, port: int | None) -> Settings:
    base = get_settings()
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if not overrides:
        return base
    try:
        return Settings(**{**base.model_dump(), **overrides})
    except ValueError as exc:
        console.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(code=2) from exc


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = 1) -> None:
    """Serve the API (models must already be registered; see `run`)."""
    settings = _settings_with(host, port)
    _configure_logging(settings)
    _serve(settings, workers)


@app.command()
def run(host: HostOpt = None, port: PortOpt = None, workers: WorkersOpt = 1) -> None:
    """Migrate the database, train every use case without a @champion, then serve."""
    from nexafi_ai.training import ensure_champions
    from nexafi_ai.usecases import all_use_cases

    settings = _settings_with(host, port)
    _configure_logging(settings)
    revision = _upgrade(settings)
    console.print(f"database ready at revision {revision} ({_safe_url(settings.database_url)})")
    registry = _registry(settings)
    with _progress("checking models") as say:
        trained = ensure_champions(
            all_use_cases().values(),
            registry,
            alias=settings.serve_alias,
            size=settings.train_size,
            progress=say,
        )
    for info in trained:
        console.print(f"trained {info.name} v{info.version} -> @{settings.serve_alias}")
    console.print(f"serving on http://{settings.host}:{settings.port} (docs at /docs)")
    _serve(settings, workers)


def _when(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 instant from the command line; one without a timezone is taken as UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {text!r}", param_hint=option) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


StartOpt = Annotated[
    str | None, typer.Option("--start", help="Window start, ISO 8601 (UTC unless given).")
]
EndOpt = Annotated[str | None, typer.Option("--end", help="Window end, ISO 8601; default now.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")]
FAIL_EXIT = 3


@monitor_app.command("drift")
def monitor_drift(
    use_case: str,
    start: StartOpt = None,
    end: EndOpt = None,
    hours: Annotated[
        float | None, typer.Option(help="Window length ending at --end (default 24).")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Version to compare with (default @champion).")
    ] = None,
    psi_warn: Annotated[float | None, typer.Option(help="PSI above this warns (0.1).")] = None,
    psi_alert: Annotated[float | None, typer.Option(help="PSI above this alerts (0.25).")] = None,
    as_json: JsonOpt = False,
    fail_on: Annotated[
        str | None,
        typer.Option(help=f"Exit {FAIL_EXIT} when the status is at least this: warn or alert."),
    ] = None,
) -> None:
    """Drift of the logged traffic against the version's training reference; stored.

    PSI decides each feature's status; KS (numeric) and chi-square (categorical) are shown
    for diagnosis. Meant for cron as well as for people: ``--fail-on alert``.
    """
    from nexafi_ai.db import make_engine
    from nexafi_ai.monitoring.drift_service import DriftSettings, compute_drift

    if fail_on not in (None, "warn", "alert"):
        raise typer.BadParameter("warn or alert", param_hint="--fail-on")
    settings = get_settings()
    uc = _use_case(use_case)
    cfg = DriftSettings.from_settings(
        settings, psi_warn=psi_warn, psi_alert=psi_alert, window_hours=hours
    )
    engine = make_engine(settings.database_url)
    try:
        report = compute_drift(
            engine,
            _registry(settings, engine),
            uc,
            start=_when(start, "--start"),
            end=_when(end, "--end"),
            version=version,
            alias=settings.serve_alias,
            settings=cfg,
            actor=_actor(),
        )
    except (LookupError, ValueError) as exc:
        console.print(f"[red]{_message(exc)}[/red]")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_drift(report)
    worst = {"ok": 0, "insufficient_data": 0, "warn": 1, "alert": 2}[report["status"]]
    if fail_on is not None and worst >= {"warn": 1, "alert": 2}[fail_on]:
        raise typer.Exit(FAIL_EXIT)


@monitor_app.command("performance")
def monitor_performance(
    use_case: str,
    start: StartOpt = None,
    end: EndOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Labels as known then (default now).")
    ] = None,
    bucket: Annotated[str, typer.Option(help="Windows: day, week, month or none.")] = "day",
    maturity_days: Annotated[
        float | None,
        typer.Option(help="Unlabelled rows older than this count as negatives (fraud: 45)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Live model quality from labels joined to the inference log, per time window."""
    from nexafi_ai.db import make_engine
    from nexafi_ai.monitoring.performance import BUCKETS, METRIC_KEYS, live_performance

    if bucket != "none" and bucket not in BUCKETS:
        raise typer.BadParameter(f"one of {', '.join(BUCKETS)} or none", param_hint="--bucket")
    settings = get_settings()
    uc = _use_case(use_case)
    engine = make_engine(settings.database_url)
    try:
        report = live_performance(
            engine,
            uc,
            start=_when(start, "--start"),
            end=_when(end, "--end"),
            as_of=_when(as_of, "--as-of"),
            bucket=None if bucket == "none" else bucket,  # type: ignore[arg-type]
            maturity_days=uc.label_maturity_days if maturity_days is None else maturity_days,
        )
    except ValueError as exc:
        console.print(f"[red]{_message(exc)}[/red]")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    # The table keeps the headline numbers; --json has every key.
    keys = [k for k in METRIC_KEYS[report["kind"]] if k not in _DETAIL_KEYS]
    table = Table("window", *keys)
    for window in [*report["windows"], {**report["overall"], "start": "overall"}]:
        table.add_row(str(window["start"])[:10], *[_cell(window.get(k)) for k in keys])
    Console(width=max(120, console.width)).print(table)
    console.print(f"{report['use_case']}: {report['n_labelled']:,} labelled inferences")
    for version, duel in report.get("shadow", {}).items():
        champion, challenger = duel["champion"], duel["challenger"]
        console.print(
            f"challenger v{version} in shadow, on the same {duel['n']:,} rows: AUC "
            f"{_cell(challenger['auc'])} vs champion {_cell(champion['auc'])}, average precision "
            f"{_cell(challenger['average_precision'])} vs {_cell(champion['average_precision'])}"
        )


_DETAIL_KEYS = frozenset({"threshold", "unreadable_labels", "positive_rate", "brier"})


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
def retrain(
    use_case: str,
    data: DataOpt = None,
    target: TargetOpt = None,
    time_column: TimeOpt = None,
    positive_label: PositiveOpt = None,
    column: ColumnOpt = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Cut-off: events and labels known then.")
    ] = None,
    window_days: Annotated[
        float | None, typer.Option(help="Days of logged traffic to learn from (default all).")
    ] = None,
    if_due: Annotated[
        bool,
        typer.Option(
            "--if-due",
            help="Only when a trigger fires (schedule, drift alert, performance drop) and the "
            "cooldown has passed; for cron.",
        ),
    ] = False,
    min_gain: Annotated[
        float | None, typer.Option(help="AUC the challenger must gain over the champion.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed for the challenger.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train a challenger from logged events and labels; promote it only if it passes the gates.

    The newest labelled traffic is held out; champion and challenger are scored on it and the
    challenger replaces the champion only with a better AUC, calibration within bounds and (credit)
    a passing fairness check. Promoted or refused, the decision is audited; a refused
    challenger stays ``@challenger`` and keeps scoring in shadow.
    """
    from dataclasses import replace

    from nexafi_ai.db import make_engine
    from nexafi_ai.monitoring.retrain import DEFAULT_POLICY, CannotRebuildError
    from nexafi_ai.monitoring.retrain import retrain as run_retrain
    from nexafi_ai.monitoring.triggers import retrain_due

    settings = get_settings()
    uc = _use_case(use_case)
    frame = None
    if data is not None:
        frame = _prepared(
            uc,
            data,
            target=target,
            time_column=time_column,
            positive_label=positive_label,
            mapping=_field_mapping(column, {}),
        )
    policy = DEFAULT_POLICY if min_gain is None else replace(DEFAULT_POLICY, min_gain=min_gain)
    _upgrade(settings)
    engine = make_engine(settings.database_url)
    registry = _registry(settings, engine)
    try:
        trigger = "manual"
        if if_due:
            decision = retrain_due(engine, registry, uc, now=_when(as_of, "--as-of"), policy=policy)
            if not decision.due:
                console.print(f"{uc.name}: not due ({decision.reason})")
                return
            trigger = decision.trigger or "manual"
            console.print(f"{uc.name}: due: {decision.reason}")
        with _progress(f"retraining {uc.name}") as say:
            say(f"retraining {uc.name} ({trigger})")
            outcome = run_retrain(
                engine,
                registry,
                uc,
                as_of=_when(as_of, "--as-of"),
                window_days=window_days,
                data=frame,
                policy=policy,
                actor=_actor(),
                trigger=trigger,
                seed=seed,
            )
    except (CannotRebuildError, ValueError, LookupError) as exc:
        console.print(f"[red]{_message(exc)}[/red]")
        raise typer.Exit(code=2) from exc
    finally:
        engine.dispose()
    result = outcome.to_json()
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    table = Table("gate", "value", "threshold", "passed")
    for gate in result.get("gates", []):
        table.add_row(
            str(gate.get("name")),
            _cell(gate.get("value")),
            _cell(gate.get("threshold")),
            "yes" if gate.get("passed") else "[red]no[/red]",
        )
    Console(width=max(120, console.width)).print(table)
    verdict = "[green]promoted[/green]" if outcome.promoted else "[yellow]refused[/yellow]"
    console.print(
        f"{uc.model_name}: challenger v{outcome.challenger_version} vs champion "
        f"v{outcome.champion_version}: {verdict}: {outcome.reason}"
    )


def _print_drift(report: dict[str, Any]) -> None:
    colours = {"ok": "green", "warn": "yellow", "alert": "red"}
    table = Table("feature", "kind", "PSI", "KS / chi2 p", "missing", "status")
    ranked = sorted(report["features"].items(), key=lambda kv: -kv[1]["psi"])
    for name, f in ranked:
        test = f"{f['ks']:.3f}" if f["kind"] == "numeric" else f"{f['p_value']:.2g}"
        colour = colours[f["status"]]
        table.add_row(
            name,
            f["kind"],
            f"{f['psi']:.3f}",
            test,
            f"{f['missing_share']:.1%}",
            f"[{colour}]{f['status']}[/{colour}]",
        )
    Console().print(table)
    console.print(
        f"{report['use_case']} v{report['model_version']}: {report['n']:,} rows "
        f"{report['window_start']} .. {report['window_end']}: [bold]{report['status']}[/bold]"
        + (f" (report {report['id']})" if "id" in report else "")
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Console-script entry point."""
    app()
