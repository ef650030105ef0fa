"""The per-packet forwarding rule of one call leg, and the media events it raises.

``MediaCore`` (``bridge.py``) decides and mutates routes; the UDP adapter holds each port's
route and calls ``Route.process`` for every datagram. Kept apart so the hot path reads on
its own: no dict lookups, one copy of the datagram on the common path.

SRTP (``srtp.py``): a leg that negotiated it has libsrtp sessions on its route; ``srtp_in``
turns what its peer sends into plain RTP first thing, and the packet forwarded to a
``dest`` with ``srtp_out`` is encrypted last thing. Plain legs test two attributes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from cti_server.rtp.dtmf import DtmfReceiver
from cti_server.rtp.packet import SequenceRewriter
from cti_server.rtp.srtp import SrtpError

HDR = struct.Struct("!BBHII")


class MediaError(RuntimeError):
    """No port left, or an unknown leg: the controller answers 503/488."""


@dataclass(frozen=True, slots=True)
class DigitReceived:
    leg_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class PlayFinished:
    leg_id: str


@dataclass(frozen=True, slots=True)
class MediaTimedOut:
    leg_id: str


MediaEvent = DigitReceived | PlayFinished | MediaTimedOut


@dataclass(slots=True)
class Stats:
    """Light per-packet counters; loss is derived from the highest sequence seen."""

    received: int = 0
    bytes: int = 0
    dropped_bad: int = 0
    dropped_foreign: int = 0
    first_seq: int | None = None
    highest_seq: int = 0
    cycles: int = 0
    last_at: float | None = None
    jitter: float = 0.0
    _transit: float | None = None

    def expected(self) -> int:
        if self.first_seq is None:
            return 0
        return self.cycles + self.highest_seq - self.first_seq + 1

    def lost(self) -> int:
        return max(0, self.expected() - self.received)

    def snapshot(self) -> dict[str, float]:
        return {
            "received": self.received,
            "lost": self.lost(),
            "jitter_ms": self.jitter / 8.0,
            "dropped_bad": self.dropped_bad,
            "dropped_foreign": self.dropped_foreign,
        }


class Route:
    """What to do with a datagram arriving on one leg's port. Mutated only by MediaCore."""

    __slots__ = (
        "collect",
        "dest",
        "dest_leg",
        "dtmf",
        "dtmf_pt",
        "events",
        "handle",
        "in_pt",
        "inband",
        "latched",
        "leg_id",
        "out_dtmf_pt",
        "out_pt",
        "remote",
        "rewriter",
        "srtp_in",
        "srtp_out",
        "stats",
        "tap",
        "translate",
    )

    def __init__(self, leg_id: str, events: list[MediaEvent]) -> None:
        self.leg_id = leg_id
        self.remote: tuple[str, int] | None = None  # where this leg's peer sends from / to
        self.latched = False
        self.dtmf_pt: int | None = None  # telephone-event PT this leg's peer sends
        self.in_pt = 0  # the voice payload type this leg's peer sends (others are dropped)
        self.dest: Route | None = None  # the leg we forward to (bridge), if any
        self.dest_leg: str | None = None
        self.out_pt = 0
        self.out_dtmf_pt: int | None = None
        self.translate: bytes | None = None  # payload transcoding table
        self.rewriter: SequenceRewriter | None = None  # the DEST leg's outgoing numbering
        self.collect = False  # feed telephone-events to a DtmfReceiver (IVR)
        self.dtmf = DtmfReceiver()
        self.tap: list[bytes] | None = None  # payloads for the recorder, drained per tick
        self.inband: list[bytes] | None = None  # audio for the in-band DTMF detector
        self.stats = Stats()
        self.events = events
        self.handle: object | None = None  # the adapter's socket for this port (opaque here)
        self.srtp_in: Any = None  # libsrtp session decrypting what this leg's peer sends
        self.srtp_out: Any = None  # libsrtp session encrypting what we send this leg's peer

    def process(self, data: bytes, addr: tuple[str, int], now: float) -> bytes | None:
        """The per-packet path: returns the datagram to send to ``dest.remote`` or None."""
        stats = self.stats
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            stats.dropped_bad += 1
            return None
        if self.srtp_in is not None:
            if 72 <= data[1] & 0x7F <= 76:  # SRTCP multiplexed on the port: not forwarded
                return None
            try:
                data = self.srtp_in.unprotect(data)
            except (SrtpError, ValueError):  # forged, replayed, or too long for libsrtp
                stats.dropped_bad += 1
                return None
        if addr != self.remote:
            if self.latched and self.remote is not None:
                stats.dropped_foreign += 1
                return None
            self.remote = addr  # RFC 4961 symmetric RTP: latch to where the peer really is
            self.latched = True
        b0, b1, seq, ts, _ssrc = HDR.unpack_from(data)
        pt = b1 & 0x7F
        if 72 <= pt <= 76:  # RTCP multiplexed on the RTP port (RFC 5761 §4): not forwarded
            return None
        stats.received += 1
        stats.bytes += len(data)
        self._track(seq, ts, now)
        rewriter = self.rewriter
        dest = self.dest
        if (
            b0 == 0x80
            and pt != self.dtmf_pt
            and self.tap is None
            and self.translate is None
            and rewriter is not None
            and rewriter.state.source == self.leg_id
            and dest is not None
            and dest.remote is not None
        ):
            # Fast path (the common bridged packet): plain 12-byte header, same codec, no tap;
            # RFC 1982 order as in SequenceRewriter.rewrite, one copy of the datagram.
            st = rewriter.state
            out_seq = (seq + st.seq_offset) & 0xFFFF
            out_ts = (ts + st.ts_offset) & 0xFFFFFFFF
            if 0 < ((out_seq - st.last_seq) & 0xFFFF) < 0x8000:
                st.last_seq, st.last_ts, st.last_at = out_seq, out_ts, now
            out = bytearray(data)
            HDR.pack_into(out, 0, 0x80, self.out_pt | (b1 & 0x80), out_seq, out_ts, st.ssrc)
            if dest.srtp_out is not None:
                return protect(dest.srtp_out, bytes(out), stats)
            return bytes(out)
        payload = _payload(data, b0)
        if payload is None:
            stats.dropped_bad += 1
            return None
        is_dtmf = pt == self.dtmf_pt
        if not is_dtmf and pt != self.in_pt:  # a codec nobody negotiated: never forwarded
            stats.dropped_bad += 1
            return None
        if is_dtmf and self.collect:
            for digit in self.dtmf.feed(ts, seq, payload, now):
                self.events.append(DigitReceived(self.leg_id, digit))
        elif not is_dtmf:
            if self.tap is not None:
                self.tap.append(payload)
            if self.inband is not None:
                self.inband.append(payload)
        if dest is None or dest.remote is None or rewriter is None:
            return None
        if is_dtmf:
            if self.out_dtmf_pt is None:
                return None
            out_pt = self.out_dtmf_pt
        else:
            out_pt = self.out_pt
        out_seq, out_ts, marker = rewriter.rewrite(self.leg_id, seq, ts, bool(b1 & 0x80), now)
        if self.translate is not None and not is_dtmf:
            payload = payload.translate(self.translate)
        header = HDR.pack(
            0x80, out_pt | (0x80 if marker else 0), out_seq, out_ts, rewriter.state.ssrc
        )
        if dest.srtp_out is not None:
            return protect(dest.srtp_out, header + payload, stats)
        return header + payload

    def _track(self, seq: int, ts: int, now: float) -> None:
        stats = self.stats
        if stats.first_seq is None:
            stats.first_seq = stats.highest_seq = seq
        elif 0 < ((seq - stats.highest_seq) & 0xFFFF) < 0x8000:
            if seq < stats.highest_seq:
                stats.cycles += 0x10000
            stats.highest_seq = seq
        transit = now * 8000.0 - ts  # RFC 3550 §6.4.1 interarrival jitter, in samples
        if stats._transit is not None:
            d = abs(transit - stats._transit)
            if d < 80000:  # ignore timestamp jumps (a new talk spurt after silence)
                stats.jitter += (d - stats.jitter) / 16.0
        stats._transit = transit
        stats.last_at = now


def protect(session: Any, packet: bytes, stats: Stats) -> bytes | None:
    """Encrypt for an SRTP leg; a packet libsrtp refuses (too long) is dropped, counted."""
    try:
        return session.protect(packet)  # type: ignore[no-any-return]
    except (SrtpError, ValueError):
        stats.dropped_bad += 1
        return None


def _payload(data: bytes, b0: int) -> bytes | None:
    """The media bytes: after CSRCs and any header extension, without padding (RFC 3550 5.1,
    5.3.1); None when the lengths do not fit the datagram. We send a plain 12-byte header."""
    start = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # extension: 16-bit profile, 16-bit length in 32-bit words
        if len(data) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    end = len(data)
    if b0 & 0x20:  # padding: the last octet counts the padding octets, itself included
        end -= data[-1]
    if start > end:
        return None
    return data[start:end]
