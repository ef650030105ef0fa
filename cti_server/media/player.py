"""Prompt playout: PCM clips to G.711 frames, and a sans-IO player paced by the media tick.

Theory of operation. A clip is encoded once (:func:`wav_to_frames`) into 20 ms frames of 160
bytes, and the media engine caches the frames per clip and codec. A :class:`PromptPlayer` per leg
is handed the frame lists of a sequence and asked for one frame per media tick with the tick's
``now``. It keeps a due time: a frame is handed out when ``now`` reaches it (less a quarter frame
of tick jitter), and the next one falls due 20 ms later. After a stall (a late tick) the schedule
re-anchors on the late tick instead of bursting the backlog: a burst would overflow the far
end's jitter buffer, while a re-anchored stream merely starts the rest of the prompt later.
A second call within the same tick returns ``None``, so the player never runs faster than real
time. ``stop()`` is barge-in: the IVR calls it when a DTMF digit arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import numpy as np

from cti_server.rtp.g711 import alaw_encode, ulaw_encode

Codec = Literal["PCMU", "PCMA"]

SAMPLE_RATE: Final = 8000
FRAME_SECONDS: Final = 0.020
FRAME_SAMPLES: Final = 160
"""Samples (and G.711 bytes) in one 20 ms frame at 8 kHz (RFC 3551 §4.5.14 ptime default)."""
JITTER: Final = FRAME_SECONDS / 4
"""How early a tick may come and still count as the frame's tick."""


def wav_to_frames(pcm16: bytes, codec: Codec) -> list[bytes]:
    """Encode little-endian 16-bit 8 kHz mono PCM into 160-byte frames, the last one padded."""
    if len(pcm16) % 2:
        raise ValueError(f"PCM16 data has an odd length ({len(pcm16)} bytes)")
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int16)
    short = -len(samples) % FRAME_SAMPLES
    if short:
        samples = np.concatenate([samples, np.zeros(short, dtype=np.int16)])
    if codec == "PCMU":
        encoded = ulaw_encode(samples)
    elif codec == "PCMA":
        encoded = alaw_encode(samples)
    else:
        raise ValueError(f"unknown codec {codec!r} (PCMU or PCMA)")
    return [encoded[i : i + FRAME_SAMPLES] for i in range(0, len(encoded), FRAME_SAMPLES)]


class PromptPlayer:
    """Hands out one frame per tick from a sequence of clips; ``finished`` once all are out."""

    __slots__ = ("_due", "_frames", "_index", "_interruptible", "_loop", "frames_sent", "stopped")

    def __init__(self) -> None:
        self._frames: list[bytes] = []
        self._index = 0
        self._due = 0.0
        self._loop = False
        self._interruptible = True
        self.frames_sent = 0
        """Frames handed out since the last ``start``."""
        self.stopped = False
        """True when ``stop``/``barge_in`` ended the playout early."""

    def start(
        self,
        clips: Sequence[Sequence[bytes]],
        now: float,
        *,
        loop: bool = False,
        interruptible: bool = True,
        skip_frames: int = 0,
    ) -> None:
        """Play ``clips`` back to back from ``now``, replacing whatever was playing.

        ``loop`` repeats forever (music on hold) until ``stop``; ``skip_frames`` resumes a loop
        where an announcement interrupted it.
        """
        self._frames = [frame for clip in clips for frame in clip]
        self._loop = loop and bool(self._frames)
        self._interruptible = interruptible
        self._index = skip_frames % len(self._frames) if self._loop else skip_frames
        self._due = now
        self.frames_sent = 0
        self.stopped = False

    @property
    def finished(self) -> bool:
        return self.stopped or (not self._loop and self._index >= len(self._frames))

    @property
    def position(self) -> int:
        """Index of the next frame (pass it as ``skip_frames`` to resume a loop)."""
        return self._index

    def next_due(self) -> float | None:
        """When the next frame falls due, or None when there is nothing left to play."""
        return None if self.finished else self._due

    def next_frame(self, now: float) -> bytes | None:
        """The frame for this tick, or None (not due yet, finished or stopped)."""
        if self.finished or now < self._due - JITTER:
            return None
        frame = self._frames[self._index]
        self._index += 1
        if self._loop and self._index == len(self._frames):
            self._index = 0
        self.frames_sent += 1
        self._due = max(self._due + FRAME_SECONDS, now + FRAME_SECONDS - JITTER)
        return frame

    def stop(self) -> None:
        """End the playout now (hang-up, a new prompt, or barge-in)."""
        if not self.finished:
            self.stopped = True

    def barge_in(self) -> bool:
        """A DTMF digit arrived: stop if this prompt may be interrupted; True if it stopped."""
        if self.finished or not self._interruptible:
            return False
        self.stopped = True
        return True
