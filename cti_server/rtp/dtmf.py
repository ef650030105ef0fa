"""DTMF: RFC 4733 telephone-events in both directions, and in-band Goertzel detection.

Receiving (``DtmfReceiver``), theory of operation: one event is identified by its RTP timestamp
(RFC 4733 §2.5.1.3: a new event starts when the timestamp changes). Each event is in one of two
states, OPEN (packets seen, no digit yet) or DONE (digit emitted). The digit is emitted once, at
the first of: an end packet (E bit), a packet of a newer event (the old one must have ended), or
the deadline ``last packet + end_timeout`` when every end packet was lost. Packets whose timestamp
is not newer than the last finished event are late duplicates or reordered and are ignored, so the
three redundant end packets (§2.5.1.4) and any retransmission count once. A flood limit drops and
counts digits past ``max_digits`` within ``flood_window`` seconds.

In-band (``InbandDetector``): the classic Goertzel detector (as in spandsp and Asterisk) on
102-sample blocks (12.75 ms at 8 kHz), so a 40 ms tone always covers two whole blocks. A block
hits a digit when the strongest row and column tones pass an energy floor, the twist limits, a
relative-peak test against the other tones of their group, a second-harmonic test and carry most
of the block's energy (which rejects speech, music, noise and blocks only partly filled by a tone).
A digit is reported on the second consecutive hit; the same digit is reported again only after
three blocks without a hit (a 40 ms gap always gives three, a 10 ms dropout at most two).
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

DIGITS: Final = "0123456789*#ABCD"  # RFC 4733 §3.2 events 0-15
SAMPLES_PER_MS: Final = 8
_EVENT = struct.Struct("!BBH")


class DtmfError(ValueError):
    """A telephone-event payload that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class ToneEvent:
    """RFC 4733 §2.3 payload: event code, end bit, volume (-dBm0) and duration in samples."""

    event: int
    end: bool
    volume: int
    duration: int


def parse_telephone_event(payload: bytes) -> ToneEvent:
    if len(payload) < 4:
        raise DtmfError("telephone-event payload shorter than 4 octets")
    event, flags, duration = _EVENT.unpack_from(payload)
    return ToneEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def _ts_newer(a: int, b: int) -> bool:
    return 0 < ((a - b) & 0xFFFFFFFF) < 0x80000000


