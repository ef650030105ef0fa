"""The record writer: batching and backoff on ``task.Clock``; then, on the real reactor with
SQLite and PostgreSQL, latency, a database outage, and a ``kill -9`` of a journalling process."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.task import Clock, deferLater

from cti_server.adapters.record_writer import RecordWriter
from cti_server.storage import CallRecordRepo, Database, run_in_loop
from cti_server.storage import journal as journal_module
from cti_server.storage.journal import Entry, Journal, JournalClosed, JournalLocked
from cti_server.storage.record_repos import (
    AgentStateLogRepo,
    CommitCounts,
    QueueEventRepo,
    commit_entries,
)

CHILD = Path(__file__).with_name("journal_child.py")
REPO = Path(__file__).resolve().parents[2]
EPOCH = 1_795_000_000.0
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _inline(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return maybeDeferred(f, *args)


class FakeCommit:
    """A commit target on the clock: refuses while ``down``, remembers what it stored."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.down = False
        self.attempts: list[tuple[float, list[int]]] = []
        self.stored: list[int] = []

    def __call__(self, entries: list[Entry]) -> Deferred[None]:
        self.attempts.append((self.clock.seconds(), [e.seq for e in entries]))
        if self.down:
            return fail(ConnectionRefusedError("database down"))
        self.stored.extend(e.seq for e in entries)
        return succeed(None)


def _clock_writer(path: Path, clock: Clock, target: FakeCommit, **kw: Any) -> RecordWriter:
    writer = RecordWriter(Journal(path), target, clock, run_in_thread=_inline, **kw)
    writer.start()
    return writer


def _submit(writer: RecordWriter, i: int) -> int:
    kind = ("call_record", "queue_event", "agent_state")[i % 3]
    at = EPOCH + i
    payload: dict[str, Any]
    if kind == "call_record":
        payload = {"call_id": f"call-{i}", "started_at": at, "ended_at": at + 9, "i": i}
    elif kind == "queue_event":
        payload = {"queue": "sales", "kind": "joined", "at": at, "call_id": f"call-{i}", "i": i}
    else:
        payload = {"agent_id": f"agent-{i}", "state": "ready", "at": at}
    return writer.submit(kind, f"k{i}", payload)


# --- on task.Clock ------------------------------------------------------------------------------


def test_records_wait_for_the_batch_timer_then_go_in_one_commit(tmp_path: Path) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    writer = _clock_writer(tmp_path, clock, target)
    assert [_submit(writer, i) for i in range(3)] == [1, 2, 3]
    assert target.attempts == []
    assert writer.pending == 3

    clock.advance(0.1)
    assert target.attempts == [(0.1, [1, 2, 3])]
    assert writer.counters() == {
        "submitted": 3,
        "committed": 3,
        "pending": 0,
        "commit_failures": 0,
        "torn_lines": 0,
        "sync_failures": 0,
        "journal_errors": 0,
    }
    clock.advance(1)
    assert len(target.attempts) == 1  # nothing new: no empty commits


def test_a_backlog_goes_in_batches_of_max_batch(tmp_path: Path) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    writer = _clock_writer(tmp_path, clock, target, max_batch=100)
    for i in range(250):
        _submit(writer, i)
    clock.advance(0.1)
    assert [len(seqs) for _, seqs in target.attempts] == [100, 100, 50]
    assert target.stored == list(range(1, 251))


def test_failed_commits_back_off_and_everything_lands_once(tmp_path: Path) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    target.down = True
    writer = _clock_writer(tmp_path, clock, target, batch_interval=0.125)  # exact in binary
    for i in range(5):
        _submit(writer, i)
    for _ in range(400):
        clock.advance(0.125)
        if clock.seconds() > 45 and writer.pending == 5:
            for i in range(5, 8):  # the outage goes on; records keep coming
                _submit(writer, i)
    times = [t for t, _ in target.attempts]
    assert times == [0.125, 1.125, 3.125, 7.125, 15.125, 31.125]  # 1, 2, 4, 8, 16 s...
    for _ in range(810):
        clock.advance(0.125)
    times = [t for t, _ in target.attempts]
    assert times[6:] == [61.125, 91.125, 121.125, 151.125]  # ... at most 30 s
    assert writer.pending == 8
    assert writer.commit_failures == 10

    target.down = False
    clock.advance(30)
    assert target.stored == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (writer.committed, writer.pending) == (8, 0)

    target.down = True  # a new outage starts from 1 s again
    _submit(writer, 8)
    clock.advance(0.125)
    failed_at = clock.seconds()
    target.down = False
    clock.advance(0.875)
    assert writer.pending == 1
    clock.advance(0.125)
    assert writer.pending == 0
    assert target.attempts[-1][0] == failed_at + 1


def test_flush_does_not_wait_for_the_backoff(tmp_path: Path) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    target.down = True
    writer = _clock_writer(tmp_path, clock, target)
    _submit(writer, 0)
    clock.advance(0.1)
    assert writer.commit_failures == 1
    target.down = False
    flushed = writer.flush()
    assert flushed.result is True
    assert target.stored == [1]


def test_stop_with_the_database_down_leaves_the_rest_to_the_next_run(tmp_path: Path) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    target.down = True
    writer = _clock_writer(tmp_path, clock, target)
    for i in range(3):
        _submit(writer, i)
    stopped = writer.stop(timeout=5)
    assert not stopped.called
    clock.advance(5)
    assert stopped.called
    with pytest.raises(JournalClosed):
        _submit(writer, 3)

    target.down = False
    again = _clock_writer(tmp_path, clock, target)
    assert again.pending == 3
    clock.advance(0)  # start() replays once the reactor runs
    assert target.stored == [1, 2, 3]
    assert again.pending == 0


