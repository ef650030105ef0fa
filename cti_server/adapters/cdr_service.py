"""Call records, queue events and the agent state log, from the bus into the durable writer.

Every bus event is folded into its call's record (``metrics.call_folder``); the queue event
log and the agent state log are mapped row by row (``metrics.event_rows``). What is handed to
``RecordWriter.submit`` is journalled at once, so a ``kill -9`` cannot lose it, and reaches
SQL in the next group commit. A record is submitted when its call clears (so a crash during
the agent's wrap-up keeps it) and again, complete, when the wrap-up ends: the second write
replaces the first (upsert by call id).
"""

from __future__ import annotations

import logging
from typing import Any

from cti_server import events as ev
from cti_server.adapters.timers import DeadlineTimer
from metrics.call_folder import CallFolder
from metrics.event_rows import agent_state_row, queue_event_row

log = logging.getLogger(__name__)


class CdrService:
    def __init__(self, writer: Any, reactor: Any, folder: CallFolder | None = None) -> None:
        self._writer = writer
        self._reactor = reactor
        self.folder = folder or CallFolder()
        self._timer = DeadlineTimer(reactor, self._due)
        self.records_written = 0

    def on_event(self, event: ev.Event) -> None:
        """Bus subscriber."""
        queue_row = queue_event_row(event)
        if queue_row is not None:
            self._writer.submit(
                "queue_event",
                queue_row["call_id"],
                {
                    "at": queue_row["at"],
                    "call_id": queue_row["call_id"],
                    "queue": queue_row["queue"] or "",
                    "kind": queue_row["event"],
                    "agent_id": queue_row["agent_id"],
                    "position": queue_row["position"],
                    "wait_seconds": queue_row["wait"],
                    "detail": {"text": queue_row["detail"]} if queue_row["detail"] else {},
                },
            )
        state_row = agent_state_row(event)
        if state_row is not None:
            self._writer.submit("agent_state", state_row["agent_id"], dict(state_row))
        self.folder.feed(event)
        if isinstance(event, ev.CallCleared):
            cleared = self.folder.open_record(event.call_id)
            if cleared is not None:  # waiting for the wrap-up: safe on disk already
                self._submit(cleared.to_dict())
        self._due(self._reactor.seconds())

    def _due(self, now: float) -> None:
        for record in self.folder.finished(now):
            self._submit(record.to_dict())
        self._timer.rearm(self.folder.next_deadline())

    def _submit(self, payload: dict[str, Any]) -> None:
        self._writer.submit("call_record", payload["call_id"], payload)
        self.records_written += 1

    def stop(self) -> None:
        self._timer.stop()
