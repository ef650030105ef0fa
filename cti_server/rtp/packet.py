"""RTP packets (RFC 3550 §5.1) and the outgoing sequence/timestamp rewriter.

Two speeds on purpose. ``parse_rtp`` validates everything and builds an ``RtpPacket``: for tests,
captures and the odd packet the media core inspects. ``header_fields`` is the per-packet hot path
of the forwarding table: one ``struct.unpack_from`` and no objects beyond the returned tuple.

Theory of operation of ``SequenceRewriter``: a leg's outgoing stream is fed by a sequence of
sources (a prompt, then the bridged peer, then another prompt). The far end must see one SSRC with
sequence numbers and timestamps that continue, or it resets its jitter buffer, drops audio or
decides the stream is new. Each source keeps its own numbering; the rewriter holds an offset pair
(sequence, timestamp) per *current* source. When the source changes, the new offsets are chosen so
the next output sequence is ``last + 1`` and the timestamp advances by the wall time elapsed since
the last output packet (at least one frame), and that first packet gets the marker bit
(RFC 3551 §4.1: marker on the first packet after a silence period / talkspurt).
"""

from __future__ import annotations

import struct
from collections.abc import Hashable
from dataclasses import dataclass

RTP_VERSION = 2
HEADER_SIZE = 12
CLOCK_RATE = 8000
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet; ``reason`` is a short stable label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """RFC 3550 §5.3.1 header extension: a profile-defined 16-bit id and 32-bit-word data."""

    profile: int
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (0 means the P bit is clear)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0
    version: int = RTP_VERSION

    def serialize(self) -> bytes:
        if len(self.csrcs) > 15:
            raise RtpError("too many CSRCs")
        if not 0 <= self.padding <= 255:
            raise RtpError("padding length out of range")
        b0 = (self.version << 6) | len(self.csrcs)
        b0 |= 0x20 if self.padding else 0
        b0 |= 0x10 if self.extension is not None else 0
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [
            _HEADER.pack(
                b0, b1, self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF, self.ssrc & 0xFFFFFFFF
            )
        ]
        parts += [struct.pack("!I", c) for c in self.csrcs]
        if self.extension is not None:
            data = self.extension.data
            if len(data) % 4:
                raise RtpError("extension data not a multiple of 4 octets")
            parts.append(_EXT_HEADER.pack(self.extension.profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            # RFC 3550 §5.1: the last padding octet counts the padding, itself included.
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse and validate one RTP datagram; raise ``RtpError`` for anything malformed."""
    if len(data) < HEADER_SIZE:
        raise RtpError("short header")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    version = b0 >> 6
    if version != RTP_VERSION:
        raise RtpError("bad version")
    offset = HEADER_SIZE
    cc = b0 & 0x0F
    if offset + 4 * cc > len(data):
        raise RtpError("CSRC list past end")
    csrcs = struct.unpack_from(f"!{cc}I", data, offset) if cc else ()
    offset += 4 * cc
    extension = None
    if b0 & 0x10:
        if offset + 4 > len(data):
            raise RtpError("extension header past end")
        profile, words = _EXT_HEADER.unpack_from(data, offset)
        offset += 4
        if offset + 4 * words > len(data):
            raise RtpError("extension past end")
        extension = RtpExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    end = len(data)
    padding = 0
    if b0 & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > end:
            raise RtpError("bad padding length")
        end -= padding
    return RtpPacket(
        version=version,
        padding=padding,
        extension=extension,
        marker=bool(b1 & 0x80),
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        csrcs=tuple(csrcs),
        payload=bytes(data[offset:end]),
    )


def header_fields(data: bytes) -> tuple[int, int, int, int, bool] | None:
    """(payload type, sequence, timestamp, SSRC, marker), or None if not RTP version 2.

    RTCP multiplexed on the RTP port (RFC 5761) also returns None: check ``is_rtcp`` then.
    """
    if len(data) < HEADER_SIZE:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    pt = b1 & 0x7F
    if b0 & 0xC0 != 0x80 or 64 <= pt <= 95:
        return None
    return pt, seq, ts, ssrc, b1 > 0x7F


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: an RTP/RTCP-muxed packet whose second octet & 0x7F is in 64..95 is RTCP."""
    return len(data) >= 8 and data[0] & 0xC0 == 0x80 and 64 <= (data[1] & 0x7F) <= 95


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence ``a`` is after ``b`` in RFC 1982 serial-number order."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


@dataclass(slots=True)
class RewriteState:
    """The outgoing numbering of one leg: survives forwarding-table rebuilds as plain data."""

    ssrc: int
    last_seq: int
    last_ts: int
    last_at: float | None = None
    source: Hashable | None = None
    seq_offset: int = 0
    ts_offset: int = 0
    switches: int = 0


class SequenceRewriter:
    """Maps (source, seq, ts) of whatever feeds a leg onto one continuous outgoing stream.

    ``first_seq``/``first_ts`` should be random (RFC 3550 §5.1); the caller draws them from its
    injected random source. ``frame_samples`` is the minimum timestamp advance on a switch, so a
    switch in the same instant as the previous packet never repeats a timestamp.
    """

    def __init__(self, ssrc: int, first_seq: int, first_ts: int, frame_samples: int = 160) -> None:
        # Stored as "one before the first", so the first packet comes out as first_seq/first_ts.
        self.state = RewriteState(
            ssrc=ssrc,
            last_seq=(first_seq - 1) & 0xFFFF,
            last_ts=(first_ts - frame_samples) & 0xFFFFFFFF,
        )
        self._frame = frame_samples

    def rewrite(
        self, source: Hashable, seq: int, ts: int, marker: bool, now: float
    ) -> tuple[int, int, bool]:
        """Output (sequence, timestamp, marker) for one incoming packet of ``source``."""
        st = self.state
        if source != st.source:
            out_seq = (st.last_seq + 1) & 0xFFFF
            if st.last_at is None:
                advance = self._frame
            else:
                advance = max(round((now - st.last_at) * CLOCK_RATE), self._frame)
            out_ts = (st.last_ts + advance) & 0xFFFFFFFF
            st.seq_offset = (out_seq - seq) & 0xFFFF
            st.ts_offset = (out_ts - ts) & 0xFFFFFFFF
            st.source = source
            st.switches += 1
            marker = True
        else:
            out_seq = (seq + st.seq_offset) & 0xFFFF
            out_ts = (ts + st.ts_offset) & 0xFFFFFFFF
            if not seq_newer(out_seq, st.last_seq):
                return out_seq, out_ts, marker  # late or duplicate: forward, keep the high mark
        st.last_seq = out_seq
        st.last_ts = out_ts
        st.last_at = now
        return out_seq, out_ts, marker

    def apply(self, data: bytes, source: Hashable, now: float) -> bytes | None:
        """Rewrite a datagram's SSRC, sequence, timestamp and marker; None if not RTP."""
        fields = header_fields(data)
        if fields is None:
            return None
        _pt, seq, ts, _ssrc, marker = fields
        out_seq, out_ts, out_marker = self.rewrite(source, seq, ts, marker, now)
        buf = bytearray(data)
        buf[1] = (buf[1] & 0x7F) | (0x80 if out_marker else 0)
        _HEADER.pack_into(buf, 0, buf[0], buf[1], out_seq, out_ts, self.state.ssrc)
        return bytes(buf)
