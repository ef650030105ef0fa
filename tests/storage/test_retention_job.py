"""The hourly retention job against a real database and real files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_twisted
from twisted.internet import task

from cti_server.adapters.retention_job import RetentionJob
from cti_server.storage import Database
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo
from cti_server.storage.tables import RecordingStatus
from recording.retention import RetentionPolicy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest_twisted.ensureDeferred
async def test_expired_recordings_are_deleted_and_kept_as_rows(
    db: Database, tmp_path: Path
) -> None:
    repo = RecordingRepo(db.async_session)
    paths = {}
    for rid, age_days in (("old", 40), ("older", 400), ("new", 5)):
        path = tmp_path / f"{rid}.wav"
        path.write_bytes(b"RIFF")
        paths[rid] = path
        await run_in_loop(
            repo.insert(
                Recording(
                    id=rid,
                    call_id=f"c-{rid}",
                    path=str(path),
                    started_at=NOW - timedelta(days=age_days),
                    status=RecordingStatus.COMPLETE,
                )
            )
        )
    clock = task.Clock()
    clock.advance(NOW.timestamp())
    job = RetentionJob(repo, RetentionPolicy(default_days=30), clock)
    await job.run_once()
    assert not paths["old"].exists() and not paths["older"].exists()
    assert paths["new"].exists()
    rows = {r.id: r.status for r in await run_in_loop(repo.list(include_deleted=True))}
    assert rows == {
        "old": RecordingStatus.DELETED,
        "older": RecordingStatus.DELETED,
        "new": RecordingStatus.COMPLETE,
    }
    assert job.deleted == 2
    await job.run_once()  # idempotent: nothing left to delete
    assert job.deleted == 2
