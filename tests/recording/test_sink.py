"""The recording sink on real files and a real worker thread.

Covers what the issue asks of recordings: channels that carry the audio sent (correlation), a
header readable by ``wave`` and ``sox`` while the call runs, files that survive ``kill -9`` and are
repaired at start-up, and a full disk that fails the recording but not the call.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cti_server.rtp import g711
from recording import wav
from recording.recorder import (
    FRAME_S,
    CloseRecording,
    MarkSegment,
    OpenRecording,
    Recorder,
    WriteFrames,
)
from recording.sink import RecordingClosed, RecordingSink, delete_files, recover

ROOT = Path(__file__).resolve().parents[2]
SYNC_TIMEOUT = 10.0


def frame(i: int, channels: int = 2) -> bytes:
    """Frame ``i``: every left sample is i, every right sample -i (so order and loss show)."""
    if channels == 1:
        return wav.mono(np.full(160, i % 32000))
    return wav.interleave(np.full(160, i % 32000), np.full(160, -(i % 32000)))


def read_wav(path: Path | str) -> tuple[int, int, bytes]:
    with wave.open(str(path), "rb") as w:
        return w.getnchannels(), w.getnframes(), w.readframes(w.getnframes())


def open_action(path: Path, rid: str = "r1", channels: int = 2) -> OpenRecording:
    return OpenRecording(recording_id=rid, call_id="c1", path=str(path), channels=channels, at=10.0)


class Collector:
    def __init__(self) -> None:
        self.closed: list[RecordingClosed] = []
        self.event = threading.Event()

    def __call__(self, closed: RecordingClosed) -> None:
        self.closed.append(closed)
        self.event.set()


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def sink(collector: Collector) -> Iterator[RecordingSink]:
    s = RecordingSink(collector, flush_interval=0.05)
    s.start()
    yield s
    s.stop(timeout=SYNC_TIMEOUT)


def test_frames_land_in_order_and_close_reports_hash_marks_and_duration(
    tmp_path: Path, sink: RecordingSink, collector: Collector
) -> None:
    path = tmp_path / "2024-01-01" / "r1.wav"
    sink.submit([open_action(path)])
    for i in range(100):
        sink.submit([WriteFrames(recording_id="r1", pcm=frame(i))])
        if i == 50:
            sink.submit([MarkSegment(recording_id="r1", label="agent:a2", at=11.0, offset_s=1.0)])
    sink.submit([CloseRecording(recording_id="r1", at=12.0)])
    assert sink.sync(SYNC_TIMEOUT)
    [closed] = collector.closed
    assert closed.path == str(path) and path.exists() and not Path(f"{path}.part").exists()
    assert closed.duration_s == pytest.approx(2.0)
    assert closed.bytes == path.stat().st_size == 44 + 100 * 640
    assert closed.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(m.label, m.offset_s) for m in closed.marks] == [("agent:a2", 1.0)]
    assert (closed.error, closed.opened_at, closed.closed_at) == (None, 10.0, 12.0)
    channels, nframes, data = read_wav(path)
    assert (channels, nframes) == (2, 16000)
    assert data == b"".join(frame(i) for i in range(100))
    assert sink.errors == 0 and sink.frames_written == 100 and sink.open_count == 0


def test_header_readable_by_wave_and_sox_while_recording(
    tmp_path: Path, sink: RecordingSink
) -> None:
    path = tmp_path / "r1.wav"
    part = Path(f"{path}.part")
    sink.submit(
        [open_action(path)] + [WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(25)]
    )
    assert sink.sync(SYNC_TIMEOUT, fsync=True)
    for expected in (25 * 160, 75 * 160):
        snapshot = tmp_path / "snapshot.wav"  # sox picks the format from the extension
        shutil.copyfile(part, snapshot)
        assert read_wav(snapshot)[:2] == (2, expected)
        if shutil.which("sox"):
            out = subprocess.run(
                ["sox", "--i", "-s", str(snapshot)], capture_output=True, text=True, check=True
            )
            assert int(out.stdout.strip()) == expected
            info = subprocess.run(["sox", "--i", str(snapshot)], capture_output=True, text=True)
            assert "Channels       : 2" in info.stdout and "8000" in info.stdout
        sink.submit([WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(25, 75)])
        assert sink.sync(SYNC_TIMEOUT, fsync=True)


@pytest.mark.parametrize("syncfs_min_files", [1, 1000], ids=["syncfs", "fdatasync"])
def test_headers_are_rewritten_by_the_periodic_flush_without_being_asked(
    tmp_path: Path, syncfs_min_files: int
) -> None:
    now = [0.0]
    s = RecordingSink(flush_interval=1.0, clock=lambda: now[0], syncfs_min_files=syncfs_min_files)
    s.start()
    try:
        parts = [Path(f"{tmp_path / f'r{k}.wav'}.part") for k in range(3)]
        for k in range(3):
            s.submit([open_action(tmp_path / f"r{k}.wav", f"r{k}")])
            s.submit([WriteFrames(recording_id=f"r{k}", pcm=frame(i)) for i in range(10 + k)])
        assert s.sync(SYNC_TIMEOUT)
        for part in parts:  # written, not yet flushed
            assert wav.parse_header(part.read_bytes()[:44]).data_len == 0
        now[0] = 1.5
        assert s.sync(SYNC_TIMEOUT)  # wakes the worker: it writes, then sees the flush is due
        assert s.sync(SYNC_TIMEOUT)  # ... and this one is processed after that flush
        for k, part in enumerate(parts):
            assert wav.parse_header(part.read_bytes()[:44]).data_len == (10 + k) * 640
            assert read_wav(part)[1] == (10 + k) * 160
        assert s.header_rounds >= 1 and s.errors == 0
    finally:
        s.stop(timeout=SYNC_TIMEOUT)


def test_correlation_caller_left_agent_right_through_g711(
    tmp_path: Path, sink: RecordingSink, collector: Collector
) -> None:
    """440 Hz from the caller (µ-law) and 1 kHz from the agent (A-law), paused in the middle."""
    t = np.arange(200 * 160) / 8000
    caller_src = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    agent_src = (6000 * np.sin(2 * np.pi * 1000 * t + 0.3)).astype(np.int16)
    counter = iter(range(1, 100))
    recorder = Recorder(lambda: f"rec{next(counter)}", str(tmp_path), {"q": "all"})
    sink.submit(recorder.agent_connected("call-1", "a1", 1e9, queue="q"))
    for i in range(200):
        now = 1e9 + i * FRAME_S
        if i == 120:
            sink.submit(recorder.pause("call-1", now))
        if i == 150:
            sink.submit(recorder.resume("call-1", now))
        sl = slice(i * 160, (i + 1) * 160)
        caller = g711.ulaw_decode(g711.ulaw_encode(caller_src[sl]))
        agent = g711.alaw_decode(g711.alaw_encode(agent_src[sl]))
        sink.submit(recorder.feed("call-1", caller, agent, now))
    sink.submit(recorder.call_ended("call-1", 1e9 + 4))
    assert sink.sync(SYNC_TIMEOUT)
    [closed] = collector.closed
    assert [m.label for m in closed.marks] == ["agent:a1", "paused", "resumed"]
    channels, nframes, data = read_wav(closed.path)
    assert (channels, nframes) == (2, 200 * 160)
    left, right = wav.split(data)
    paused = slice(120 * 160, 150 * 160)
    assert not left[paused].any() and not right[paused].any()
    keep = np.r_[0 : 120 * 160, 150 * 160 : 200 * 160]

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a[keep].astype(float), b[keep].astype(float))[0, 1])

    assert corr(left, caller_src) > 0.9
    assert corr(right, agent_src) > 0.9
    assert abs(corr(left, agent_src)) < 0.2
    assert abs(corr(right, caller_src)) < 0.2


def test_mono_voice_message(tmp_path: Path, sink: RecordingSink, collector: Collector) -> None:
    path = tmp_path / "vm.wav"
    sink.submit([open_action(path, "vm1", channels=1)])
    sink.submit([WriteFrames(recording_id="vm1", pcm=frame(i, 1)) for i in range(50)])
    sink.submit([CloseRecording(recording_id="vm1", at=11.0)])
    assert sink.sync(SYNC_TIMEOUT)
    assert read_wav(path)[:2] == (1, 50 * 160)
    assert collector.closed[0].duration_s == pytest.approx(1.0)


def test_copy_of_an_open_file_is_repaired_by_recover(tmp_path: Path, sink: RecordingSink) -> None:
    """The state ``kill -9`` leaves: frames after the last header update, maybe a torn frame."""
    live = tmp_path / "live"
    path = live / "r1.wav"
    sink.submit(
        [open_action(path)] + [WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(30)]
    )
    assert sink.sync(SYNC_TIMEOUT, fsync=True)
    sink.submit([WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(30, 80)])
    assert sink.sync(SYNC_TIMEOUT)  # written, header still says 30 frames
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    torn = Path(f"{path}.part").read_bytes() + frame(80)[:101]
    (crashed / "r1.wav.part").write_bytes(torn)
    [fixed] = recover(str(crashed))
    assert fixed.path == str(crashed / "r1.wav") and fixed.channels == 2
    assert fixed.dropped_bytes == 1 and fixed.duration_s == pytest.approx((80 * 160 + 25) / 8000)
    channels, nframes, data = read_wav(fixed.path)
    assert (channels, nframes) == (2, 80 * 160 + 25)
    assert data[: 80 * 640] == b"".join(frame(i) for i in range(80))
    assert fixed.sha256 == hashlib.sha256(Path(fixed.path).read_bytes()).hexdigest()
    assert not list(crashed.glob("*.part"))


def test_copy_taken_while_a_writer_thread_is_busy_is_recoverable(
    tmp_path: Path, sink: RecordingSink
) -> None:
    path = tmp_path / "live" / "r1.wav"
    sink.submit([open_action(path)])
    assert sink.sync(SYNC_TIMEOUT)
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            sink.submit([WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(i, i + 10)])
            i += 10

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        while Path(f"{path}.part").stat().st_size < 200 * 640:
            sink.sync(SYNC_TIMEOUT)
        crashed = tmp_path / "crashed"
        crashed.mkdir()
        shutil.copyfile(f"{path}.part", crashed / "r1.wav.part")
    finally:
        stop.set()
        producer.join()
    [fixed] = recover(str(crashed))
    _, nframes, data = read_wav(fixed.path)
    whole = nframes // 160
    assert whole >= 200
    assert data[: whole * 640] == b"".join(frame(i) for i in range(whole))


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from recording import wav
    from recording.recorder import OpenRecording, WriteFrames
    from recording.sink import RecordingSink

    path = sys.argv[1]
    sink = RecordingSink(flush_interval=0.2)
    sink.start()
    sink.submit([OpenRecording(recording_id="k1", call_id="c", path=path, channels=2, at=0.0)])
    i = 0
    while True:
        pcm = wav.interleave(np.full(160, i % 32000), np.full(160, -(i % 32000)))
        sink.submit([WriteFrames(recording_id="k1", pcm=pcm)])
        i += 1
        if i % 50 == 0:
            sink.sync(10)
            print(i, flush=True)
    """
)


