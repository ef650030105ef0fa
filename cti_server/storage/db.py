"""Engines from one database URL: a sync engine and an async engine over the same database.

The server's hot path uses the async engine (aiosqlite or asyncpg) from asyncio Tasks, bridged
to Twisted by :mod:`cti_server.storage.bridge`. The sync engine (the stdlib ``sqlite3`` or
psycopg) is for what runs before the reactor or outside it: CLI commands, Alembic migrations,
start-up checks. Calling ``asyncio.run`` there instead would replace the event loop the asyncio
reactor was installed on.

Whatever driver the configured URL names, each engine gets its own: ``postgresql://``,
``postgresql+asyncpg://`` and ``postgresql+psycopg://`` all mean the same database. Without a
URL the database is ``<data_dir>/cti.sqlite3``.

SQLite gets WAL (readers never block the writer), a busy timeout (a second process such as
``cti-server accounts add`` waits for the lock instead of failing at once) and foreign keys,
which SQLite leaves off by default. ``synchronous=NORMAL`` is the setting SQLite documents for
WAL: a ``kill -9`` loses nothing committed, a power cut may lose the last transactions, which
the local journal (DESIGN.md §3) replays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cti_server.config import Config

SQLITE_FILE_NAME = "cti.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 5000

_SYNC_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_BACKEND_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}


class StorageUrlError(ValueError):
    """The database URL names a backend we do not support (only SQLite and PostgreSQL)."""


def configured_url(config: Config) -> str:
    """``storage.database_url``, or the SQLite file in ``data_dir`` (as an absolute path)."""
    if config.storage.database_url:
        return config.storage.database_url
    path = (Path(config.data_dir) / SQLITE_FILE_NAME).resolve()
    return f"sqlite:///{path}"


def _backend(url: URL) -> str:
    backend = url.get_backend_name()
    backend = _BACKEND_ALIASES.get(backend, backend)
    if backend not in _SYNC_DRIVERS:
        raise StorageUrlError(
            f"unsupported database {url.drivername!r}: use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DATABASE"
        )
    return backend


def sync_url(url: str | URL) -> URL:
    """The same database with the blocking driver (``sqlite3`` or psycopg)."""
    parsed = make_url(url)
    backend = _backend(parsed)
    return parsed.set(drivername=f"{backend}+{_SYNC_DRIVERS[backend]}")


def async_url(url: str | URL) -> URL:
    """The same database with the asyncio driver (aiosqlite or asyncpg)."""
    parsed = make_url(url)
    backend = _backend(parsed)
    return parsed.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")


def _sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _prepare_sqlite_file(url: URL) -> None:
    """SQLite creates the file but not its directory; a fresh data_dir has none yet."""
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_sync_engine(url: str | URL, *, echo: bool = False) -> Engine:
    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        engine = create_engine(target, echo=echo)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(target, echo=echo, pool_pre_ping=True)


def create_async_db_engine(url: str | URL, *, echo: bool = False) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        engine = create_async_engine(target, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(target, echo=echo, pool_pre_ping=True)


class Database:
    """One database and its two engines, each made on first use.

    ``async_session()`` opens an :class:`AsyncSession` (use it inside an asyncio Task);
    sessions do not expire objects on commit, so rows read in a session stay usable after it.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.backend = _backend(self.url)
        self._echo = echo
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @classmethod
    def from_config(cls, config: Config) -> Database:
        return cls(configured_url(config))

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for logs and CLI output."""
        return self.url.render_as_string(hide_password=True)

    @property
    def sync_engine(self) -> Engine:
        if self._sync_engine is None:
            self._sync_engine = create_sync_engine(self.url, echo=self._echo)
        return self._sync_engine

    @property
    def async_engine(self) -> AsyncEngine:
        if self._async_engine is None:
            self._async_engine = create_async_db_engine(self.url, echo=self._echo)
        return self._async_engine

    @property
    def async_session(self) -> async_sessionmaker[AsyncSession]:
        """The session factory: ``async with db.async_session() as session: ...``."""
        if self._sessions is None:
            self._sessions = async_sessionmaker(self.async_engine, expire_on_commit=False)
        return self._sessions

    def dispose_sync(self) -> None:
        if self._sync_engine is not None:
            self._sync_engine.dispose()
            self._sync_engine = None

    async def dispose(self) -> None:
        """Close both pools; the async half must run in the loop its connections belong to."""
        self.dispose_sync()
        if self._async_engine is not None:
            await self._async_engine.dispose()
            self._async_engine = None
            self._sessions = None
