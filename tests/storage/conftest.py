"""Database fixtures: a SQLite file in tmp_path, and PostgreSQL databases made for this run.

PostgreSQL is the server at ``DATABASE_URL`` (default: 127.0.0.1:5432, database ``test``,
user postgres, then root). The session creates uniquely named databases (``cti_test_*``) with
``CREATE DATABASE`` and drops exactly those at the end; it never writes to any other. When
nothing answers, the PostgreSQL parametrizations skip with the reason.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_twisted
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from cti_server.storage.bridge import run_in_loop
from cti_server.storage.db import Database, sync_url
from cti_server.storage.migrations import upgrade
from cti_server.storage.tables import Base

DEFAULT_ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)


class PgServer:
    """Creates databases for this test session on a PostgreSQL server and drops them after."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.created: list[str] = []

    def create_database(self, label: str) -> str:
        name = f"cti_test_{label}_{os.getpid()}_{secrets.token_hex(4)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        url: URL = self.admin.url.set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()
        self.admin.dispose()


def _connect_admin() -> tuple[Engine | None, str]:
    env = os.environ.get("DATABASE_URL")
    candidates = [env] if env else list(DEFAULT_ADMIN_URLS)
    problems = []
    for candidate in candidates:
        url = make_url(candidate)
        if url.get_backend_name() not in ("postgresql", "postgres"):
            return None, f"DATABASE_URL {url.render_as_string()} is not PostgreSQL"
        engine = create_engine(
            sync_url(url),
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
            connect_args={"connect_timeout": 3},
        )
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            problems.append(f"{url.render_as_string()}: {reason}")
            continue
        return engine, ""
    return None, "; ".join(problems)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    engine, problem = _connect_admin()
    if engine is None:
        pytest.skip(f"PostgreSQL not reachable ({problem}); CI starts it with scripts/services")
    server = PgServer(engine)
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session")
def pg_repo_url(pg_server: PgServer) -> str:
    """One migrated PostgreSQL database for the repository tests, emptied before each test."""
    url = pg_server.create_database("repos")
    db = Database(url)
    upgrade(db.sync_engine)
    db.dispose_sync()
    return url


def _empty_tables(url: str) -> None:
    db = Database(url)
    with db.sync_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    db.dispose_sync()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated, empty database URL of each kind."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_repo_url")
        _empty_tables(url)
        return url
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cti.sqlite3'}"
    db = Database(url)
    upgrade(db.sync_engine)
    db.dispose_sync()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL of each kind with nothing in it, not even the migration table."""
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        return server.create_database("fresh")
    return f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'cti.sqlite3'}"


@pytest_twisted.async_yield_fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A :class:`Database` whose async pool is closed in the reactor's loop afterwards."""
    database = Database(db_url)
    yield database
    await run_in_loop(database.dispose())
