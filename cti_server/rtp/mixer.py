"""Audio mixing for live monitoring (listen, whisper, barge): pure, fed frames, returns frames.

Theory of operation: a leg whose audio someone hears *mixed* (rather than forwarded as is)
gets a ``MixTap`` as its route's tap. The route's slow path appends every voice payload to
it (the fast path is skipped while a tap is set, as for recording): the list part is what the
recorder drains, unchanged, and a copy goes to the leg's ``JitterBuffer``. Once per 20 ms
tick ``mix_tick`` takes one frame per source (silence when none came: a late or lost
packet never stalls the others), decodes each to 16-bit PCM once, sums for every listener
exactly the sources that listener hears (never its own audio), clips to 16 bits and encodes
in the listener's codec.

Jitter: packets and ticks are both ~20 ms apart but not in phase, so a tick can find two
frames of a source and the next tick none. Taking only the latest frame would drop one and
play silence for the other; the buffer instead keeps up to ``depth`` frames (40 ms) and drops
the oldest beyond that, so a frame that came a little early is played on the next tick and the
added latency stays bounded when a source's clock runs fast.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping
from typing import Final

import numpy as np
import numpy.typing as npt

from cti_server.rtp.g711 import ALAW2LIN, LIN2ALAW, LIN2ULAW, ULAW2LIN, Pcm

FRAME: Final = 160  # samples in 20 ms at 8 kHz
DEPTH: Final = 2  # frames a source may be ahead of the tick (40 ms)
SILENCE: Final = np.zeros(FRAME, dtype=np.int16)
MAX_TAP: Final = 50  # frames kept for a recorder that stopped draining (1 s)


class JitterBuffer:
    """The frames of one source waiting for the tick, oldest first, at most ``depth``."""

    __slots__ = ("depth", "frames")

    def __init__(self, depth: int = DEPTH) -> None:
        self.depth = depth
        self.frames: deque[bytes] = deque()

    def push(self, payload: bytes) -> None:
        self.frames.append(payload)
        if len(self.frames) > self.depth:
            self.frames.popleft()

    def pull(self) -> bytes | None:
        return self.frames.popleft() if self.frames else None


class MixTap(list[bytes]):
    """A route's tap while its leg is a mix source: a recorder tap plus a jitter buffer."""

    __slots__ = ("buffer",)

    def __init__(self, pending: list[bytes] | None = None, depth: int = DEPTH) -> None:
        super().__init__(pending or ())
        self.buffer = JitterBuffer(depth)

    def append(self, payload: bytes) -> None:
        super().append(payload)
        self.buffer.push(payload)


def decode(payload: bytes, codec: str) -> Pcm:
    """One frame as 160 samples: a short payload is padded with silence, a long one cut."""
    table = ALAW2LIN if codec == "PCMA" else ULAW2LIN
    pcm = table.take(np.frombuffer(payload[:FRAME], np.uint8))
    if len(pcm) < FRAME:
        pcm = np.concatenate((pcm, SILENCE[len(pcm) :]))
    return pcm


def encode(pcm: npt.NDArray[np.int32] | Pcm, codec: str) -> bytes:
    """Clip a (possibly 32-bit) sum to 16 bits and encode it in ``codec``."""
    samples = np.clip(pcm, -32768, 32767).astype(np.int16)
    table = LIN2ALAW if codec == "PCMA" else LIN2ULAW
    return bytes(table.take(samples.view(np.uint16)).tobytes())


def mix(
    frames: Mapping[str, Pcm], hears: Mapping[str, Collection[str]]
) -> dict[str, npt.NDArray[np.int32]]:
    """For every listener the 32-bit sum of the sources it hears; its own audio never,
    a source without a frame this tick counts as silence."""
    out: dict[str, npt.NDArray[np.int32]] = {}
    for listener, sources in hears.items():
        total = np.zeros(FRAME, dtype=np.int32)
        for source in sources:
            frame = frames.get(source)
            if source != listener and frame is not None:
                total += frame
        out[listener] = total
    return out


def mix_tick(
    buffers: Mapping[str, JitterBuffer],
    codecs: Mapping[str, str],
    hears: Mapping[str, Collection[str]],
) -> dict[str, bytes]:
    """One 20 ms step: a frame from every source buffer (each decoded once), and for every
    listener its mix encoded in its own codec (``codecs``; PCMU when unknown)."""
    frames: dict[str, Pcm] = {}
    for source, buffer in buffers.items():
        payload = buffer.pull()
        if payload is not None:
            frames[source] = decode(payload, codecs.get(source, "PCMU"))
    sums = mix(frames, hears)
    return {who: encode(total, codecs.get(who, "PCMU")) for who, total in sums.items()}


def who_hears(
    monitors: Iterable[tuple[str, str, str]], peers: Mapping[str, str | None]
) -> dict[str, frozenset[str]]:
    """Listener -> the sources mixed for it, from (supervisor, agent, mode) triples and the
    leg each agent is bridged to (``peers``; absent or None while on hold or alone).

    The supervisor always hears the agent and the customer. Whisper: the agent hears the
    customer and the supervisor; the customer keeps hearing only the agent (directly, so not
    listed). Barge: the customer hears the agent and the supervisor too. A listener not in
    the answer hears its bridge peer over the direct forward."""
    hears: dict[str, frozenset[str]] = {}
    for supervisor, agent, mode in monitors:
        customer = peers.get(agent)
        party = {customer} if customer is not None else set()
        hears[supervisor] = frozenset({agent, *party})
        if mode != "listen":
            hears[agent] = frozenset({supervisor, *party})
        if mode == "barge" and customer is not None:
            hears[customer] = frozenset({supervisor, agent})
    return hears
