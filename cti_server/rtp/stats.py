"""Per-leg RTP receive statistics, RFC 3550 §6.4.1 and Appendix A.1/A.3/A.8.

Sequence numbers are extended to 32 bits by counting wrap-arounds (A.1 ``cycles``). A jump of more
than ``MAX_DROPOUT`` ahead or ``MAX_MISORDER`` behind is not believed at first: the packet is
remembered and the counters restart only if the next packet follows it (the sender restarted).
``expected - received`` is the cumulative loss; duplicates make it negative, as the RFC intends,
and ``snapshot()`` clamps it for display. Duplicates and reordering are told apart with a 128-bit
window of recently seen sequence numbers. Jitter is the A.8 running estimate J += (|D| - J)/16 in
timestamp units, with arrival time converted to the same 8 kHz clock.
"""

from __future__ import annotations

from typing import Any

SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100
WINDOW = 128
_COUNTED, _DUPLICATE, _IGNORED = 0, 1, 2


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class ReceiveStats:
    """Fed ``update(seq, ts, now)`` per received packet; read with ``snapshot()`` per tick."""

    def __init__(self, clock_rate: int = 8000, created_at: float | None = None) -> None:
        self.clock_rate = clock_rate
        self.created_at = created_at
        self.received = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.restarts = 0
        self.last_packet_at: float | None = None
        self.jitter = 0.0  # timestamp units
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq: int | None = None
        self._window = 0  # bit i set: extended sequence (highest - i) was received
        self._last_arrival = 0.0
        self._last_ts = 0
        self._expected_prior = 0
        self._received_prior = 0

    @property
    def extended_highest(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        return self.extended_highest - self._base_seq + 1 if self.received else 0

    @property
    def cumulative_lost(self) -> int:
        return self.expected - self.received

    def update(self, seq: int, ts: int, now: float) -> None:
        seq &= 0xFFFF
        self.last_packet_at = now  # even a doubtful packet shows the peer is still sending
        if not self.received:
            self._restart(seq)
        else:
            verdict = self._track(seq)
            if verdict == _DUPLICATE:
                self.received += 1  # RFC 3550 §6.4.1: duplicates count as received
                return
            if verdict == _IGNORED:
                return
        self.received += 1
        self._jitter(ts, now)

    def _restart(self, seq: int) -> None:
        self._base_seq = seq
        self._max_seq = seq
        self._cycles = 0
        self._window = 1
        self._bad_seq = None
        self._expected_prior = self._received_prior = 0

    def _track(self, seq: int) -> int:
        """A.1 ``update_seq`` plus the duplicate window."""
        delta = (seq - self._max_seq) & 0xFFFF
        if 0 < delta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += SEQ_MOD
            self._max_seq = seq
            self._window = ((self._window << delta) | 1) & ((1 << WINDOW) - 1)
        elif delta == 0 or delta >= SEQ_MOD - MAX_MISORDER:
            age = (self._max_seq - seq) & 0xFFFF
            bit = 1 << age if age < WINDOW else 0
            if self._window & bit:
                self.duplicates += 1
                return _DUPLICATE
            self._window |= bit
            self.out_of_order += 1
        elif seq == self._bad_seq:
            # Two sequential packets after a big jump: the source restarted (A.1).
            self.restarts += 1
            self.received = 0
            self._restart(seq)
        else:
            self._bad_seq = (seq + 1) & 0xFFFF
            return _IGNORED
        return _COUNTED

    def _jitter(self, ts: int, now: float) -> None:
        arrival = now * self.clock_rate
        if self.received > 1:
            d = (arrival - self._last_arrival) - _signed32(ts - self._last_ts)
            self.jitter += (abs(d) - self.jitter) / 16.0  # RFC 3550 A.8
        self._last_arrival = arrival
        self._last_ts = ts

    def fraction_lost_since_last(self) -> int:
        """A.3 fraction lost since the previous call as the 8-bit fixed point of RTCP RR."""
        expected, received = self.expected, self.received
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    def timed_out(self, now: float, timeout: float) -> bool:
        """No RTP for ``timeout`` seconds (since creation when nothing ever arrived)."""
        since = self.last_packet_at if self.last_packet_at is not None else self.created_at
        return since is not None and now - since >= timeout

    def snapshot(self) -> dict[str, Any]:
        expected = self.expected
        lost = max(self.cumulative_lost, 0)
        return {
            "received": self.received,
            "expected": expected,
            "lost": lost,
            "cumulative_lost": self.cumulative_lost,
            "fraction_lost": lost / expected if expected else 0.0,
            "jitter": self.jitter,
            "jitter_ms": self.jitter * 1000.0 / self.clock_rate,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "restarts": self.restarts,
            "extended_highest_seq": self.extended_highest if self.received else None,
            "last_packet_at": self.last_packet_at,
        }
