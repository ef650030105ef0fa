"""The recordings index, written from the reactor without blocking it.

Operations for one recording are chained (the row is inserted before it is completed);
a database error is logged and counted, never raised into call handling: the WAV file on
disk is the recording, the row is how people find it (repaired files are re-indexed at
start-up by ``recover``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed

from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo, RecordNotFound
from cti_server.storage.tables import RecordingStatus

log = logging.getLogger(__name__)


class RecordingIndex:
    def __init__(self, repo: RecordingRepo) -> None:
        self._repo = repo
        self._chains: dict[str, Deferred[Any]] = {}
        self.errors = 0

    def __call__(self, operation: str, fields: dict[str, Any]) -> None:
        recording_id = str(fields["id"])
        previous = self._chains.get(recording_id, succeed(None))
        step = previous.addBoth(lambda _: run_in_loop(self._write(operation, fields)))
        step.addErrback(self._failed, operation, recording_id)
        self._chains[recording_id] = step
        step.addBoth(self._done, recording_id, step)

    async def _write(self, operation: str, f: dict[str, Any]) -> None:
        if operation == "open":
            await self._repo.insert(
                Recording(
                    id=f["id"],
                    call_id=f["call_id"],
                    started_at=f["started_at"],
                    path=f["path"],
                    agent_id=f.get("agent_id"),
                    queue=f.get("queue"),
                    customer_id=f.get("customer_id"),
                    kind=f.get("kind", "call"),
                )
            )
        elif operation == "closed":
            if f.get("failed"):
                await self._repo.mark_failed(f["id"], ended_at=f["ended_at"])
            else:
                await self._repo.update_closed(
                    f["id"],
                    ended_at=f["ended_at"],
                    duration_s=f["duration_s"],
                    bytes=f["bytes"],
                    sha256=f["sha256"],
                )
        elif operation == "repaired":
            try:
                await self._repo.update_closed(
                    f["id"],
                    ended_at=datetime.now(UTC),
                    duration_s=f["duration_s"],
                    bytes=f["bytes"],
                    sha256=f["sha256"],
                    status=RecordingStatus.REPAIRED,
                )
            except RecordNotFound:  # opened but never indexed (the database was down)
                await self._repo.insert(
                    Recording(
                        id=f["id"],
                        call_id="unknown",
                        path=f["path"],
                        started_at=datetime.fromtimestamp(Path(f["path"]).stat().st_mtime, UTC),
                        duration_s=f["duration_s"],
                        bytes=f["bytes"],
                        sha256=f["sha256"],
                        status=RecordingStatus.REPAIRED,
                    )
                )

    def _failed(self, failure: Any, operation: str, recording_id: str) -> None:
        self.errors += 1
        log.error(
            "recording index %s for %s failed: %s",
            operation,
            recording_id,
            failure.getErrorMessage(),
        )

    def _done(self, result: Any, recording_id: str, step: Deferred[Any]) -> Any:
        if self._chains.get(recording_id) is step:
            del self._chains[recording_id]
        return result
