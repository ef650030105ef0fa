"""The sink's second thread: durable syncs and closes, so the writer never waits for the disk.

Measured on ext4 (loadtests/bench_recording.py): with 1,500-2,000 open recordings the
once-a-second sync takes 0.5-1.6 s, and a writer that did it inline stalled long enough to drop
frames. Here the writer rewrites the headers (page cache, microseconds) and hands the list to
this thread, which ``syncfs``es each filesystem once (or ``fdatasync``s a few files one by one)
and finishes closes: last sync, ``close``, rename ``.part`` to ``.wav``, directory sync, sha256,
report. Work is done in submission order, so a file descriptor named in a sync request is still
open when the request runs: only this thread closes descriptors, and only after the writer has
handed the file over.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from recording import wav
from recording.files import OpenFile, RecordingClosed, describe, fsync_dir, sha256_file, syncfs

log = logging.getLogger("recording.sink")


@dataclass(frozen=True, slots=True)
class SyncRequest:
    files: list[tuple[OpenFile, int]]  # (file, data length its header states)


@dataclass(frozen=True, slots=True)
class CloseRequest:
    file: OpenFile
    at: float


class _Settable(Protocol):
    def set(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Barrier:
    done: _Settable  # a threading.Event


_Work = SyncRequest | CloseRequest | Barrier | None


class Finisher:
    """The work of the second thread; ``RecordingSink`` owns the thread that runs ``run``."""

    def __init__(
        self,
        on_closed: Callable[[RecordingClosed], None] | None,
        *,
        durable: bool,
        syncfs_min_files: int,
        clock: Callable[[], float],
    ) -> None:
        self._on_closed = on_closed
        self._durable = durable
        self._syncfs_min = syncfs_min_files
        self._clock = clock
        self._queue: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self.sync_in_flight = False  # read by the writer to skip a round rather than pile up
        self.errors = 0
        self.syncs = 0
        self.last_sync_s = 0.0
        self.max_sync_s = 0.0

    def put(self, work: SyncRequest | CloseRequest | Barrier) -> None:
        if isinstance(work, SyncRequest):
            self.sync_in_flight = True
        self._queue.put(work)

    def put_stop(self) -> None:
        """``run`` returns once everything queued before this is done."""
        self._queue.put(None)

    def run(self) -> None:
        while (work := self._queue.get()) is not None:
            try:
                if isinstance(work, SyncRequest):
                    self._sync(work)
                elif isinstance(work, CloseRequest):
                    self._close(work.file, work.at)
                else:
                    work.done.set()
            except Exception:
                self.errors += 1
                log.exception("recording finisher error")

    def _sync(self, request: SyncRequest) -> None:
        started = self._clock()
        files = [(f, n) for f, n in request.files if f.fd is not None and f.error is None]
        if len(files) >= self._syncfs_min:
            by_device: dict[int, list[tuple[OpenFile, int]]] = {}
            for entry in files:
                by_device.setdefault(entry[0].device, []).append(entry)
            for group in by_device.values():
                fd = group[0][0].fd
                if fd is not None and syncfs(fd):
                    for f, n in group:
                        f.synced_len = n
                else:
                    self._sync_each(group)
        else:
            self._sync_each(files)
        self.syncs += 1
        self.last_sync_s = self._clock() - started
        self.max_sync_s = max(self.max_sync_s, self.last_sync_s)
        self.sync_in_flight = False

    def _sync_each(self, files: list[tuple[OpenFile, int]]) -> None:
        for f, n in files:
            assert f.fd is not None
            try:
                os.fdatasync(f.fd)
                f.synced_len = n
            except OSError as exc:
                self._failed(f, exc)

    def _failed(self, f: OpenFile, exc: OSError) -> None:
        """A sync failed (EIO): the writer sees ``error`` and stops appending to this file."""
        self.errors += 1
        if f.error is None:
            f.error = describe(exc)
        log.error("recording %s failed to sync: %s", f.action.recording_id, describe(exc))

    def _close(self, f: OpenFile, at: float) -> None:
        path = f.action.path
        exists = f.fd is not None
        if f.fd is not None:
            path = f.part
            if self._durable and f.error is None:
                try:
                    os.fdatasync(f.fd)
                except OSError as exc:
                    self._failed(f, exc)
            os.close(f.fd)
            f.fd = None  # a sync request queued behind this close must not touch a reused fd
            try:
                os.rename(f.part, f.action.path)
                path = f.action.path
                if self._durable:
                    fsync_dir(os.path.dirname(path))
            except OSError as exc:
                self._failed(f, exc)
        closed = RecordingClosed(
            recording_id=f.action.recording_id,
            call_id=f.action.call_id,
            path=path,
            channels=f.action.channels,
            opened_at=f.action.at,
            closed_at=at,
            duration_s=wav.duration_s(f.data_len, f.action.channels),
            sha256=sha256_file(path) if exists else "",
            bytes=wav.HEADER_SIZE + f.data_len if exists else 0,
            marks=tuple(f.marks),
            error=f.error,
        )
        if self._on_closed is not None:
            try:
                self._on_closed(closed)
            except Exception:
                log.exception("recording %s: on_closed callback failed", closed.recording_id)
