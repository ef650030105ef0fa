"""RTP packet parsing/serialization, the hot-path header reader and the sequence rewriter."""

from __future__ import annotations

import struct

import pytest

from cti_server.rtp.packet import (
    RtpError,
    RtpExtension,
    RtpPacket,
    SequenceRewriter,
    header_fields,
    is_rtcp,
    parse_rtp,
)
from tests.fixtures.rtp.pcap import SIPP_PCAPS, udp_payloads

SIPP_G711A = SIPP_PCAPS / "g711a.pcap"


def _packet(**kw: object) -> RtpPacket:
    base: dict[str, object] = dict(
        payload_type=0, sequence=1000, timestamp=160000, ssrc=0xDEADBEEF, payload=b"\xff" * 160
    )
    base.update(kw)
    return RtpPacket(**base)  # type: ignore[arg-type]


def test_minimal_packet_bytes_are_rfc3550_layout() -> None:
    data = _packet(marker=True, payload=b"ab").serialize()
    assert data == bytes.fromhex("808003e800027100deadbeef") + b"ab"


@pytest.mark.parametrize(
    "pkt",
    [
        _packet(),
        _packet(marker=True, payload_type=101, sequence=65535, timestamp=0xFFFFFFFF),
        _packet(csrcs=(1, 2, 0xFFFFFFFF)),
        _packet(extension=RtpExtension(0xBEDE, b"\x10\xaa\x00\x00")),
        _packet(extension=RtpExtension(0x1000, b"")),
        _packet(padding=1),
        _packet(padding=7, csrcs=(5,), extension=RtpExtension(1, bytes(8))),
        _packet(payload=b""),
    ],
)
def test_serialize_parse_round_trip(pkt: RtpPacket) -> None:
    data = pkt.serialize()
    assert parse_rtp(data) == pkt
    assert parse_rtp(data).serialize() == data
    fields = (pkt.payload_type, pkt.sequence, pkt.timestamp, pkt.ssrc, pkt.marker)
    assert header_fields(data) == fields


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short header"),
        (b"\x80\x00" + bytes(9), "short header"),
        (b"\x40\x00" + bytes(10), "bad version"),
        (b"\x00\x00" + bytes(10), "bad version"),
        (b"\x83\x00" + bytes(10) + bytes(8), "CSRC list past end"),
        (b"\x90\x00" + bytes(10) + b"\x00\x01", "extension header past end"),
        (b"\x90\x00" + bytes(10) + b"\x00\x01\x00\x02" + bytes(4), "extension past end"),
        (b"\xa0\x00" + bytes(10) + b"abc\x00", "bad padding length"),
        (b"\xa0\x00" + bytes(10) + b"abc\x05", "bad padding length"),
        (b"\xa0\x00" + bytes(10), "bad padding length"),
    ],
)
def test_garbage_raises_typed_error(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as info:
        parse_rtp(data)
    assert info.value.reason == reason


def test_header_fields_rejects_non_rtp() -> None:
    assert header_fields(b"\x80\x00" + bytes(9)) is None
    assert header_fields(b"\x40\x00" + bytes(10)) is None
    assert header_fields(b"\x80\x08" + bytes(10)) == (8, 0, 0, 0, False)


def test_rtcp_multiplexed_on_rtp_port_is_recognised() -> None:
    # RFC 5761 §4: RTCP SR (200) and RR (201) have octet 2 & 0x7F = 72, 73.
    receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)
    sender_report = struct.pack("!BBHI", 0x81, 200, 12, 0x1234) + bytes(48)
    for rtcp in (receiver_report, sender_report):
        assert is_rtcp(rtcp)
        assert header_fields(rtcp) is None
    assert not is_rtcp(_packet(payload_type=0, marker=True).serialize())
    assert not is_rtcp(_packet(payload_type=101).serialize())
    assert not is_rtcp(b"\x00\xc9\x00\x01\x00\x00\x00\x00")  # version 0 (e.g. STUN-ish)


