"""Alembic environment: runs migrations on the connection or URL the caller passes.

``nexafi-ai db upgrade`` passes a live connection in ``config.attributes["connection"]``; the
plain ``alembic`` command line falls back to ``NEXAFI_DATABASE_URL`` via the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from nexafi_ai.db.engine import make_engine
from nexafi_ai.db.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        from nexafi_ai.settings import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
