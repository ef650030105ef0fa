"""Hourly recording retention: expired files are deleted (off the reactor), rows kept as
``deleted`` for the audit trail. Which rows expire is the pure ``recording.retention`` rule."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread

from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo
from cti_server.storage.tables import RecordingStatus
from recording.files import delete_files
from recording.retention import IndexRow, RetentionPolicy, expired

log = logging.getLogger(__name__)
BATCH = 500


class RetentionJob:
    def __init__(
        self, repo: RecordingRepo, policy: RetentionPolicy, clock: Any, interval: float = 3600.0
    ) -> None:
        self._repo = repo
        self._policy = policy
        self._clock = clock
        self._loop = LoopingCall(self.run_once)
        self._loop.clock = clock
        self._interval = interval
        self.deleted = 0

    def start(self) -> None:
        if self._policy.default_days is not None:
            self._loop.start(self._interval, now=False)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def run_once(self) -> Any:
        days = self._policy.default_days
        if days is None:
            return None
        cutoff = datetime.fromtimestamp(self._clock.seconds(), UTC) - timedelta(days=days)
        d = run_in_loop(self._repo.list(until=cutoff, limit=BATCH))
        d.addCallback(self._delete)
        d.addErrback(lambda f: log.error("retention: %s", f.getErrorMessage()))
        return d

    def _delete(self, rows: list[Recording]) -> Any:
        index = [
            IndexRow(id=r.id, path=r.path, started_at=r.started_at.timestamp(), queue=r.queue)
            for r in rows
            if r.status != RecordingStatus.DELETED
        ]
        due = expired(index, self._policy, self._clock.seconds())
        if not due:
            return None
        d = deferToThread(delete_files, [row.path for row in due])
        d.addCallback(self._mark, due)
        return d

    def _mark(self, failed: list[str], due: list[IndexRow]) -> Any:
        gone = [row for row in due if row.path not in set(failed)]
        for path in failed:
            log.error("retention: could not delete %s", path)
        self.deleted += len(gone)
        log.info("retention: deleted %d expired recordings", len(gone))

        async def mark() -> None:
            for row in gone:
                await self._repo.mark_deleted(row.id)

        return run_in_loop(mark())
