"""How many concurrent stereo recordings one sink worker thread sustains.

Run: ``.venv/bin/python loadtests/bench_recording.py [--dir DIR] [--calls 100,500,1000]``.

Two measurements, on the filesystem of ``--dir`` (default: a temporary directory under /tmp):

* real time: N calls at 50 frames/s each for ``--seconds``, driven like the media tick (one
  ``submit`` per 20 ms with every call's frame, built by ``Recorder.feed``). Prints the worker
  thread's CPU %, the reactor-side cost per call-frame (feed + submit), the longest header
  flush (rewrite + fdatasync of every file) and the frames dropped (must be 0 to be sustained).
* flat out: the same N files fed as fast as the worker drains them; frames/s written divided by
  50 is the ceiling of concurrent recordings for one worker thread on this disk.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

from recording.recorder import Recorder, WriteFrames
from recording.sink import RecordingSink

TICK = 0.02


def filesystem(path: str) -> str:
    out = subprocess.run(["df", "-T", path], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    return lines[1].split()[1] if len(lines) > 1 else "?"


def make_recorder(n: int, base: str) -> tuple[Recorder, list[str], list]:  # type: ignore[type-arg]
    counter = itertools.count()
    recorder = Recorder(lambda: f"rec{next(counter)}", base, default_policy="all")
    calls = [f"call{i}" for i in range(n)]
    opens: list = []  # type: ignore[type-arg]
    for i, call in enumerate(calls):
        opens += recorder.agent_connected(call, f"agent{i}", 1e9)
    return recorder, calls, opens


def real_time(n: int, seconds: float, base: str, flush: float, batch: float, buf_mb: int) -> None:
    rng = np.random.default_rng(0)
    callers = rng.normal(0, 3000, (n, 160)).astype(np.int16)
    agents = rng.normal(0, 3000, (n, 160)).astype(np.int16)
    recorder, calls, opens = make_recorder(n, base)
    sink = RecordingSink(
        flush_interval=flush, min_batch_interval=batch, max_pending_bytes=buf_mb << 20
    )
    sink.start()
    sink.submit(opens)
    sink.sync(60)
    cpu0, wall0, proc0 = sink.cpu_s(), time.perf_counter(), time.process_time()
    reactor_s = 0.0
    ticks = int(seconds / TICK)
    next_tick = time.perf_counter()
    lag_max = 0.0
    for t in range(ticks):
        now = 1e9 + t * TICK
        started = time.perf_counter()
        sink.submit(recorder.feed_many(calls, callers, agents, now))
        reactor_s += time.perf_counter() - started
        next_tick += TICK
        delay = next_tick - time.perf_counter()
        lag_max = max(lag_max, -delay)
        if delay > 0:
            time.sleep(delay)
    sink.sync(60)
    wall = time.perf_counter() - wall0
    worker_cpu = sink.cpu_s() - cpu0
    proc_cpu = time.process_time() - proc0
    frames = n * ticks
    closing = time.perf_counter()
    for call in calls:
        sink.submit(recorder.call_ended(call, 1e9 + seconds))
    sink.stop(600)
    close_s = time.perf_counter() - closing
    print(
        f"real time  batch={batch:4.2f}s calls={n:5d}  frames/s={frames / wall:8.0f}"
        f"  sink CPU={100 * worker_cpu / wall:5.1f}%  process CPU={100 * proc_cpu / wall:5.1f}%"
        f"  reactor={1e6 * reactor_s / frames:5.2f} µs/frame"
        f"  max sync={1000 * sink.max_sync_s:6.1f} ms  dropped={sink.dropped_bytes}"
        f"  tick lag max={1000 * lag_max:5.1f} ms  close all={close_s:5.2f} s"
    )


def flat_out(n: int, seconds: float, base: str, flush: float) -> None:
    pcm = np.random.default_rng(1).integers(-3000, 3000, 320, dtype=np.int16).tobytes()
    _, _, opens = make_recorder(n, base)
    ids = [a.recording_id for a in opens if type(a).__name__ == "OpenRecording"]
    tick_actions = [WriteFrames(recording_id=r, pcm=pcm) for r in ids]
    sink = RecordingSink(flush_interval=flush, max_pending_bytes=1 << 30)
    sink.start()
    sink.submit(opens)
    sink.sync(60)
    ticks = int(seconds / TICK)
    high_water = n * 640 * 25  # half a second of audio queued keeps the worker busy
    cpu0, wall0 = sink.cpu_s(), time.perf_counter()
    for _ in range(ticks):
        while sink.pending_bytes > high_water:
            time.sleep(0.001)
        sink.submit(tick_actions)
    sink.sync(600)
    wall = time.perf_counter() - wall0
    worker_cpu = sink.cpu_s() - cpu0
    rate = n * ticks / wall
    sink.stop(600)
    print(
        f"flat out   calls={n:5d}  frames/s={rate:8.0f}  => {rate / 50:6.0f} concurrent recordings"
        f"  sink CPU={100 * worker_cpu / wall:5.1f}%  MB/s={rate * 640 / 1e6:6.1f}"
        f"  max sync={1000 * sink.max_sync_s:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="where to write (default: a tmp dir)")
    parser.add_argument("--calls", default="100,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--buffer-mb", type=int, default=128, help="sink max_pending_bytes")
    parser.add_argument("--batch", default="0,0.1", help="min_batch_interval values to compare")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="bench-rec-", dir=args.dir)
    try:
        print(
            f"dir={base} fs={filesystem(base)} cpus={os.cpu_count()} flush={args.flush_interval}s"
        )
        for batch in (float(b) for b in args.batch.split(",")):
            for n in (int(c) for c in args.calls.split(",")):
                where = os.path.join(base, f"rt{n}-{batch}")
                real_time(n, args.seconds, where, args.flush_interval, batch, args.buffer_mb)
        for n in (int(c) for c in args.calls.split(",")):
            flat_out(n, args.seconds, os.path.join(base, f"fo{n}"), args.flush_interval)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
