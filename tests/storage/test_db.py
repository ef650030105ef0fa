"""Engines from one URL: driver mapping, the default SQLite file, and SQLite's pragmas."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import text

from cti_server.config import Config
from cti_server.storage import Database, StorageUrlError, async_url, configured_url, run_in_loop
from cti_server.storage.db import SQLITE_BUSY_TIMEOUT_MS, sync_url


@pytest.mark.parametrize(
    ("given", "sync", "asyncio"),
    [
        ("sqlite:///data/cti.sqlite3", "sqlite+pysqlite", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+pysqlite", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
    ],
)
def test_each_engine_gets_its_own_driver(given: str, sync: str, asyncio: str) -> None:
    assert sync_url(given).drivername == sync
    assert async_url(given).drivername == asyncio
    assert sync_url(given).database == async_url(given).database


def test_unsupported_backend_is_a_clear_error() -> None:
    with pytest.raises(StorageUrlError, match="unsupported database 'mysql'"):
        Database("mysql://u@h/db")


def test_default_is_sqlite_in_data_dir_and_config_url_wins(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path / "data"))
    assert configured_url(config) == f"sqlite:///{tmp_path / 'data' / 'cti.sqlite3'}"
    chosen = config.with_overrides(**{"storage.database_url": "postgresql://u@h/cti"})
    assert configured_url(chosen) == "postgresql://u@h/cti"


def test_display_url_hides_the_password() -> None:
    assert Database("postgresql://cti:s3cret@h/cti").display_url == "postgresql://cti:***@h/cti"


def test_sync_engine_creates_the_data_dir_and_sets_pragmas(tmp_path: Path) -> None:
    db = Database.from_config(Config(data_dir=str(tmp_path / "new" / "data")))
    with db.sync_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    db.dispose_sync()
    assert (tmp_path / "new" / "data" / "cti.sqlite3").exists()


@pytest_twisted.ensureDeferred
async def test_async_engine_sets_the_same_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cti.sqlite3'}")

    async def pragmas() -> tuple[object, ...]:
        async with db.async_engine.connect() as conn:
            return tuple(
                [
                    (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                    for name in ("journal_mode", "busy_timeout", "foreign_keys")
                ]
            )

    try:
        assert await run_in_loop(pragmas()) == ("wal", SQLITE_BUSY_TIMEOUT_MS, 1)
    finally:
        await run_in_loop(db.dispose())
