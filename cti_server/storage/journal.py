"""The local journal of call records and queue events (DESIGN.md §3, Durability).

An entry counts as done once ``append`` returns: its line is in the kernel's page cache, which a
``kill -9`` of this process cannot take away. ``append`` runs on the reactor and never fsyncs; a
background thread calls ``sync`` (one fsync for everything written since the last one) and, once
a batch is in SQL, ``mark_committed``, which persists the checkpoint and deletes segments whose
every entry is committed. A power cut can therefore lose at most the last ~100 ms.

Layout of the directory: ``checkpoint.json`` (this journal's random id and the highest sequence
number known to be in SQL, replaced atomically) and ``segment-NNNNNNNN.jsonl`` files, one JSON
object per line. A run never appends to a segment a previous run left: a line torn by a crash
(or a failed write) would glue itself to the next one. Torn or unreadable lines are skipped
and counted in ``torn_lines``. ``lock`` holds a POSIX lock while the journal is open: a second
process on the same directory would hand out the same sequence numbers.

Sequence numbers grow across segments and runs. With the journal id they make an entry's
``entry_key``, unique across nodes sharing one database, which the SQL side uses to insert each
entry once however often it is replayed. Uncommitted entries are also held in memory (what
``pending`` returns), so a long database outage costs memory as well as disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from itertools import islice, takewhile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"
LOCK = "lock"
SEGMENT_PREFIX = "segment-"
SEGMENT_SUFFIX = ".jsonl"
ROTATE_BYTES = 1 << 20  # a fully committed segment this big is replaced by a fresh one
MAX_SEGMENT_BYTES = 64 << 20  # a segment this big is closed even with entries still pending


class JournalClosed(RuntimeError):
    """``append`` after ``close``: nothing more can be made durable here."""


class JournalLocked(RuntimeError):
    """Another process has this journal open: two writers would hand out the same seqs."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One journalled record; ``payload`` is the caller's dict, which must not change after."""

    journal_id: str
    seq: int
    kind: str
    key: str
    payload: dict[str, Any]

    @property
    def entry_key(self) -> str:
        return f"{self.kind}:{self.journal_id}:{self.seq}"


@dataclass(slots=True)
class _Segment:
    path: Path
    last_seq: int  # 0 while it holds no entry


