"""Schema migrations (Alembic), run from code with a sync engine: no alembic.ini anywhere.

``upgrade(engine)`` is what ``cti-server db upgrade`` and start-up call. A new revision is a
hand-written ``versions/NNNN_name.py``; to draft one from the tables, from a shell::

    from alembic import command
    command.revision(alembic_config("sqlite:///data/cti.sqlite3"), "what changed",
                     autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> AlembicConfig:
    """An Alembic config for our scripts, bound to an open connection or to a URL."""
    cfg = AlembicConfig()
    # ConfigParser interpolates '%': escape it in paths and URLs.
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts in {SCRIPT_LOCATION / 'versions'}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Migrate up to ``revision`` in one transaction (atomic on PostgreSQL); return where it is."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), revision)
    return current_revision(engine)


def downgrade(engine: Engine, revision: str = "base") -> str | None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), revision)
    return current_revision(engine)


__all__ = [
    "SCRIPT_LOCATION",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]