def test_recording_survives_sigkill_of_the_writing_process(tmp_path: Path) -> None:
    path = tmp_path / "day" / "k1.wav"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        written = 0
        while written < 500:  # 10 s of audio acknowledged as written by the sink
            line = child.stdout.readline()
            assert line, "child exited early"
            written = int(line)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=SYNC_TIMEOUT)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert Path(f"{path}.part").exists() and not path.exists()
    [fixed] = recover(str(tmp_path))
    assert fixed.path == str(path)
    channels, nframes, data = read_wav(path)
    whole = nframes // 160
    assert channels == 2 and written <= whole < written + 5000
    assert data[: whole * 640] == b"".join(frame(i) for i in range(whole))


def test_recover_leaves_foreign_files_and_handles_empty_and_name_clashes(tmp_path: Path) -> None:
    (tmp_path / "junk.wav.part").write_bytes(b"\x00" * 100)
    (tmp_path / "empty.wav.part").write_bytes(b"")
    (tmp_path / "dup.wav").write_bytes(wav.header(0))
    (tmp_path / "dup.wav.part").write_bytes(wav.header(0, 1) + b"\x01\x00" * 8)
    fixed = {Path(f.path).name: f for f in recover(str(tmp_path))}
    assert set(fixed) == {"empty.wav", "dup.recovered.wav"}
    assert read_wav(tmp_path / "empty.wav")[:2] == (2, 0)
    assert read_wav(tmp_path / "dup.recovered.wav")[:2] == (1, 8)
    assert (tmp_path / "junk.wav.part").exists()
    assert recover(str(tmp_path / "missing")) == []