class DtmfReceiver:
    """Turns one RTP stream's telephone-event packets into digits, each exactly once."""

    def __init__(
        self, end_timeout: float = 0.25, max_digits: int = 20, flood_window: float = 1.0
    ) -> None:
        self.end_timeout = end_timeout
        self.max_digits = max_digits
        self.flood_window = flood_window
        self.dropped = 0  # digits over the flood limit
        self.ignored = 0  # events outside 0-15 (flash, tones...)
        self.malformed = 0
        self._open_ts: int | None = None
        self._open_event = 0
        self._open_last_at = 0.0
        self._done_ts: int | None = None
        self._recent: deque[float] = deque()

    def feed(self, packet_ts: int, seq: int, payload: bytes, now: float) -> list[str]:
        """Digits completed by this packet (``seq`` is accepted for API symmetry; the RTP
        timestamp, not the sequence number, identifies an event)."""
        try:
            ev = parse_telephone_event(payload)
        except DtmfError:
            self.malformed += 1
            return []
        if self._done_ts is not None and not _ts_newer(packet_ts, self._done_ts):
            return []  # redundant end packet, duplicate or late packet of a finished event
        out: list[str] = []
        if self._open_ts is not None and packet_ts != self._open_ts:
            if not _ts_newer(packet_ts, self._open_ts):
                return []  # reordered straggler from before the open event
            out += self._finish(now)  # RFC 4733 §2.5.1.3: a new timestamp means a new event
        self._open_ts = packet_ts
        self._open_event = ev.event
        self._open_last_at = now
        if ev.end:
            out += self._finish(now)
        return out

    def next_deadline(self) -> float | None:
        return None if self._open_ts is None else self._open_last_at + self.end_timeout

    def on_timer(self, now: float) -> list[str]:
        """Emit an event whose end packets were all lost once its deadline has passed."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        return self._finish(now)

    def _finish(self, now: float) -> list[str]:
        event, self._done_ts, self._open_ts = self._open_event, self._open_ts, None
        if event >= len(DIGITS):
            self.ignored += 1
            return []
        while self._recent and self._recent[0] <= now - self.flood_window:
            self._recent.popleft()
        if len(self._recent) >= self.max_digits:
            self.dropped += 1
            return []
        self._recent.append(now)
        return [DIGITS[event]]


class DtmfSender:
    """RFC 4733 §2.5.1 packet payloads for one digit; the caller sends them every 20 ms with one
    RTP timestamp for the whole event and consecutive sequence numbers."""

    def __init__(self, packet_samples: int = 160) -> None:
        self.packet_samples = packet_samples

    def packets_for_digit(
        self, digit: str, duration_ms: int = 100, volume: int = 10
    ) -> list[tuple[bytes, bool, int]]:
        """(payload, marker, duration) per packet: updates, then the end packet three times."""
        event = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
        if event < 0:
            raise DtmfError(f"not a DTMF digit: {digit!r}")
        if not 0 <= volume <= 63:
            raise DtmfError(f"volume out of range: {volume}")
        total = min(max(duration_ms * SAMPLES_PER_MS, self.packet_samples), 0xFFFF)
        out: list[tuple[bytes, bool, int]] = []
        duration = self.packet_samples
        while duration < total:
            out.append((_EVENT.pack(event, volume, duration), not out, duration))
            duration += self.packet_samples
        end = _EVENT.pack(event, 0x80 | volume, total)
        out.append((end, not out, total))  # §2.5.1.4: the final packet sent three times
        out += [(end, False, total), (end, False, total)]
        return out


ROW_FREQS: Final = (697.0, 770.0, 852.0, 941.0)
COL_FREQS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
BLOCK: Final = 102
FORWARD_TWIST_DB: Final = 8.0  # row (low group) may exceed column by this much
REVERSE_TWIST_DB: Final = 4.0  # column (high group) may exceed row by this much
RELATIVE_PEAK_DB: Final = 8.0  # best tone over every other tone of its group
ROW_HARMONIC_DB: Final = 0.0  # 2nd row harmonics sit near column tones: only a loose check
COL_HARMONIC_DB: Final = 12.0
TONE_ENERGY_FRACTION: Final = 0.8  # the two tones' share of the block energy
MIN_TONE_AMPLITUDE: Final = 250.0  # about -39 dBm0 per tone
_RELEASE_MISSES: Final = 3


_FORWARD: Final = 10.0 ** (FORWARD_TWIST_DB / 10.0)
_REVERSE: Final = 10.0 ** (REVERSE_TWIST_DB / 10.0)
_PEAK: Final = 10.0 ** (RELATIVE_PEAK_DB / 10.0)
_ROW_HARMONIC: Final = 10.0 ** (ROW_HARMONIC_DB / 10.0)
_COL_HARMONIC: Final = 10.0 ** (COL_HARMONIC_DB / 10.0)
_FLOOR: Final = (MIN_TONE_AMPLITUDE * BLOCK / 2) ** 2
_ENERGY_SCALE: Final = TONE_ENERGY_FRACTION * BLOCK / 2  # a pure tone's DFT power is N/2 x energy


class InbandDetector:
    """Goertzel DTMF detection on 8 kHz int16 audio, fed in frames of any length."""

    def __init__(self, sample_rate: int = 8000) -> None:
        freqs = np.array(ROW_FREQS + COL_FREQS + tuple(2 * f for f in ROW_FREQS + COL_FREQS))
        phase = 2.0 * math.pi * np.outer(freqs, np.arange(BLOCK)) / sample_rate
        # The Goertzel recurrence computes one DFT term; for 16 terms over a whole block a matrix
        # product gives the same value with numpy doing the per-sample loop.
        self._basis = np.concatenate([np.cos(phase), np.sin(phase)]).T  # (BLOCK, 32)
        self._pending: npt.NDArray[np.float64] = np.zeros(0)
        self._candidate: str | None = None
        self._held: str | None = None
        self._misses = 0
        self.last_digit_at: float | None = None

    def feed(self, pcm: npt.NDArray[np.int16], now: float) -> list[str]:
        samples = np.asarray(pcm, dtype=np.float64)
        if self._pending.size:
            samples = np.concatenate((self._pending, samples))
        n = samples.size // BLOCK
        self._pending = samples[n * BLOCK :]
        if n == 0:
            return []
        blocks = samples[: n * BLOCK].reshape(n, BLOCK)
        proj = blocks @ self._basis
        proj *= proj
        powers = (proj[:, :16] + proj[:, 16:]).tolist()
        energies = np.einsum("ij,ij->i", blocks, blocks).tolist()
        out: list[str] = []
        for power, energy in zip(powers, energies, strict=True):
            digit = _classify(power, energy)
            if self._step(digit) and digit is not None:
                out.append(digit)
        if out:
            self.last_digit_at = now
        return out

    def _step(self, digit: str | None) -> bool:
        """Debounce: report on the second consecutive hit, re-arm after three misses."""
        if digit is None:
            self._misses += 1
            if self._misses >= _RELEASE_MISSES:
                self._held = None
            self._candidate = None
            return False
        self._misses = 0
        confirmed = digit == self._candidate and digit != self._held
        self._candidate = digit
        if confirmed:
            self._held = digit
        return confirmed


def _classify(power: list[float], energy: float) -> str | None:
    """One block's verdict; plain floats, since numpy calls cost more than the arithmetic here."""
    rows, cols = power[0:4], power[4:8]
    row, col = max(rows), max(cols)
    if row < _FLOOR or col < _FLOOR or row + col < _ENERGY_SCALE * energy:
        return None
    if row > col * _FORWARD or col > row * _REVERSE:
        return None
    r, c = rows.index(row), cols.index(col)
    if sum(p * _PEAK > row for p in rows) > 1 or sum(p * _PEAK > col for p in cols) > 1:
        return None  # the best tone itself always counts once
    if power[8 + r] * _ROW_HARMONIC > row or power[12 + c] * _COL_HARMONIC > col:
        return None
    return KEYPAD[r][c]