class Journal:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rotate_bytes: int = ROTATE_BYTES,
        max_segment_bytes: int = MAX_SEGMENT_BYTES,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.path / LOCK)
        self._rotate_bytes = rotate_bytes
        self._max_segment_bytes = max_segment_bytes
        self._lock = threading.Lock()  # appends (reactor) against sync and compaction (thread)
        self._checkpoint_lock = threading.Lock()
        self.torn_lines = 0
        self._pending: deque[Entry] = deque()
        self._segments: list[_Segment] = []
        numbers = self._segment_numbers()
        self.journal_id, self._committed = self._load_checkpoint(bool(numbers))
        self._seq = self._committed
        for number in numbers:
            self._seq = max(self._seq, self._read_segment(self._segment_path(number)))
        self._next_number = (numbers[-1] + 1) if numbers else 1
        self._synced = self._seq  # what an earlier run left was fsynced while it was read
        self._fd: int | None = None
        self._current: _Segment | None = None
        self._size = 0
        self._unsynced = 0
        self._retired: list[int] = []  # rotated out: fsync, then close
        self._dir_dirty = False
        self._closed = False
        self._compact(self._committed)  # segments an earlier run left fully committed
        if self.torn_lines:
            log.warning(
                "journal %s: %d torn or unreadable lines skipped", self.path, self.torn_lines
            )

    # --- the reactor's side -----------------------------------------------------------------

    def append(self, kind: str, key: str, payload: dict[str, Any]) -> int:
        """Write one entry with a single ``write`` and return its sequence number.

        ValueError for a payload JSON cannot carry (NaN, which PostgreSQL's JSONB refuses too);
        OSError when the disk refuses it, after which the next append starts a new segment.
        """
        with self._lock:
            if self._closed:
                raise JournalClosed(f"journal {self.path} is closed")
            seq = self._seq + 1
            line = _encode(seq, kind, key, payload)
            if self._fd is None or self._size >= self._max_segment_bytes:
                self._open_segment()
            assert self._fd is not None and self._current is not None
            try:
                _write_all(self._fd, line)
            except OSError:
                self._retire_current()  # maybe a partial line: never write after it
                raise
            self._seq = seq
            self._size += len(line)
            self._unsynced += len(line)
            self._current.last_seq = seq
            self._pending.append(Entry(self.journal_id, seq, kind, key, payload))
        return seq

    def remember(self, kind: str, key: str, payload: dict[str, Any]) -> int:
        """Hold an entry the disk refused in memory only, so SQL still gets it if it can."""
        with self._lock:
            self._seq += 1
            self._pending.append(Entry(self.journal_id, self._seq, kind, key, payload))
            return self._seq

    def pending(self, *, upto: int | None = None, limit: int | None = None) -> list[Entry]:
        """Entries not yet committed, oldest first (at most ``limit``, none after ``upto``)."""
        with self._lock:
            entries = iter(self._pending)
            if upto is not None:
                entries = takewhile(lambda e: e.seq <= upto, entries)
            return list(islice(entries, limit))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def synced_seq(self) -> int:
        """Every entry up to here is on disk (fsynced)."""
        return self._synced

    @property
    def committed_seq(self) -> int:
        return self._committed

    @property
    def unsynced_bytes(self) -> int:
        return self._unsynced

    # --- the background thread's side --------------------------------------------------------

    def sync(self) -> int:
        """fsync what was written since the last call; return the sequence now on disk."""
        with self._lock:
            fd, upto, unsynced = self._fd, self._seq, self._unsynced
            retired, self._retired = self._retired, []
            dir_dirty, self._dir_dirty = self._dir_dirty, False
            self._unsynced = 0
        try:
            _fsync_and_close(retired)
            if fd is not None and unsynced:
                os.fdatasync(fd)
            if dir_dirty:
                _fsync_dir(self.path)
        except OSError:
            with self._lock:
                self._unsynced += unsynced
                self._dir_dirty = self._dir_dirty or dir_dirty
            raise
        with self._lock:
            self._synced = max(self._synced, upto)
        return upto

    def mark_committed(self, upto_seq: int) -> None:
        """Everything up to ``upto_seq`` is in SQL: record it, drop what is no longer needed."""
        with self._checkpoint_lock:
            with self._lock:
                if upto_seq > self._seq:
                    raise ValueError(f"seq {upto_seq} was never appended (last {self._seq})")
                if upto_seq <= self._committed:
                    return
                self._committed = upto_seq
                while self._pending and self._pending[0].seq <= upto_seq:
                    self._pending.popleft()
            self._write_checkpoint(upto_seq)
            self._compact(upto_seq)

    def close(self) -> None:
        """fsync and close; pending entries stay on disk for the next run's replay."""
        with self._lock:
            self._closed = True
            fds = [*self._retired, *([] if self._fd is None else [self._fd])]
            self._retired, self._fd, self._current = [], None, None
            lock_fd, self._lock_fd = self._lock_fd, -1
        try:
            _fsync_and_close(fds)
        finally:
            if lock_fd >= 0:
                os.close(lock_fd)  # releases the lock

    # --- internals --------------------------------------------------------------------------

    def _segment_path(self, number: int) -> Path:
        return self.path / f"{SEGMENT_PREFIX}{number:08d}{SEGMENT_SUFFIX}"

    def _segment_numbers(self) -> list[int]:
        numbers = []
        for p in self.path.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}"):
            digits = p.name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]
            if digits.isdigit():
                numbers.append(int(digits))
        return sorted(numbers)

    def _load_checkpoint(self, has_segments: bool) -> tuple[str, int]:
        path = self.path / CHECKPOINT
        try:
            state = json.loads(path.read_bytes())
            return str(state["journal_id"]), int(state["committed"])
        except FileNotFoundError:
            if has_segments:
                log.warning("journal %s: segments without a checkpoint, replaying all", self.path)
        except (ValueError, KeyError, TypeError) as exc:
            # Written by rename, so never torn: this is damage, and a guess could lose data.
            raise ValueError(f"unreadable journal checkpoint {path}: {exc}") from exc
        journal_id = secrets.token_hex(8)
        self.journal_id = journal_id
        self._write_checkpoint(0)
        return journal_id, 0

    def _write_checkpoint(self, committed: int) -> None:
        state = {"journal_id": self.journal_id, "committed": committed}
        tmp = self.path / f"{CHECKPOINT}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
        try:
            _write_all(fd, json.dumps(state).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path / CHECKPOINT)
        _fsync_dir(self.path)

    def _read_segment(self, path: Path) -> int:
        """Queue the uncommitted entries of an earlier run's segment; return its last seq."""
        with path.open("rb") as f:
            data = f.read()
            os.fsync(f.fileno())
        lines = data.split(b"\n")
        if lines.pop():  # no newline after the last line: a write cut short
            self.torn_lines += 1
        last = 0
        for line in lines:
            try:
                record = json.loads(line)
                entry = Entry(
                    self.journal_id,
                    int(record["seq"]),
                    str(record["kind"]),
                    str(record["key"]),
                    dict(record["payload"]),
                )
            except (ValueError, KeyError, TypeError):
                self.torn_lines += 1
                continue
            last = max(last, entry.seq)
            if entry.seq > self._committed:
                self._pending.append(entry)
        self._segments.append(_Segment(path, last))
        return last

    def _open_segment(self) -> None:
        self._retire_current()
        path = self._segment_path(self._next_number)
        self._next_number += 1
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(path, flags, 0o640)
        self._current = _Segment(path, 0)
        self._segments.append(self._current)
        self._size = 0
        self._dir_dirty = True

    def _retire_current(self) -> None:
        if self._fd is not None:
            self._retired.append(self._fd)
        self._fd, self._current = None, None

    def _compact(self, committed: int) -> None:
        """Delete segments whose every entry is in SQL (the current one once it is big)."""
        with self._lock:
            current = self._current
            full = self._size >= self._rotate_bytes
            if current is not None and current.last_seq <= committed and full:
                self._retire_current()
            done = [s for s in self._segments if s is not self._current]
            done = [s for s in done if s.last_seq <= committed]
            self._segments = [s for s in self._segments if s not in done]
        for segment in done:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()


def _encode(seq: int, kind: str, key: str, payload: dict[str, Any]) -> bytes:
    record = {"seq": seq, "kind": kind, "key": key, "payload": payload}
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode() + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _lock(path: Path) -> int:
    """A POSIX lock held while the journal is open: per process (the kernel drops it when the
    process dies, even by ``kill -9``), so a journal reopened in the same process is allowed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise JournalLocked(f"journal {path.parent} is in use by another process") from exc
    return fd


def _fsync_and_close(fds: list[int]) -> None:
    """Close every one of ``fds`` whatever happens; raise the first fsync error after."""
    error: OSError | None = None
    for fd in fds:
        try:
            os.fsync(fd)
        except OSError as exc:
            error = error or exc
        finally:
            os.close(fd)
    if error is not None:
        raise error


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