def test_open_failure_is_counted_not_raised(
    tmp_path: Path, sink: RecordingSink, collector: Collector
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    sink.submit([open_action(blocker / "r1.wav")])  # cannot mkdir over a file, even as root
    sink.submit([WriteFrames(recording_id="r1", pcm=frame(0))])
    sink.submit([CloseRecording(recording_id="r1", at=11.0)])
    assert sink.sync(SYNC_TIMEOUT)
    assert sink.errors == 1 and sink.dropped_bytes == 640
    [closed] = collector.closed
    assert closed.error is not None and closed.error.split(":")[0] in {"EEXIST", "ENOTDIR"}
    assert (closed.bytes, closed.sha256) == (0, "")


def test_frames_for_unknown_recordings_are_dropped(tmp_path: Path, sink: RecordingSink) -> None:
    sink.submit([WriteFrames(recording_id="ghost", pcm=frame(0))])
    assert sink.sync(SYNC_TIMEOUT)
    assert sink.dropped_bytes == 640 and sink.errors == 0


def test_backpressure_drops_frames_but_keeps_opens_and_closes(
    tmp_path: Path, collector: Collector
) -> None:
    s = RecordingSink(collector, max_pending_bytes=10 * 640)
    path = tmp_path / "r1.wav"
    s.submit([open_action(path)])
    s.submit([WriteFrames(recording_id="r1", pcm=frame(i)) for i in range(25)])
    s.submit([CloseRecording(recording_id="r1", at=11.0)])
    assert s.dropped_bytes == 15 * 640
    s.start()
    try:
        assert s.sync(SYNC_TIMEOUT)
        assert collector.closed[0].duration_s == pytest.approx(10 * FRAME_S)
        assert read_wav(path)[1] == 10 * 160
    finally:
        s.stop(timeout=SYNC_TIMEOUT)


def test_stop_closes_open_recordings(tmp_path: Path, collector: Collector) -> None:
    s = RecordingSink(collector)
    s.start()
    s.submit([open_action(tmp_path / "r1.wav"), WriteFrames(recording_id="r1", pcm=frame(1))])
    s.stop(timeout=SYNC_TIMEOUT)
    [closed] = collector.closed
    assert closed.error is None and read_wav(closed.path)[1] == 160


def test_a_failing_callback_does_not_stop_the_worker(tmp_path: Path) -> None:
    calls: list[str] = []

    def boom(closed: RecordingClosed) -> None:
        calls.append(closed.recording_id)
        raise RuntimeError("subscriber bug")

    s = RecordingSink(boom)
    s.start()
    try:
        for rid in ("a", "b"):
            s.submit(
                [
                    open_action(tmp_path / f"{rid}.wav", rid),
                    CloseRecording(recording_id=rid, at=1.0),
                ]
            )
        assert s.sync(SYNC_TIMEOUT)
        assert calls == ["a", "b"]
    finally:
        s.stop(timeout=SYNC_TIMEOUT)


def test_delete_files(tmp_path: Path) -> None:
    present = tmp_path / "a.wav"
    present.write_bytes(b"x")
    not_a_file = tmp_path / "dir.wav"
    not_a_file.mkdir()
    failed = delete_files([str(present), str(tmp_path / "gone.wav"), str(not_a_file)])
    assert failed == [str(not_a_file)] and not present.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_fails_the_recording_not_the_call(
    tiny_disk: Path, sink: RecordingSink, collector: Collector
) -> None:
    path = tiny_disk / "day" / "r1.wav"
    frames = [frame(i) for i in range(300)]  # 192 KB into 64 KB
    sink.submit([open_action(path)])
    for pcm in frames:
        sink.submit([WriteFrames(recording_id="r1", pcm=pcm)])  # must not raise
    sink.submit([CloseRecording(recording_id="r1", at=16.0)])
    assert sink.sync(SYNC_TIMEOUT)
    assert sink.errors >= 1
    [closed] = collector.closed
    assert closed.error is not None and closed.error.startswith("ENOSPC")
    assert closed.path == str(path) and path.exists()
    channels, nframes, data = read_wav(path)
    assert channels == 2 and 0 < nframes < 300 * 160
    assert closed.bytes == path.stat().st_size == 44 + nframes * 4
    assert data == b"".join(frames)[: nframes * 4]
    # the next call on the same full disk: counted again, still no exception
    before = sink.errors
    sink.submit(
        [
            open_action(tiny_disk / "day" / "r2.wav", "r2"),
            WriteFrames(recording_id="r2", pcm=frames[0]),
        ]
    )
    sink.submit([CloseRecording(recording_id="r2", at=17.0)])
    assert sink.sync(SYNC_TIMEOUT)
    assert sink.errors > before and collector.closed[1].error is not None
