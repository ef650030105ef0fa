"""The recordings index, written from the reactor without blocking it, and without losing a
row to a database outage or a crash.

Operations for one recording are chained (the row is inserted before it is completed). Once
``open_journal`` has run (``RecordingService.start`` does it), every operation is first
appended to a local journal (``cti_server.storage.journal``: one ``write``, so a ``kill -9``
cannot lose it) and replayed at the next start if it never reached SQL. When the database
is away, the failed operation and every later one wait, in journal order, and are retried
after 1 s, 2 s, 4 s ... at most ``retry_max``; the first success drains the rest, one by one,
and the journal's checkpoint follows the operations done (off the reactor thread). Replays
are idempotent: an ``open`` whose row is already there counts as done.

An operation the database refuses as data (a missing row, a bad value) is logged and
counted in ``errors``, never retried: the WAV file on disk is the recording, the row is how
people find it (repaired files are re-indexed at start-up by ``recover``).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.python.failure import Failure

from cti_server.storage.bridge import run_in_loop
from cti_server.storage.journal import Entry, Journal
from cti_server.storage.repos import Recording, RecordingRepo, RecordNotFound
from cti_server.storage.tables import RecordingStatus

log = logging.getLogger(__name__)

InThread = Callable[..., Deferred[Any]]
_TIMES = ("started_at", "ended_at")
_HELD = object()  # what a chained operation returns when it waits behind a failed one


class RecordingIndex:
    def __init__(
        self, repo: RecordingRepo, *, retry_initial: float = 1.0, retry_max: float = 5.0
    ) -> None:
        self._repo = repo
        self._chains: dict[str, Deferred[Any]] = {}
        self._journal: Journal | None = None
        self._clock: Any = None
        self._in_thread: InThread | None = None
        self._seq = 0  # operations numbered here when there is no journal
        self._waiting: list[Entry] = []  # held back while the database is away, by seq
        self._retry: Any = None  # the IDelayedCall of the next try
        self._draining = False
        self._done: set[int] = set()  # finished, not yet under the checkpoint
        self._checkpoint = 0
        self._checkpointing = False
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._backoff = retry_initial
        self.errors = 0  # refused for good
        self.retries = 0  # tries that found the database away

    @property
    def pending(self) -> int:
        """Operations not in SQL yet (held back or in flight)."""
        return len(self._waiting) + len(self._chains)

    def open_journal(
        self, directory: str | Path, clock: Any, run_in_thread: InThread | None = None
    ) -> None:
        """Journal every operation from now on in ``directory``; replay what an earlier run
        left. ``clock`` is the reactor (``callLater``, its thread pool for the checkpoint)."""
        self._clock = clock
        if run_in_thread is None and hasattr(clock, "getThreadPool"):
            from twisted.internet.threads import deferToThreadPool

            def run_in_thread(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
                return deferToThreadPool(clock, clock.getThreadPool(), f, *args)

        elif run_in_thread is None:  # a test clock: inline
            run_in_thread = maybeDeferred

        self._in_thread = run_in_thread
        self._journal = Journal(directory)
        self._checkpoint = self._journal.committed_seq
        left = self._journal.pending()
        if left:
            log.info("recording index: replaying %d operations", len(left))
            self._waiting.extend(left)
            self._schedule(0.0)

    def __call__(self, operation: str, fields: dict[str, Any]) -> None:
        entry = self._append(operation, fields)
        if self._held():  # the database is away: keep the journal's order
            self._hold(entry)
            return
        recording_id = entry.key
        previous = self._chains.get(recording_id, succeed(None))
        step = previous.addBoth(self._start, entry)
        step.addCallbacks(self._written, self._failed, callbackArgs=(entry,), errbackArgs=(entry,))
        self._chains[recording_id] = step
        step.addBoth(self._chain_done, recording_id, step)

    # --- the write path ---------------------------------------------------------------------

    def _append(self, operation: str, fields: dict[str, Any]) -> Entry:
        key = str(fields["id"])
        payload = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}
        if self._journal is not None:
            try:
                seq = self._journal.append(operation, key, payload)
                return Entry(self._journal.journal_id, seq, operation, key, payload)
            except (OSError, ValueError, RuntimeError) as exc:
                log.error("recording index journal: %s; %s %s held in memory", exc, operation, key)
                seq = self._journal.remember(operation, key, payload)
                return Entry(self._journal.journal_id, seq, operation, key, payload)
        self._seq += 1
        return Entry("memory", self._seq, operation, key, payload)

    def _held(self) -> bool:
        return bool(self._waiting) or self._retry is not None or self._draining

    def _hold(self, entry: Entry) -> None:
        bisect.insort(self._waiting, entry, key=lambda e: e.seq)
        if self._retry is None and not self._draining:
            self._schedule(self._backoff)

    def _start(self, _: object, entry: Entry) -> Any:
        """Chained after the recording's previous operation: run, unless that one found the
        database away (then this one waits behind it)."""
        if self._held():
            self._hold(entry)
            return _HELD
        return run_in_loop(self._write(entry.kind, _fields(entry.payload)))

    def _written(self, result: object, entry: Entry) -> None:
        if result is not _HELD:
            self._finish(entry)

    def _failed(self, failure: Failure, entry: Entry) -> None:
        if _transient(failure) and self._clock is not None:
            self.retries += 1
            log.warning(
                "recording index %s for %s: database unavailable (%s); retrying",
                entry.kind,
                entry.key,
                failure.getErrorMessage() or repr(failure.value),
            )
            self._hold(entry)
            return
        if entry.kind == "open" and isinstance(failure.value, IntegrityError):
            self._finish(entry)  # a replay of an insert that had landed
            return
        self.errors += 1
        log.error(
            "recording index %s for %s failed: %s",
            entry.kind,
            entry.key,
            failure.getErrorMessage(),
        )
        self._finish(entry)

    def _chain_done(self, result: Any, recording_id: str, step: Deferred[Any]) -> Any:
        if self._chains.get(recording_id) is step:
            del self._chains[recording_id]
        return result

    # --- retries ------------------------------------------------------------------------------

    def _schedule(self, delay: float) -> None:
        self._retry = self._clock.callLater(delay, self._drain)

    def _drain(self) -> None:
        """Run the held operations one by one, oldest first, while the database takes them."""
        self._retry = None
        if not self._waiting:
            self._draining = False
            return
        self._draining = True
        entry = self._waiting.pop(0)
        d = run_in_loop(self._write(entry.kind, _fields(entry.payload)))
        d.addCallbacks(
            self._drained, self._drain_failed, callbackArgs=(entry,), errbackArgs=(entry,)
        )

    def _drained(self, _: object, entry: Entry) -> None:
        if self._backoff != self._retry_initial:
            log.info("recording index: database back, %d operations to go", len(self._waiting))
        self._backoff = self._retry_initial
        self._finish(entry)
        self._drain()

    def _drain_failed(self, failure: Failure, entry: Entry) -> None:
        if not _transient(failure):
            self._failed(failure, entry)
            self._drain()
            return
        self.retries += 1
        bisect.insort(self._waiting, entry, key=lambda e: e.seq)
        delay, self._backoff = self._backoff, min(self._backoff * 2, self._retry_max)
        self._draining = False
        self._schedule(delay)

    # --- the checkpoint -----------------------------------------------------------------------

    def _finish(self, entry: Entry) -> None:
        if self._journal is None:
            return
        self._done.add(entry.seq)
        upto = self._checkpoint
        while upto + 1 in self._done:
            upto += 1
            self._done.discard(upto)
        if upto == self._checkpoint:
            return
        self._checkpoint = upto
        self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        if self._checkpointing or self._journal is None or self._in_thread is None:
            return
        self._checkpointing = True
        journal, upto = self._journal, self._checkpoint

        def save() -> None:
            journal.sync()
            journal.mark_committed(upto)

        d = self._in_thread(save)
        d.addErrback(lambda f: log.error("recording index checkpoint: %s", f.getErrorMessage()))
        d.addBoth(self._saved, upto)

    def _saved(self, _: object, upto: int) -> None:
        self._checkpointing = False
        if self._checkpoint > upto:
            self._save_checkpoint()

    # --- SQL ----------------------------------------------------------------------------------

    async def _write(self, operation: str, f: dict[str, Any]) -> bool:
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
        return True


def _fields(payload: dict[str, Any]) -> dict[str, Any]:
    fields = dict(payload)
    for name in _TIMES:
        if isinstance(fields.get(name), str):
            fields[name] = datetime.fromisoformat(fields[name])
    return fields


def _transient(failure: Failure) -> bool:
    """The database is away or busy, not refusing the data: worth trying again."""
    error = failure.value
    if isinstance(error, RecordNotFound | IntegrityError | DataError | ValueError | TypeError):
        return False
    if isinstance(error, KeyError):
        return False
    if isinstance(error, DBAPIError):
        sqlstate = str(getattr(error.orig, "sqlstate", None) or "")
        return sqlstate[:2] not in ("22", "23")
    return True