def test_a_disk_that_refuses_a_record_does_not_lose_it_for_sql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    target = FakeCommit(clock)
    writer = _clock_writer(tmp_path, clock, target)

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_module.os, "write", full)
    assert _submit(writer, 0) == 1
    monkeypatch.undo()
    assert writer.journal_errors == 1
    clock.advance(0.1)
    assert target.stored == [1]


# --- on the reactor, with a database ------------------------------------------------------------


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await deferLater(reactor, seconds, lambda: None)


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> float:
    """Poll ``check`` every 10 ms; return how long it took to hold."""
    from twisted.internet import reactor

    start = reactor.seconds()
    while not await check():
        if reactor.seconds() - start > timeout:
            raise AssertionError(f"not true after {timeout} s")
        await _sleep(0.01)
    return float(reactor.seconds() - start)


async def _stored(db: Database) -> list[int]:
    """The record indices in SQL, one per row (sorted, duplicates kept)."""
    sessions = db.async_session
    calls = await run_in_loop(CallRecordRepo(sessions).list_period(*ALL_TIME))
    events = await run_in_loop(QueueEventRepo(sessions).list_period(*ALL_TIME))
    states = await run_in_loop(AgentStateLogRepo(sessions).list_period(*ALL_TIME))
    found = [int(c.record["i"]) for c in calls] + [int(e.detail["i"]) for e in events]
    found += [int(s.agent_id.removeprefix("agent-")) for s in states]
    return sorted(found)


def _writer(journal: Journal, commit: Callable[[list[Entry]], Any], **kw: Any) -> RecordWriter:
    from twisted.internet import reactor

    writer = RecordWriter(journal, commit, reactor, **kw)
    writer.start()
    return writer


def _committing_to(db: Database) -> Callable[[list[Entry]], Awaitable[CommitCounts]]:
    return lambda entries: commit_entries(db, entries)


@pytest_twisted.ensureDeferred
async def test_records_are_in_sql_within_a_batch_interval(db: Database, tmp_path: Path) -> None:
    writer = _writer(Journal(tmp_path), _committing_to(db))
    try:
        _submit(writer, 0)  # the first commit also opens the pool
        await _until(lambda: _has(db, 1))
        for i in range(1, 31):
            _submit(writer, i)
        elapsed = await _until(lambda: _has(db, 31))
        assert elapsed < 0.5  # one timer period (100 ms), an fsync and one group commit
        assert await _stored(db) == list(range(31))
        assert (writer.submitted, writer.committed, writer.pending) == (31, 31, 0)
    finally:
        await writer.stop()


async def _has(db: Database, count: int) -> bool:
    return len(await _stored(db)) >= count


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Switchable:
    """The commit target the test points at a dead database, then at the real one."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.stored: list[int] = []

    async def __call__(self, entries: list[Entry]) -> CommitCounts:
        counts = await commit_entries(self.database, entries)
        self.stored += [e.seq for e in entries]
        return counts


@pytest_twisted.ensureDeferred
async def test_a_database_outage_loses_nothing_and_duplicates_nothing(
    db: Database, tmp_path: Path
) -> None:
    dead = Database(f"postgresql://cti@127.0.0.1:{_closed_port()}/nowhere")
    target = Switchable(dead)
    writer = _writer(Journal(tmp_path), target, retry_initial=0.05, retry_max=0.2)
    try:
        for i in range(30):
            _submit(writer, i)

        async def failed_twice() -> bool:
            return writer.commit_failures >= 2

        await _until(failed_twice)
        assert writer.pending == 30
        for i in range(30, 50):
            _submit(writer, i)
        await _sleep(0.3)
        assert (writer.pending, writer.committed) == (50, 0)
        assert await _stored(db) == []

        target.database = db

        async def drained() -> bool:
            return writer.pending == 0

        await _until(drained, timeout=3)
        assert await _stored(db) == list(range(50))
        assert sorted(target.stored) == list(range(1, 51))  # each entry committed once
        assert writer.committed == 50
    finally:
        await writer.stop()
        await run_in_loop(dead.dispose())


def _run_child_until_killed(directory: Path, after_lines: int) -> int:
    """Start the journalling child, SIGKILL it mid-way; return how many appends returned."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), "10000000"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    lines = 0
    try:
        while lines < after_lines and child.stdout.readline():
            lines += 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
    lines += len(child.stdout.read().splitlines())
    child.stdout.close()
    assert child.wait(timeout=10) == -signal.SIGKILL
    return lines


@pytest_twisted.ensureDeferred
async def test_kill_9_loses_no_record_whose_append_returned(db: Database, tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    returned = _run_child_until_killed(directory, after_lines=2000)
    assert 2000 <= returned < 10_000_000
    before_replay = tmp_path / "copy"
    shutil.copytree(directory, before_replay)

    writer = _writer(Journal(directory), _committing_to(db))
    try:
        replayed = await writer.replay()
    finally:
        await writer.stop()
    # The child may have been killed between an append and its line on stdout.
    assert replayed in (returned, returned + 1)
    assert await _stored(db) == list(range(replayed))
    assert writer.torn_lines == 0

    for path in (directory, before_replay):  # replayed again: from its checkpoint, from scratch
        again = _writer(Journal(path), _committing_to(db))
        try:
            assert await again.replay() == (0 if path == directory else replayed)
        finally:
            await again.stop()
    assert await _stored(db) == list(range(replayed))


def test_a_journal_in_use_by_another_process_is_refused(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path), "1", "hold"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "1 0\n"
        with pytest.raises(JournalLocked, match="in use"):
            Journal(tmp_path)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    journal = Journal(tmp_path)  # the kernel let go of the dead process's lock
    assert [e.seq for e in journal.pending()] == [1]
    journal.close()
