"""The recordings index under a database outage and a restart: operations are journalled, wait
in order while the database is away, and the next start replays what never reached SQL.

A fake repository (the ``RecordingRepo`` methods the index calls) that refuses connections
while ``down``; the index runs on the real reactor (its writes are asyncio Tasks)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_twisted
from sqlalchemy.exc import IntegrityError
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from cti_server.storage.journal import Journal
from cti_server.storage.recording_index import RecordingIndex
from cti_server.storage.repos import Recording, RecordNotFound

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakeRepo:
    def __init__(self) -> None:
        self.down = False
        self.rows: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def _reach(self) -> None:
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connect call failed")

    async def insert(self, recording: Recording) -> None:
        self._reach()
        self.calls.append(("insert", recording.id))
        if recording.id in self.rows:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        self.rows[recording.id] = {"status": recording.status.value, "call_id": recording.call_id}

    async def update_closed(self, recording_id: str, **values: Any) -> None:
        self._reach()
        self.calls.append(("closed", recording_id))
        if recording_id not in self.rows:
            raise RecordNotFound(recording_id)
        status = values.get("status")
        self.rows[recording_id].update(status=status.value if status else "complete")

    async def mark_failed(self, recording_id: str, **values: Any) -> None:
        self._reach()
        self.rows[recording_id]["status"] = "failed"


def opened(rid: str) -> dict[str, Any]:
    return {"id": rid, "call_id": f"call-{rid}", "path": f"/r/{rid}.wav", "started_at": AT}


def closed(rid: str) -> dict[str, Any]:
    return {"id": rid, "ended_at": AT, "duration_s": 3.0, "bytes": 48044, "sha256": "ab"}


def index_on(repo: FakeRepo, journal: Path) -> RecordingIndex:
    index = RecordingIndex(repo, retry_initial=0.02, retry_max=0.05)  # type: ignore[arg-type]
    index.open_journal(journal, reactor)
    return index


async def settle(index: RecordingIndex, timeout: float = 5.0) -> None:
    waited = 0.0
    while (index.pending or index._checkpointing) and waited < timeout:
        await sleep(0.02)
        waited += 0.02
    await sleep(0.05)  # the last checkpoint, in its thread


def sleep(seconds: float) -> Deferred[None]:
    return deferLater(reactor, seconds, lambda: None)


def backlog(journal: Path) -> int:
    j = Journal(journal)
    try:
        return j.pending_count
    finally:
        j.close()


@pytest_twisted.ensureDeferred
async def test_operations_wait_in_order_while_the_database_is_away(tmp_path: Path) -> None:
    repo = FakeRepo()
    index = index_on(repo, tmp_path / "journal")
    index("open", opened("R1"))
    await settle(index)
    repo.down = True
    index("closed", closed("R1"))
    index("open", opened("R2"))
    index("closed", closed("R2"))
    await sleep(0.2)
    assert index.pending == 3 and index.retries >= 1
    repo.down = False
    await settle(index)
    assert repo.rows == {
        "R1": {"status": "complete", "call_id": "call-R1"},
        "R2": {"status": "complete", "call_id": "call-R2"},
    }
    assert repo.calls.index(("insert", "R2")) < repo.calls.index(("closed", "R2"))
    assert index.errors == 0 and index.pending == 0
    assert backlog(tmp_path / "journal") == 0


@pytest_twisted.ensureDeferred
async def test_a_restart_replays_what_never_reached_the_database(tmp_path: Path) -> None:
    repo = FakeRepo()
    repo.down = True
    first = index_on(repo, tmp_path / "journal")
    first("open", opened("R1"))
    first("closed", closed("R1"))
    await sleep(0.1)
    assert first._retry is not None
    first._retry.cancel()  # the process dies: nothing more from this one
    first._retry = None
    repo.down = False
    second = index_on(repo, tmp_path / "journal")
    await settle(second)
    assert repo.rows == {"R1": {"status": "complete", "call_id": "call-R1"}}
    assert backlog(tmp_path / "journal") == 0


@pytest_twisted.ensureDeferred
async def test_refusals_are_counted_not_retried_and_a_replayed_insert_counts_as_done(
    tmp_path: Path,
) -> None:
    repo = FakeRepo()
    repo.rows["R1"] = {"status": "recording", "call_id": "call-R1"}  # landed before a crash
    index = index_on(repo, tmp_path / "journal")
    index("open", opened("R1"))
    index("closed", closed("nobody"))  # no such row: refused for good
    index("open", opened("R2"))
    await settle(index)
    assert index.errors == 1
    assert set(repo.rows) == {"R1", "R2"}
    assert backlog(tmp_path / "journal") == 0
