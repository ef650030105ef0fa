"""The recording sink: executes the recorder's actions off the reactor thread.

The reactor only appends actions to a buffer under a lock (``submit``, once per media tick with
every call's frames). The writer thread owns the open files: it swaps the whole buffer out,
appends each file's pending frames with one ``write``, and every ``flush_interval`` rewrites the
header of every file that grew (DESIGN.md §3: header updated and synced at least every second
and at close). The syncs themselves, and closing, run on a second thread (``finisher``), so a
slow disk delays durability, never the writing. Cost per frame: one list append on the reactor,
a slice of a joined write on the writer; syscalls scale with files, not frames.

Crash safety: a recording is ``<path>.part`` while open and renamed to ``<path>`` at close. Data
is only ever appended after a valid header, so a ``kill -9`` leaves a file whose header sizes lag
its length; ``recover`` (run at start-up, before the sink opens anything) recomputes them with
``wav.repair`` and renames the file. A write error (ENOSPC, EIO) fails that recording only: it is
logged and counted in ``errors``, the file is cut back to whole frames with a consistent header,
later frames for it are dropped, and the call never sees an exception.

Backpressure: when more than ``max_pending_bytes`` of frames wait for the writer, new frames are
dropped and counted in ``dropped_bytes``; opens, marks and closes are always queued.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from recording import wav
from recording.files import (
    PART_SUFFIX,
    Mark,
    OpenFile,
    PartialWrite,
    RecordingClosed,
    RepairedFile,
    delete_files,
    describe,
    recover,
    write_all,
)
from recording.finisher import Barrier, CloseRequest, Finisher, SyncRequest
from recording.recorder import (
    CloseRecording,
    MarkSegment,
    OpenRecording,
    RecordingAction,
    WriteFrames,
)

__all__ = [
    "PART_SUFFIX",
    "Mark",
    "RecordingClosed",
    "RecordingSink",
    "RepairedFile",
    "delete_files",
    "recover",
]

log = logging.getLogger("recording.sink")


@dataclass(slots=True)
class _Sync:
    done: threading.Event
    fsync: bool


class RecordingSink:
    def __init__(
        self,
        on_closed: Callable[[RecordingClosed], None] | None = None,
        *,
        flush_interval: float = 1.0,
        max_pending_bytes: int = 128 << 20,  # 4 s of 1,000 stereo calls
        min_batch_interval: float = 0.0,
        durable: bool = True,
        syncfs_min_files: int = 16,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = flush_interval
        self._max_pending = max_pending_bytes
        self._min_batch = min_batch_interval
        self._durable = durable
        self._clock = clock
        self._finisher = Finisher(
            on_closed, durable=durable, syncfs_min_files=syncfs_min_files, clock=clock
        )
        self._cond = threading.Condition()
        self._buf: list[RecordingAction | _Sync] = []
        self._pending_bytes = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._finisher_thread: threading.Thread | None = None
        self._files: dict[str, OpenFile] = {}
        self._unsynced: list[OpenFile] = []  # header rewritten, not yet handed to a sync
        self._dirs: set[str] = set()
        self._errors = 0
        self.dropped_bytes = 0
        self.bytes_written = 0
        self.frames_written = 0  # WriteFrames actions that reached a file
        self.header_rounds = 0
        self._dropped_logged = 0

    # --- reactor side -----------------------------------------------------------------------

    def start(self) -> None:
        self._finisher_thread = threading.Thread(
            target=self._finisher.run, name="recording-finisher", daemon=True
        )
        self._finisher_thread.start()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    def submit(self, actions: Iterable[RecordingAction]) -> None:
        """Queue one tick's actions; never blocks beyond a short lock, never raises on I/O."""
        with self._cond:
            for action in actions:
                if type(action) is WriteFrames:
                    size = len(action.pcm)
                    if self._pending_bytes + size > self._max_pending:
                        self.dropped_bytes += size
                        continue
                    self._pending_bytes += size
                self._buf.append(action)
            self._cond.notify()

    def sync(self, timeout: float | None = None, *, fsync: bool = False) -> bool:
        """Wait until everything submitted so far is written, closed and reported (and every
        header rewritten and synced if ``fsync``)."""
        done = threading.Event()
        with self._cond:
            self._buf.append(_Sync(done, fsync))
            self._cond.notify()
        return done.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Write what is queued, close every open recording (reported as usual), end threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self._finisher.put_stop()
        if self._finisher_thread is not None:
            self._finisher_thread.join(timeout)

    @property
    def errors(self) -> int:
        return self._errors + self._finisher.errors

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def open_count(self) -> int:
        return len(self._files)

    @property
    def max_sync_s(self) -> float:
        """Longest once-a-second sync so far: above ~1 s the disk cannot keep the promise."""
        return self._finisher.max_sync_s

    def cpu_s(self) -> float:
        """CPU seconds used by the writer and finisher threads (capacity planning)."""
        return sum(_thread_cpu_s(t) for t in (self._thread, self._finisher_thread))

    # --- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        next_flush = self._clock() + self._interval
        last_batch = float("-inf")
        while True:
            with self._cond:
                while not self._stopping:
                    now = self._clock()
                    if now >= next_flush:
                        break
                    ready_at = last_batch + self._min_batch
                    if self._buf and now >= ready_at:
                        break
                    wait = next_flush - now if not self._buf else min(ready_at, next_flush) - now
                    self._cond.wait(wait)
                batch, self._buf = self._buf, []
                self._pending_bytes = 0
                stopping = self._stopping
            last_batch = self._clock()
            try:
                self._process(batch)
                if stopping or self._clock() >= next_flush:
                    self._flush_headers(force=stopping)
                    next_flush = self._clock() + self._interval
                if stopping:
                    for f in list(self._files.values()):
                        self._close(f, time.time())
            except Exception:
                # A bug must not silently end every recording on the node: count, log, go on.
                self._errors += 1
                log.exception("recording writer error")
            if stopping:
                return

    def _process(self, batch: list[RecordingAction | _Sync]) -> None:
        pending: dict[str, list[bytes]] = {}
        for action in batch:
            if type(action) is WriteFrames:
                chunks = pending.get(action.recording_id)
                if chunks is None:
                    pending[action.recording_id] = [action.pcm]
                else:
                    chunks.append(action.pcm)
            elif isinstance(action, OpenRecording):
                self._open(action)
            elif isinstance(action, MarkSegment):
                f = self._files.get(action.recording_id)
                if f is not None:
                    f.marks.append(Mark(label=action.label, at=action.at, offset_s=action.offset_s))
            elif isinstance(action, CloseRecording):
                chunks = pending.pop(action.recording_id, None)
                f = self._files.get(action.recording_id)
                if f is not None:
                    if chunks:
                        self._write(f, chunks)
                    self._close(f, action.at)
            elif isinstance(action, _Sync):
                self._write_pending(pending)
                if action.fsync:
                    self._flush_headers(force=True)
                self._finisher.put(Barrier(action.done))
        self._write_pending(pending)

    def _write_pending(self, pending: dict[str, list[bytes]]) -> None:
        for recording_id, chunks in pending.items():
            f = self._files.get(recording_id)
            if f is None:
                self.dropped_bytes += sum(map(len, chunks))
            else:
                self._write(f, chunks)
        pending.clear()

    def _open(self, action: OpenRecording) -> None:
        f = OpenFile(action=action, part=action.path + PART_SUFFIX)
        self._files[action.recording_id] = f
        try:
            directory = os.path.dirname(f.part)
            if directory not in self._dirs:
                os.makedirs(directory, exist_ok=True)
                self._dirs.add(directory)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
            f.fd = os.open(f.part, flags, 0o640)
            f.device = os.fstat(f.fd).st_dev
            write_all(f.fd, wav.header(0, action.channels))
        except (OSError, PartialWrite) as exc:
            # Not even a header fits: leave no unreadable file behind, just the failure.
            if f.fd is not None:
                os.close(f.fd)
                f.fd = None
                with contextlib.suppress(OSError):
                    os.unlink(f.part)
            self._fail(f, exc.cause if isinstance(exc, PartialWrite) else exc)

    def _write(self, f: OpenFile, chunks: list[bytes]) -> None:
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if f.fd is None or f.error is not None:
            self.dropped_bytes += len(data)
            return
        try:
            written = write_all(f.fd, data)
        except PartialWrite as partial:
            f.data_len += partial.written
            self.bytes_written += partial.written
            self._fail(f, partial.cause)
            return
        f.data_len += written
        self.bytes_written += written
        self.frames_written += len(chunks)

    def _fail(self, f: OpenFile, exc: OSError) -> None:
        """Count and log, then leave the file cut to whole frames with a header that matches."""
        self._errors += 1
        f.error = describe(exc)
        log.error("recording %s failed: %s (%s)", f.action.recording_id, f.error, f.part)
        if f.fd is None:
            return
        align = wav.block_align(f.action.channels)
        whole = f.data_len - f.data_len % align
        try:
            if whole != f.data_len:
                os.ftruncate(f.fd, wav.HEADER_SIZE + whole)
                f.data_len = whole
            self._rewrite_header(f)
            if self._durable:
                os.fdatasync(f.fd)
        except OSError as again:
            self._errors += 1
            log.error("recording %s: header not updated: %s", f.action.recording_id, again)

    def _rewrite_header(self, f: OpenFile) -> None:
        assert f.fd is not None
        os.pwrite(f.fd, wav.header(f.data_len, f.action.channels), 0)
        f.header_len = f.data_len

    def _flush_headers(self, force: bool = False) -> None:
        """Bring every grown file's header up to date and hand the lot to one sync."""
        self.header_rounds += 1
        for f in self._files.values():
            if f.fd is not None and f.error is None and f.header_len != f.data_len:
                try:
                    self._rewrite_header(f)
                    self._unsynced.append(f)
                except OSError as exc:
                    self._fail(f, exc)
        if not self._durable:
            self._unsynced.clear()
        elif self._unsynced and (force or not self._finisher.sync_in_flight):
            # A sync still running means the disk is behind: the next round takes these too.
            files = self._files
            request = [(f, f.header_len) for f in self._unsynced if f.action.recording_id in files]
            self._finisher.put(SyncRequest(request))
            self._unsynced = []
        if self.dropped_bytes != self._dropped_logged:
            log.warning(
                "recording sink overloaded: %d bytes of frames dropped so far", self.dropped_bytes
            )
            self._dropped_logged = self.dropped_bytes

    def _close(self, f: OpenFile, at: float) -> None:
        """Final header here; the last sync, rename, hash and report on the finisher."""
        del self._files[f.action.recording_id]
        if f.fd is not None and f.error is None and f.header_len != f.data_len:
            try:
                self._rewrite_header(f)
            except OSError as exc:
                self._fail(f, exc)
        self._finisher.put(CloseRequest(f, at))


def _thread_cpu_s(thread: threading.Thread | None) -> float:
    if thread is None or thread.ident is None or not thread.is_alive():
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
