"""The durable write path for call records and queue events, at the Twisted edge.

``submit`` appends to the local journal on the reactor thread (one ``write``, no fsync) and that
is the moment the record counts as done. Every ``batch_interval`` a timer hands the journal to
a thread of our own for one fsync of everything written since; once that returns, the synced
entries go to SQL as one group commit (``commit``, e.g. ``commit_entries`` per kind) and the
journal's checkpoint advances on the thread again. One sync and one commit are in flight at
most, so a burst becomes one bigger batch, never a queue of small transactions.

A failed commit (the database is down) leaves the entries pending in the journal and on disk;
the same entries are retried after 1 s, 2 s, 4 s ... at most 30 s, while new records keep being
journalled and fsynced. ``replay`` (run by ``start``) commits what a previous run left, through
the same loop, so a database that is down at start-up is waited out the same way. Commits are
idempotent (upsert by call id, ``entry_key`` for the logs), so a batch retried after a commit
whose answer was lost lands once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from cti_server.storage.journal import Entry, Journal

log = logging.getLogger(__name__)

Commit = Callable[[list[Entry]], Awaitable[Any] | Deferred[Any]]
InThread = Callable[..., Deferred[Any]]


class RecordWriter:
    def __init__(
        self,
        journal: Journal,
        commit: Commit,
        reactor: Any,
        batch_interval: float = 0.1,
        *,
        max_batch: int = 500,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        run_in_thread: InThread | None = None,
    ) -> None:
        """``run_in_thread(f, *args) -> Deferred``: a private one-thread pool unless given
        (tests on ``task.Clock`` pass one that runs inline)."""
        self._journal = journal
        self._commit = commit
        self._reactor = reactor
        self._interval = batch_interval
        self._max_batch = max_batch
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._pool: ThreadPool | None = None
        if run_in_thread is None:
            self._pool = ThreadPool(1, 1, "record-journal")
            # A daemon: a process whose reactor never shuts down (a test runner, an embedding
            # application) must still exit. Nothing is lost by it: every entry was written
            # before it counted as done, and ``stop`` syncs and closes the journal.
            self._pool.threadFactory = _daemon_thread  # type: ignore[assignment]
        self._in_thread: InThread = run_in_thread or self._in_own_thread
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._syncing = False
        self._committing = False
        self._started = False
        self._stopped = False
        self._backoff = retry_initial
        self._retry: Any = None  # the IDelayedCall of the next attempt after a failure
        self._trigger: Any = None
        self._waiters: list[tuple[int, Deferred[bool]]] = []
        self.submitted = 0
        self.committed = 0
        self.commit_failures = 0
        self.sync_failures = 0
        self.journal_errors = 0  # appends the disk refused (held in memory for SQL)

    def _in_own_thread(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        assert self._pool is not None
        return deferToThreadPool(self._reactor, self._pool, f, *args)

    @property
    def pending(self) -> int:
        return self._journal.pending_count

    @property
    def torn_lines(self) -> int:
        return self._journal.torn_lines

    def counters(self) -> dict[str, int]:
        names = ("submitted", "committed", "pending", "commit_failures", "torn_lines")
        return {n: int(getattr(self, n)) for n in (*names, "sync_failures", "journal_errors")}

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the batch timer and replay what a previous run left (may be called before the
        reactor runs: the first commit waits for its loop)."""
        if self._pool is not None:
            self._pool.start()
            self._trigger = self._reactor.addSystemEventTrigger(
                "after", "shutdown", self._stop_pool
            )
        self._started = True
        self._loop.start(self._interval, now=False)
        if self._journal.pending_count:
            log.info("record journal: replaying %d entries", self._journal.pending_count)
            self._reactor.callLater(0, self.replay)

    def replay(self) -> Deferred[int]:
        """Commit every entry pending now; fires with their number once all are in SQL."""
        count = self._journal.pending_count
        d = self._wait_committed(self._journal.last_seq, None)
        self._maybe_commit()
        return d.addCallback(lambda _: count)

    def flush(self, timeout: float | None = None) -> Deferred[bool]:
        """fsync and commit everything submitted so far, now, whatever the retry backoff;
        True once it is all in SQL, False if ``timeout`` came first."""
        d = self._wait_committed(self._journal.last_seq, timeout)
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if not self._syncing:
            self._sync()
        return d

    def stop(self, timeout: float = 5.0) -> Deferred[None]:
        """Flush (waiting at most ``timeout`` for the database), then fsync and close the
        journal: whatever is not in SQL by then is replayed by the next start."""
        if self._loop.running:
            self._loop.stop()
        if self._stopped:
            return succeed(None)
        if not self._started:
            self._stopped = True
            self._journal.close()
            return succeed(None)
        d: Deferred[Any] = self.flush(timeout)
        d.addCallback(self._close)
        return d

    def _close(self, flushed: bool) -> Deferred[None]:
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        if not flushed:
            log.warning(
                "record writer stopping with %d entries not in SQL: replayed at next start",
                self._journal.pending_count,
            )
        d = self._in_thread(self._journal.close)
        d.addErrback(lambda f: log.error("closing the record journal: %s", f.getErrorMessage()))
        if self._pool is not None:
            self._reactor.removeSystemEventTrigger(self._trigger)
            self._trigger = None
            d.addBoth(lambda _: self._stop_pool())
        return d

    def _stop_pool(self) -> None:
        if self._pool is not None and self._pool.started:
            self._pool.stop()

    # --- the reactor's side -----------------------------------------------------------------

    def submit(self, kind: str, key: str, payload: dict[str, Any]) -> int:
        """Journal one record; once this returns it survives a crash of this process."""
        try:
            seq = self._journal.append(kind, key, payload)
        except OSError as exc:
            self.journal_errors += 1
            log.error("record journal write failed (%s): %s %s kept in memory only", exc, kind, key)
            seq = self._journal.remember(kind, key, payload)
        self.submitted += 1
        return seq

    def _tick(self) -> None:
        if self._journal.synced_seq < self._journal.last_seq and not self._syncing:
            self._sync()
        else:
            self._maybe_commit()

    def _sync(self) -> None:
        self._syncing = True
        d = self._in_thread(self._journal.sync)
        d.addCallbacks(self._synced, self._sync_failed)

    def _synced(self, _: object) -> None:
        self._syncing = False
        self._go_on()

    def _sync_failed(self, failure: Failure) -> None:
        self._syncing = False
        self.sync_failures += 1
        log.error("record journal fsync failed: %s", failure.getErrorMessage())
        self._maybe_commit()

    def _go_on(self) -> None:
        """After a sync or a commit: someone waiting (flush, replay) need not wait for a tick."""
        behind = self._journal.synced_seq < self._journal.last_seq
        if behind and self._waiters and not self._syncing and not self._stopped:
            self._sync()
        else:
            self._maybe_commit()

    def _maybe_commit(self) -> None:
        if self._committing or self._retry is not None or self._stopped:
            return
        batch = self._journal.pending(upto=self._journal.synced_seq, limit=self._max_batch)
        if not batch:
            self._notify()
            return
        self._committing = True
        d = succeed(batch).addCallback(self._run_commit)
        d.addCallbacks(
            self._committed, self._commit_failed, callbackArgs=(batch,), errbackArgs=(batch,)
        )

    def _run_commit(self, batch: list[Entry]) -> Any:
        result = self._commit(batch)
        if isinstance(result, Deferred) or not inspect.isawaitable(result):
            return result
        return Deferred.fromFuture(asyncio.ensure_future(result))

    def _committed(self, _: object, batch: list[Entry]) -> Deferred[Any] | None:
        if self._stopped:  # closed meanwhile: the next run replays these, idempotently
            return None
        self.committed += len(batch)
        if self._backoff != self._retry_initial:
            log.info("database back: group commit of %d entries done", len(batch))
            self._backoff = self._retry_initial
        d = self._in_thread(self._journal.mark_committed, batch[-1].seq)
        d.addErrback(self._checkpoint_failed)
        d.addBoth(self._marked)
        return d

    def _checkpoint_failed(self, failure: Failure) -> None:
        # The entries are in SQL and gone from memory; an old checkpoint only means replaying
        # them once more after a restart.
        log.error("record journal checkpoint failed: %s", failure.getErrorMessage())

    def _marked(self, _: object) -> None:
        self._committing = False
        self._notify()
        self._go_on()

    def _commit_failed(self, failure: Failure, batch: list[Entry]) -> None:
        self._committing = False
        self.commit_failures += 1
        delay, self._backoff = self._backoff, min(self._backoff * 2, self._retry_max)
        log.warning(
            "group commit of %d records failed (%s); %d pending, retry in %.0f s",
            len(batch),
            failure.getErrorMessage() or repr(failure.value),
            self._journal.pending_count,
            delay,
        )
        if not self._stopped:
            self._retry = self._reactor.callLater(delay, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self._maybe_commit()

    def _wait_committed(self, seq: int, timeout: float | None) -> Deferred[bool]:
        d: Deferred[bool] = Deferred()
        if self._done_upto() >= seq:
            d.callback(True)
            return d
        self._waiters.append((seq, d))
        if timeout is not None:
            call = self._reactor.callLater(timeout, _fire, d, False)
            d.addBoth(_cancelling, call)
        return d

    def _done_upto(self) -> int:
        """Every entry up to here is in SQL."""
        oldest = self._journal.pending(limit=1)
        return oldest[0].seq - 1 if oldest else self._journal.last_seq

    def _notify(self) -> None:
        done_upto = self._done_upto()
        waiting = []
        for seq, d in self._waiters:
            if d.called:
                continue
            if seq <= done_upto:
                d.callback(True)
            else:
                waiting.append((seq, d))
        self._waiters = waiting


def _fire(d: Deferred[bool], value: bool) -> None:
    if not d.called:
        d.callback(value)


def _cancelling(result: bool, call: Any) -> bool:
    if call.active():
        call.cancel()
    return result


def _daemon_thread(*args: Any, **kwargs: Any) -> threading.Thread:
    thread = threading.Thread(*args, **kwargs)
    thread.daemon = True
    return thread
