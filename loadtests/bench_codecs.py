"""Per-frame cost of the media hot paths, against CPython's audioop where it has an equivalent.

Run: ``.venv/bin/python loadtests/bench_codecs.py [--frames N]``. Prints µs per 20 ms frame (160
samples) and ours/audioop ratios (below 1.0 means we are faster). At 50 packets/s a stream costs
50 times the figure per second, so 1 µs per frame is 0.005 % of a core per stream.
"""

from __future__ import annotations

import argparse
import importlib
import timeit
import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np

from cti_server.rtp import g711
from cti_server.rtp.dtmf import InbandDetector
from cti_server.rtp.packet import RtpPacket, SequenceRewriter, header_fields, parse_rtp

audioop: ModuleType | None
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        audioop = importlib.import_module("audioop")
    except ImportError:  # Python 3.13+: print our figures only
        audioop = None


def per_call_us(fn: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=5))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000, help="calls per timing run")
    n = parser.parse_args().frames

    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 4000, 160)).clip(-32768, 32767).astype(np.int16)
    pcm_bytes = pcm.tobytes()
    ulaw = g711.ulaw_encode(pcm)
    alaw = g711.alaw_encode(pcm)
    datagram = RtpPacket(payload_type=0, sequence=1, timestamp=160, ssrc=7, payload=ulaw)
    data = datagram.serialize()
    rewriter = SequenceRewriter(ssrc=99, first_seq=1, first_ts=1)
    detector = InbandDetector()

    rows: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        ("ulaw decode", lambda: g711.ulaw_decode(ulaw), None),
        ("alaw decode", lambda: g711.alaw_decode(alaw), None),
        ("ulaw encode", lambda: g711.ulaw_encode(pcm), None),
        ("alaw encode", lambda: g711.alaw_encode(pcm), None),
        ("ulaw->alaw transcode", lambda: g711.ulaw_to_alaw(ulaw), None),
        ("alaw->ulaw transcode", lambda: g711.alaw_to_ulaw(alaw), None),
        ("header_fields", lambda: header_fields(data), None),
        ("parse_rtp (full)", lambda: parse_rtp(data), None),
        ("rewriter.apply", lambda: rewriter.apply(data, "peer", 1.0), None),
        ("inband DTMF detect", lambda: detector.feed(pcm, 0.0), None),
    ]
    if audioop is not None:
        ao = audioop
        rows[0] = (rows[0][0], rows[0][1], lambda: ao.ulaw2lin(ulaw, 2))
        rows[1] = (rows[1][0], rows[1][1], lambda: ao.alaw2lin(alaw, 2))
        rows[2] = (rows[2][0], rows[2][1], lambda: ao.lin2ulaw(pcm_bytes, 2))
        rows[3] = (rows[3][0], rows[3][1], lambda: ao.lin2alaw(pcm_bytes, 2))
        rows[4] = (rows[4][0], rows[4][1], lambda: ao.lin2alaw(ao.ulaw2lin(ulaw, 2), 2))
        rows[5] = (rows[5][0], rows[5][1], lambda: ao.lin2ulaw(ao.alaw2lin(alaw, 2), 2))

    print(f"{'operation (160 samples)':<26}{'ours µs':>10}{'audioop µs':>12}{'ratio':>8}")
    for name, ours, theirs in rows:
        ours_us = per_call_us(ours, n)
        if theirs is None:
            print(f"{name:<26}{ours_us:>10.2f}{'-':>12}{'-':>8}")
        else:
            theirs_us = per_call_us(theirs, n)
            print(f"{name:<26}{ours_us:>10.2f}{theirs_us:>12.2f}{ours_us / theirs_us:>8.2f}")

    # Per-call numpy overhead dominates one frame; a media tick can decode all streams at once.
    streams = 200
    batch = ulaw * streams
    batch_us = per_call_us(lambda: g711.ulaw_decode(batch), max(n // streams, 10)) / streams
    line = f"{'ulaw decode, 200 batched':<26}{batch_us:>10.2f}"
    if audioop is not None:
        ao_us = per_call_us(lambda: audioop.ulaw2lin(batch, 2), max(n // streams, 10)) / streams
        line += f"{ao_us:>12.2f}{batch_us / ao_us:>8.2f}"
    print(line)


if __name__ == "__main__":
    main()
