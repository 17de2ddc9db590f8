"""``nexafi-ai``: the command line for operators and ML engineers.

``run`` is the one-command local start (migrate, train what is missing, serve); the other
commands are its parts plus registry operations. Everything reads the same ``NEXAFI_*``
settings as the service, so the CLI and a running server always agree on where things are.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from nexafi_ai.settings import Settings, get_settings

if TYPE_CHECKING:
    from nexafi_ai.registry import ModelRegistry

app = typer.Typer(help="NexaFi AI Service: train, register, serve and monitor models.")
db_app = typer.Typer(help="Database schema (Alembic migrations).")
models_app = typer.Typer(help="Registered models, versions and aliases.")
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
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


def _registry(settings: Settings) -> ModelRegistry:
    from nexafi_ai.db import make_engine
    from nexafi_ai.serving.app import build_registry

    return build_registry(settings, make_engine(settings.database_url))


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


@app.command()
def train(
    use_case: Annotated[str, typer.Argument(help="Use case to train, e.g. fraud.")],
    size: Annotated[str, typer.Option(help="Built-in data size: tiny or default.")] = "default",
    seed: Annotated[int, typer.Option(help="Random seed for data and model.")] = 0,
    promote: Annotated[
        str | None, typer.Option(help="Alias to point at the new version, e.g. champion.")
    ] = None,
) -> None:
    """Train USE_CASE on its built-in data and register a new version."""
    from nexafi_ai.training import train_and_register
    from nexafi_ai.usecases import get_use_case

    settings = get_settings()
    _upgrade(settings)
    registry = _registry(settings)
    uc = get_use_case(use_case)
    with _progress(f"training {uc.name}") as say:
        info = train_and_register(
            uc, registry, seed=seed, size=size, promote_to=promote, actor=_actor(), progress=say
        )
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(info.metrics.items()))
    console.print(f"{info.name} version {info.version} registered; held-out: {metrics}")


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
            all_use_cases().values(), registry, alias=settings.serve_alias, progress=say
        )
    for info in trained:
        console.print(f"trained {info.name} v{info.version} -> @{settings.serve_alias}")
    console.print(f"serving on http://{settings.host}:{settings.port} (docs at /docs)")
    _serve(settings, workers)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Console-script entry point."""
    app()