@pytest.mark.skipif(not SIPP_G711A.exists(), reason="Debian sip-tester pcaps not installed")
def test_sipp_g711a_capture_parses_and_round_trips() -> None:
    datagrams = [d for _, d in udp_payloads(SIPP_G711A)]
    assert len(datagrams) > 200
    for data in datagrams:
        pkt = parse_rtp(data)
        assert pkt.payload_type == 8
        assert pkt.serialize() == data
        assert header_fields(data) == (8, pkt.sequence, pkt.timestamp, pkt.ssrc, pkt.marker)


class TestSequenceRewriter:
    def test_first_packet_uses_initial_numbers_and_marker(self) -> None:
        rw = SequenceRewriter(ssrc=0x1111, first_seq=500, first_ts=9000)
        assert rw.rewrite("prompt", 7, 1234, False, now=10.0) == (500, 9000, True)
        assert rw.rewrite("prompt", 8, 1394, False, now=10.02) == (501, 9160, False)

    def test_switch_continues_sequence_and_advances_by_elapsed_time(self) -> None:
        rw = SequenceRewriter(ssrc=1, first_seq=65534, first_ts=0xFFFFFF00)
        now = 0.0
        for i in range(3):  # prompt: seq 100.., ts 0..
            rw.rewrite("prompt", 100 + i, 160 * i, False, now)
            now += 0.02
        assert (rw.state.last_seq, rw.state.last_ts) == (0, 0x40)  # both wrapped
        # The bridged peer starts 0.5 s after the last prompt packet with its own numbering.
        out = rw.rewrite("peer", 40000, 777777, False, now=0.04 + 0.5)
        assert out == (1, (0x40 + 4000) & 0xFFFFFFFF, True)
        assert rw.rewrite("peer", 40001, 777777 + 160, False, 0.56) == (2, 0x40 + 4160, False)
        # Loss in the source stays visible as a gap; nothing is renumbered.
        assert rw.rewrite("peer", 40005, 777777 + 800, False, 0.64)[:2] == (6, 0x40 + 4800)

    def test_switch_in_the_same_instant_still_advances_one_frame(self) -> None:
        rw = SequenceRewriter(ssrc=1, first_seq=0, first_ts=0)
        rw.rewrite("a", 0, 0, False, 1.0)
        assert rw.rewrite("b", 9, 9, False, 1.0) == (1, 160, True)

    def test_late_packet_is_forwarded_without_moving_the_high_mark(self) -> None:
        rw = SequenceRewriter(ssrc=1, first_seq=10, first_ts=0)
        rw.rewrite("a", 1, 0, False, 0.0)
        rw.rewrite("a", 3, 320, False, 0.04)
        assert rw.rewrite("a", 2, 160, False, 0.05) == (11, 160, False)
        assert rw.rewrite("b", 0, 0, False, 0.06)[0] == 13

    def test_source_marker_passes_through(self) -> None:
        rw = SequenceRewriter(ssrc=1, first_seq=0, first_ts=0)
        rw.rewrite("a", 1, 0, False, 0.0)
        assert rw.rewrite("a", 2, 160, True, 0.02)[2] is True

    def test_apply_patches_the_header_only(self) -> None:
        rw = SequenceRewriter(ssrc=0xCAFEBABE, first_seq=42, first_ts=4242)
        src = _packet(csrcs=(9,), payload=b"audio").serialize()
        out = rw.apply(src, "peer", now=3.0)
        assert out is not None
        pkt = parse_rtp(out)
        assert (pkt.ssrc, pkt.sequence, pkt.timestamp, pkt.marker) == (0xCAFEBABE, 42, 4242, True)
        assert (pkt.csrcs, pkt.payload, pkt.payload_type) == ((9,), b"audio", 0)
        assert rw.apply(b"\x80\xc9" + bytes(6), "peer", 3.0) is None
