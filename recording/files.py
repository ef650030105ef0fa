"""Recording files on disk: what the sink reports, low-level writes and syncs, crash repair.

Edge code (it does I/O) shared by the sink's two threads and by start-up: ``recover`` repairs the
``*.wav.part`` files a crash left open, ``delete_files`` carries out retention's decisions.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from recording import wav
from recording.recorder import OpenRecording

log = logging.getLogger("recording.files")
PART_SUFFIX = ".part"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    label: str
    at: float
    offset_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingClosed:
    """Reported on the sink's thread; bridge it to the reactor with ``callFromThread``.

    ``error`` is set when the recording failed (full disk, I/O error): the file then holds what
    was written before the failure, with a consistent header. ``bytes == 0`` means no file.
    """

    recording_id: str
    call_id: str
    path: str
    channels: int
    opened_at: float
    closed_at: float
    duration_s: float
    sha256: str
    bytes: int
    marks: tuple[Mark, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairedFile:
    path: str
    channels: int
    duration_s: float
    bytes: int
    dropped_bytes: int
    sha256: str


@dataclass(slots=True, eq=False)
class OpenFile:
    """One recording being written. The writer thread owns it until it hands it over to close."""

    action: OpenRecording
    part: str
    fd: int | None = None
    device: int = 0
    data_len: int = 0
    header_len: int = -1  # data length the on-disk header states; -1: header never rewritten
    synced_len: int = -1  # data length known durable (set by the finisher)
    error: str | None = None
    marks: list[Mark] = field(default_factory=list)


class PartialWrite(Exception):
    def __init__(self, written: int, cause: OSError) -> None:
        super().__init__(str(cause))
        self.written, self.cause = written, cause


def describe(exc: OSError) -> str:
    return f"{errno.errorcode.get(exc.errno or 0, 'EUNKNOWN')}: {exc.strerror or exc}"


def write_all(fd: int, data: bytes) -> int:
    """``os.write`` until done; a regular file only writes short when the disk fills up."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        try:
            n = os.write(fd, view[done:])
        except OSError as exc:
            raise PartialWrite(done, exc) from exc
        if n == 0:
            raise PartialWrite(done, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        done += n
    return done


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux ``syncfs(2)`` (not in ``os``); ctypes' CDLL releases the GIL around the call."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return cast(Callable[[int], int], fn)


_SYNCFS = _load_syncfs()


def syncfs(fd: int) -> bool:
    """Flush the whole filesystem holding ``fd``: one journal commit for every file on it.

    Returns False when unavailable or failed; the caller then syncs file by file, which also
    tells which file failed.
    """
    return _SYNCFS is not None and _SYNCFS(fd) == 0


def fsync_dir(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def recover(directory: str, default_channels: int = 2, durable: bool = True) -> list[RepairedFile]:
    """Repair every ``*.wav.part`` under ``directory`` left by a crash; run before the sink starts.

    Files that cannot be parsed are logged and left in place for a human.
    """
    repaired: list[RepairedFile] = []
    for part in sorted(Path(directory).rglob("*.wav" + PART_SUFFIX)):
        try:
            repaired.append(_repair_file(str(part), default_channels, durable))
        except (OSError, wav.WavError) as exc:
            log.error("cannot repair %s: %s", part, exc)
    return repaired


def _repair_file(part: str, default_channels: int, durable: bool) -> RepairedFile:
    fd = os.open(part, os.O_RDWR | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        plan = wav.repair(os.pread(fd, wav.HEADER_SIZE, 0), size, default_channels)
        if plan.truncate_to != size:
            os.ftruncate(fd, plan.truncate_to)
        os.pwrite(fd, plan.header, 0)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    final = part[: -len(PART_SUFFIX)]
    if os.path.exists(final):
        final = final[: -len(".wav")] + ".recovered.wav"
    os.rename(part, final)
    if durable:
        fsync_dir(os.path.dirname(final))
    duration = wav.duration_s(plan.data_len, plan.channels, plan.rate)
    log.warning("repaired %s: %.2f s, %d torn bytes dropped", final, duration, plan.dropped_bytes)
    return RepairedFile(
        path=final,
        channels=plan.channels,
        duration_s=duration,
        bytes=plan.truncate_to,
        dropped_bytes=plan.dropped_bytes,
        sha256=sha256_file(final),
    )


def delete_files(paths: Iterable[str]) -> list[str]:
    """Unlink expired recordings (retention); a file already gone counts as deleted.

    Returns the paths that could not be deleted, so their index rows are kept for a retry.
    """
    failed: list[str] = []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.error("retention: cannot delete %s: %s", path, exc)
            failed.append(path)
    return failed
