"""Our media path as a ``--relay custom`` for the peers' RTP harness (../shared/peers/media/).

Run by ``mediabench.py`` through ``BENCH_RELAY_CMD``::

    BENCH_RELAY_CMD='.venv/bin/python loadtests/media_relay.py [--record]' \
        python3 mediabench.py --relay custom --ports 0 ...

It appends ``--base B --ports P --dst D --seconds S``: every datagram arriving on port ``B+i`` is
forwarded to ``127.0.0.1:D`` by the code that bridges calls in the server, nothing re-implemented:
the asyncio reactor installed by ``cti_server.reactor.install()``, a ``MediaCore`` and a
``MediaService`` built as ``cti_server/app.py`` builds them (SystemRandom, the service's own 20 ms
tick), and per stream ``i`` two legs bridged like a call: ``in{i}`` (the caller, port ``B+i``,
latches to rtpgen's address on the first packet) and ``out{i}`` (the agent, SDP remote
``127.0.0.1:D``), both PCMU, one socket per leg.

Two deviations, both forced by the harness and neither on the per-packet path:

* Ports: the core hands out even ports in a shuffled order; the harness sends to ``B..B+P-1``,
  so the free list is replaced by that plan (ports ``B+P..B+2P-1`` for the out legs) before any
  leg opens.
* SSRC: rtpgen tells its streams apart by the SSRC it receives (stream index), while a route
  rewrites every packet to the destination leg's SSRC; so the out leg's ``SequenceRewriter`` is
  created with SSRC ``i`` (random first sequence and timestamp, as the core would).

Shared-socket layout (``--ports`` smaller than the stream count): our design has one socket per
leg. rtpgen sends every stream from one socket, so on one port all streams would merge into one
leg (one latched source, one outgoing SSRC) and rtpgen would count them all as stream 0: a
result that looks like N calls but is one. Refused unless ``--allow-shared`` (for cost only).

``--record`` taps every in leg (``MediaCore.tap``) and, on a 20 ms LoopingCall, drains the taps,
decodes the caller frames (one numpy take for the tick), builds stereo frames with the agent side
silent via ``Recorder.feed_many`` and submits them to ``recording.sink.RecordingSink`` (worker
thread, durable: header rewrite + fdatasync every second), i.e. the whole recording cost rides on
the same core. Files go to a temporary directory removed at exit.

At start-up and at exit it prints (and with ``--stats-out`` appends as JSON) the RSS per active
leg pair: memory per active call for the media anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import deque
from typing import Any

from cti_server import reactor as reactor_setup
from cti_server.adapters.rtp_udp import MediaService
from cti_server.rtp.bridge import MediaCore, MediaEvent, Route
from cti_server.rtp.packet import SequenceRewriter

FRAME = 160  # G.711 bytes per 20 ms
ULAW_SILENCE = b"\xff" * FRAME


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Recording:
    """The recording tap driven like the media tick would drive it: drain, decode, feed, submit."""

    def __init__(self, core: MediaCore, pairs: int, now: float) -> None:
        import numpy as np

        from recording.recorder import Recorder
        from recording.sink import RecordingSink

        self._np = np
        self.core = core
        self.dir = tempfile.mkdtemp(prefix="bench-media-rec-")
        counter = iter(range(1 << 30))
        self.recorder = Recorder(lambda: f"rec{next(counter)}", self.dir, default_policy="all")
        self.sink = RecordingSink(min_batch_interval=0.1)  # as the server configures it
        self.call_ids = [f"call{i}" for i in range(pairs)]
        self.legs = [f"in{i}" for i in range(pairs)]
        self.pending: list[deque[bytes]] = [deque() for _ in range(pairs)]
        self.agents = np.zeros((pairs, FRAME), dtype=np.int16)  # one-way load: agent side silent
        self.frames = bytearray(ULAW_SILENCE * pairs)
        self.ticks = 0
        self.tick_s = 0.0
        opens: list[Any] = []
        for i, call in enumerate(self.call_ids):
            opens += self.recorder.agent_connected(call, f"agent{i}", now)
            core.tap(self.legs[i], True)
        self.sink.start()
        self.sink.submit(opens)

    def tick(self, now: float) -> None:
        from cti_server.rtp.g711 import ulaw_decode

        started = time.perf_counter()
        core, frames, pending = self.core, self.frames, self.pending
        for i, leg in enumerate(self.legs):
            queue = pending[i]
            queue.extend(core.drain_tap(leg))
            off = i * FRAME
            if queue:
                payload = queue.popleft()
                while len(queue) > 2:  # a burst: keep at most 40 ms behind, like a jitter buffer
                    queue.popleft()
                if len(payload) != FRAME:
                    payload = (payload + ULAW_SILENCE)[:FRAME]
                frames[off : off + FRAME] = payload
            else:
                frames[off : off + FRAME] = ULAW_SILENCE
        callers = ulaw_decode(bytes(frames)).reshape(len(self.legs), FRAME)
        self.sink.submit(self.recorder.feed_many(self.call_ids, callers, self.agents, now))
        self.ticks += 1
        self.tick_s += time.perf_counter() - started

    def stats(self) -> dict[str, float]:
        sink = self.sink  # read defensively: the sink's gauges are still evolving
        cpu = getattr(sink, "cpu_s", None) or getattr(sink, "worker_cpu_s", None)
        out = {
            "rec_ticks": self.ticks,
            "rec_tick_us": round(1e6 * self.tick_s / max(1, self.ticks), 1),
            "rec_sink_cpu_s": round(cpu(), 3) if cpu is not None else -1.0,
        }
        for name in ("frames_written", "bytes_written", "dropped_bytes", "errors"):
            out[f"rec_{name}"] = getattr(sink, name, -1)
        return out

    def close(self, now: float) -> None:
        for call in self.call_ids:
            self.sink.submit(self.recorder.call_ended(call, now))
        self.sink.stop(3.0)  # the harness SIGKILLs 5 s after SIGTERM; files are scratch anyway
        shutil.rmtree(self.dir, ignore_errors=True)


def build(
    reactor: Any, base: int, ports: int, dst: int, out_base: int
) -> tuple[MediaCore, MediaService, list[Route]]:
    """The core and adapter as the server wires them (app.py), with ``ports`` bridged pairs."""
    rng = random.SystemRandom()
    core = MediaCore(
        local_ip="127.0.0.1",
        port_min=min(base, out_base),
        port_max=max(base, out_base) + ports + 2,
        rng=rng,
        rtp_timeout=60.0,
    )
    # The harness dictates the ports (see the module docstring); the only private attribute used.
    core._free = deque([base + i for i in range(ports)] + [out_base + i for i in range(ports)])
    events: list[MediaEvent] = []
    service = MediaService(core, reactor, reactor, events.extend)
    now = reactor.seconds()
    for i in range(ports):
        core.open(f"in{i}", now)
    for i in range(ports):
        core.open(f"out{i}", now)
        core.legs[f"out{i}"].rewriter = SequenceRewriter(
            i, rng.getrandbits(16), rng.getrandbits(32)
        )
    for i in range(ports):
        # The caller's SDP address; the first packet from rtpgen's real source latches over it.
        core.configure(f"in{i}", remote=("127.0.0.1", 9), codec="PCMU")
        core.configure(f"out{i}", remote=("127.0.0.1", dst), codec="PCMU")
        core.bridge(f"in{i}", f"out{i}")
    service.sync_ports()
    routes = [core.legs[f"in{i}"].route for i in range(ports)]
    return core, service, routes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--base", type=int, required=True, help="first input port")
    ap.add_argument("--ports", type=int, required=True, help="input ports = bridged leg pairs")
    ap.add_argument("--dst", type=int, required=True, help="127.0.0.1 port to forward to")
    ap.add_argument("--seconds", type=float, required=True, help="exit after this long")
    ap.add_argument("--out-base", type=int, default=None, help="out legs' ports (base+ports)")
    ap.add_argument("--record", action="store_true", help="record every in leg to WAV files")
    ap.add_argument("--stats-out", default=None, help="append a JSON line of stats at exit")
    ap.add_argument(
        "--reactor",
        choices=["asyncio", "epoll"],
        default="asyncio",
        help="asyncio = the server's (default); epoll only to separate reactor cost",
    )
    ap.add_argument("--allow-shared", action="store_true", help="accept --ports 1 (see doc)")
    a = ap.parse_args()
    if a.ports == 1 and not a.allow_shared:
        sys.stdout.write(
            "refused: --ports 1 merges every rtpgen stream into one leg (one socket per leg is "
            "our design; see the docstring). Use --ports 0 in mediabench.\n"
        )
        return 2
    if a.reactor == "epoll":
        from twisted.internet import epollreactor

        epollreactor.install()
        from twisted.internet import reactor
    else:
        reactor = reactor_setup.install()
    out_base = a.out_base if a.out_base is not None else a.base + a.ports
    if a.record:  # load the recording modules (numpy...) first: RSS per call excludes them
        import recording.recorder
        import recording.sink
    rss0 = rss_bytes()
    core, service, routes = build(reactor, a.base, a.ports, a.dst, out_base)
    if service.bind_errors:
        sys.stdout.write(f"failed: {service.bind_errors} RTP ports could not be bound\n")
        return 1
    recording = Recording(core, a.ports, reactor.seconds()) if a.record else None
    rss_setup = rss_bytes()
    stats: dict[str, Any] = {
        "pairs": a.ports,
        "record": a.record,
        "reactor": a.reactor,
        "rss_start_kb": rss0 // 1024,
        "rss_setup_kb": rss_setup // 1024,
        "setup_bytes_per_call": round((rss_setup - rss0) / a.ports),
    }

    def finish() -> None:
        try:
            report()
        finally:
            service.stop()
            if recording is not None:
                recording.close(reactor.seconds())

    def report() -> None:
        rss_end = rss_bytes()
        stats["rss_end_kb"] = rss_end // 1024
        stats["end_bytes_per_call"] = round((rss_end - rss0) / a.ports)
        stats["relayed"] = sum(r.stats.received for r in routes)
        stats["dropped_foreign"] = sum(r.stats.dropped_foreign for r in routes)
        stats["send_errors"] = service.send_errors
        if recording is not None:
            stats.update(recording.stats())
        sys.stdout.write(json.dumps(stats) + "\n")
        sys.stdout.flush()
        if a.stats_out:
            with open(a.stats_out, "a") as f:
                f.write(json.dumps(stats) + "\n")

    service.start()
    if recording is not None:
        from twisted.internet.task import LoopingCall

        rec_tick = LoopingCall(lambda: recording.tick(reactor.seconds()))
        rec_tick.clock = reactor
        reactor.callWhenRunning(rec_tick.start, 0.02, False)
    reactor.addSystemEventTrigger("before", "shutdown", finish)
    reactor.callLater(a.seconds, reactor.stop)
    per_call = stats["setup_bytes_per_call"]
    reactor.callWhenRunning(
        lambda: print(
            f"ready: {a.ports} bridged leg pairs ({2 * a.ports} sockets), reactor={a.reactor}, "
            f"record={a.record}, RSS {rss_setup // 1024} KiB = {per_call} B per active call",
            flush=True,
        )
    )
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
