"""Fuzz target ``rtp``: RTP datagrams (RFC 3550 §5.1) as the media adapter receives them.

Accepted: ``RtpError``. Checked besides: a packet that parses serialises to one that parses
equal; the per-packet fast path ``header_fields`` agrees with the full parser (and refuses
what the parser refuses); ``SequenceRewriter.apply`` rewrites only the header (first output
at the chosen sequence/timestamp with the marker set) and leaves the rest of the datagram as it
was.
"""

from __future__ import annotations

from typing import Any

import atheris

from loadtests.fuzz.common import SIPP_PCAPS, fuzz_main

with atheris.instrument_imports(include=["cti_server"]):
    from cti_server.rtp.packet import (
        RtpError,
        RtpExtension,
        RtpPacket,
        SequenceRewriter,
        header_fields,
        is_rtcp,
        parse_rtp,
    )


def test_one_input(data: bytes) -> None:
    fields = header_fields(data)
    rtcp = is_rtcp(data)
    try:
        packet = parse_rtp(data)
    except RtpError:
        if len(data) < 12 and fields is not None:
            raise AssertionError("header_fields read a short datagram") from None
        return
    again = parse_rtp(packet.serialize())
    if again != packet:
        raise AssertionError(f"serialise/parse changed {packet!r} into {again!r}")
    if not 64 <= packet.payload_type <= 95:
        expected = (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc)
        if fields is None or fields != (*expected, packet.marker) or rtcp:
            raise AssertionError(f"header_fields {fields!r} disagrees with {packet!r}")
    elif fields is not None or not rtcp:
        raise AssertionError(f"RTCP-range packet type {packet.payload_type}: {fields!r}")
    if fields is not None:
        _rewrite(data)


def _rewrite(data: bytes) -> None:
    rewriter = SequenceRewriter(ssrc=0x1234, first_seq=65535, first_ts=0xFFFFFF00)
    out = rewriter.apply(data, "prompt", 0.0)
    if out is None or len(out) != len(data) or out[12:] != data[12:] or out[0] != data[0]:
        raise AssertionError("rewrite changed more than the header")
    fields = header_fields(out)
    if fields is None or fields[1:] != (65535, 0xFFFFFF00, 0x1234, True):
        raise AssertionError(f"first rewritten packet has {fields!r}")
    second = rewriter.apply(data, "peer", 0.02)
    after = header_fields(second) if second is not None else None
    if after is None or after[1] != 0:  # 65535 + 1, wrapped (RFC 3550 §5.1: 16 bits)
        raise AssertionError("a source switch must continue the sequence")


def seeds() -> list[bytes]:
    out: list[bytes] = []
    if SIPP_PCAPS.is_dir():
        from tests.fixtures.rtp.pcap import udp_payloads

        for path in sorted(SIPP_PCAPS.glob("*.pcap")):
            out += [payload for _, payload in udp_payloads(path)[:40]]
    out += [
        _packet(),
        _packet(marker=True, csrcs=(1, 2, 3)),
        _packet(extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00")),
        _packet(padding=4),
        bytes.fromhex("80c8000600000007") + bytes(20),  # RTCP sender report on the RTP port
    ]
    return out


def _packet(**extra: Any) -> bytes:
    return RtpPacket(
        payload_type=0, sequence=1, timestamp=160, ssrc=7, payload=b"\xff" * 8, **extra
    ).serialize()


def main() -> None:
    fuzz_main("rtp", test_one_input, seeds(), max_len=1500)


if __name__ == "__main__":
    main()
