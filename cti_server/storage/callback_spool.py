"""Callback requests the database could not take, kept on local disk until it can.

DESIGN.md §3 and issue 8: a callback request is committed to the database *before* the
confirmation prompt plays, or, while the database is unreachable, appended to a local journal
(``cti_server.storage.journal``) and fsynced; the caller hears the confirmation either way,
because the request is durable either way. ``replay`` moves spooled requests into the database
(``CallbackRepo.request`` merges duplicates, so a replay interrupted half-way and run again adds
nothing twice); it runs at start-up, and periodically while anything is spooled. The id a
spooled request gets (``spool-…``) is provisional: the database's id replaces it on replay.

Synchronous, for the thread pool; one spool (directory) per process (the journal holds a lock).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.customers import Instant, utc
from cti_server.storage.journal import Journal

log = logging.getLogger(__name__)

KIND = "callback_request"
SPOOL_PREFIX = "spool-"


def _iso(value: Instant | None) -> str | None:
    return None if value is None else utc(value).isoformat()


class CallbackSpool:
    def __init__(self, repo: CallbackRepo, directory: str | Path) -> None:
        self.repo = repo
        self.journal = Journal(directory)
        self.spooled = 0  # requests that went to disk since start
        self.replayed = 0

    @property
    def pending(self) -> int:
        return self.journal.pending_count

    def request(
        self,
        number: str,
        queue: str,
        *,
        call_id: str | None,
        customer_id: str | None,
        due_at: Instant | None,
        now: Instant,
        note: str | None = None,
    ) -> tuple[str, bool]:
        """``CallbackRepo.request``, or the spool when the database fails. Bad input (no
        digits, no queue) still raises ValueError: spooling it would not make it valid."""
        try:
            return self.repo.request(
                number,
                queue,
                call_id=call_id,
                customer_id=customer_id,
                due_at=due_at if due_at is not None else now,
                now=now,
                note=note,
            )
        except SQLAlchemyError as exc:
            spool_id = f"{SPOOL_PREFIX}{uuid.uuid4().hex}"
            payload: dict[str, Any] = {
                "number": number,
                "queue": queue,
                "call_id": call_id,
                "customer_id": customer_id,
                "due_at": _iso(due_at if due_at is not None else now),
                "now": _iso(now),
                "note": note,
            }
            self.journal.append(KIND, spool_id, payload)
            self.journal.sync()  # a promise to a customer: on disk before the prompt plays
            self.spooled += 1
            log.warning(
                "callback for %s (queue %s) spooled to %s: database unavailable (%s)",
                number,
                queue,
                self.journal.path,
                type(exc).__name__,
            )
            return spool_id, False

    def replay(self) -> int:
        """Move spooled requests into the database, oldest first; stop at the first failure
        (the database is still away). Returns how many went in."""
        moved = 0
        for entry in self.journal.pending():
            p = entry.payload
            try:
                self.repo.request(
                    p["number"],
                    p["queue"],
                    call_id=p["call_id"],
                    customer_id=p["customer_id"],
                    due_at=datetime.fromisoformat(p["due_at"]),
                    now=datetime.fromisoformat(p["now"]),
                    note=p["note"],
                )
            except SQLAlchemyError as exc:
                log.info("callback spool: database still unavailable (%s)", type(exc).__name__)
                break
            except ValueError as exc:  # request() validated it first: cannot happen; never loop
                log.error(
                    "callback spool: request %s dropped, refused for good: %s", entry.key, exc
                )
            self.journal.mark_committed(entry.seq)
            moved += 1
        if moved:
            self.replayed += moved
            log.info("callback spool: %d requests moved into the database", moved)
        return moved

    def close(self) -> None:
        self.journal.close()
