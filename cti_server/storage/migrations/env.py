"""Alembic environment, driven from code (no alembic.ini).

:mod:`cti_server.storage.migrations` passes an open sync connection in
``config.attributes["connection"]``; a bare ``sqlalchemy.url`` main option also works (for
``alembic.command`` calls from a shell), as does offline ``--sql`` mode. SQLite runs in batch
mode so later migrations can alter columns, which SQLite's ALTER TABLE cannot.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cti_server.storage.db import create_sync_engine, sync_url
from cti_server.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = sync_url(config.get_main_option("sqlalchemy.url") or "")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = create_sync_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _configure(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
