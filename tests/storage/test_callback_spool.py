"""Callback requests while the database is away: spooled to disk, moved in when it is back.

The database "away" is a real PostgreSQL URL on a port nobody listens on (the driver's
connection error), not a fake; "back" is the test's migrated SQLite or PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

from cti_server.storage.callback_spool import SPOOL_PREFIX, CallbackSpool
from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.db import Database
from cti_server.storage.tables import CallbackStatus
from tests.e2e.conftest import free_port

T0 = 1_800_000_000.0


def _away() -> Database:
    return Database(f"postgresql+psycopg://cti@127.0.0.1:{free_port()}/cti?connect_timeout=1")


def test_requests_spooled_while_the_database_is_away_reach_it_once_it_is_back(
    db_url: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    away = _away()
    spool = CallbackSpool(CallbackRepo(away), spool_dir)
    first, merged = spool.request(
        "010-1111-2222", "general", call_id="c1", customer_id=None, due_at=None, now=T0
    )
    again, _ = spool.request(
        "01011112222", "general", call_id="c2", customer_id=None, due_at=T0 + 5, now=T0 + 5
    )
    other, _ = spool.request(
        "010-3333-4444", "sales", call_id="c3", customer_id=None, due_at=T0 + 600, now=T0 + 9
    )
    assert first.startswith(SPOOL_PREFIX) and not merged and len({first, again, other}) == 3
    assert spool.pending == 3 and spool.replay() == 0  # still away: nothing lost, nothing moved
    spool.close()  # the process stops (or dies): the lines are on disk
    away.dispose_sync()

    back = Database(db_url)
    try:
        revived = CallbackSpool(CallbackRepo(back), spool_dir)
        assert revived.pending == 3  # read back from disk by a new process
        assert revived.replay() == 3 and revived.pending == 0
        pending = CallbackRepo(back).pending()
        assert sorted((c.number, c.queue, c.request_count) for c in pending) == [
            ("01011112222", "general", 2),  # the same caller twice: merged, not doubled
            ("01033334444", "sales", 1),
        ]
        assert all(c.status is CallbackStatus.PENDING for c in pending)
        assert min(c.due_at.timestamp() for c in pending) == T0  # the earlier due time kept
        revived.close()
        assert CallbackSpool(CallbackRepo(back), spool_dir).pending == 0  # replayed once
    finally:
        back.dispose_sync()


def test_with_the_database_up_the_spool_is_not_used(db_url: str, tmp_path: Path) -> None:
    database = Database(db_url)
    try:
        spool = CallbackSpool(CallbackRepo(database), tmp_path / "spool")
        callback_id, _ = spool.request(
            "010-5555-6666", "general", call_id=None, customer_id=None, due_at=None, now=T0
        )
        assert not callback_id.startswith(SPOOL_PREFIX) and spool.pending == 0
        assert CallbackRepo(database).get(callback_id) is not None
        spool.close()
    finally:
        database.dispose_sync()
