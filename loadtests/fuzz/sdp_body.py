"""Fuzz target ``sdp``: SDP bodies (RFC 4566) and the offer/answer helpers (RFC 3264).

Accepted: ``SdpError``. Checked besides: a body that parses formats to one that parses again
and formats to the same bytes (formatting is a fixed point); ``answer`` and the accessors the
call controller uses (RTP address, direction, hold, chosen codec, DTMF payload type) never
raise on a parsed offer, and an answer, when there is one, formats and parses; SDES
(``sip/sdes.py``, RFC 4568) raises only ``SdesError``, for a secure stream with no usable
a=crypto line, and the line it chose survives formatting.
"""

from __future__ import annotations

import base64

import atheris

from loadtests.fuzz.common import ROOT, fuzz_main, sip_fixtures, string_constants, tricky_tokens
from loadtests.fuzz.mutators import LineMutator

with atheris.instrument_imports(include=["cti_server"]):
    from cti_server.rtp.srtp import KEY_LENGTH
    from cti_server.sip import sdes
    from cti_server.sip.sdp import (
        SdpError,
        SessionDescription,
        answer,
        chosen_codec,
        dtmf_payload_type,
        format_sdp,
        parse_sdp,
    )

DICTIONARY = [
    t.encode()
    for t in (
        "v=0", "o=- 1 1 IN IP4 ", "s=", "c=IN IP4 ", "c=IN IP6 ", "t=0 0", "m=audio ",
        "m=video ", "m=application ", " RTP/AVP ", " RTP/AVPF ", " RTP/SAVP ", " udp ",
        "a=rtpmap:", "a=fmtp:", "a=ptime:", "a=sendonly", "a=recvonly", "a=inactive",
        "a=sendrecv", "a=crypto:1 ", "AES_CM_128_HMAC_SHA1_80 ", "inline:", "|2^31", "|1:4",
        "telephone-event/8000", "PCMU/8000", "PCMA/8000", "/2", "0.0.0.0",
        "127.0.0.1", "::1", "0-15", "101", "127", "128", "65535", "65536", "\r\n", "\n", "=",
        ":", " ",
    )
] + tricky_tokens()  # fmt: skip


def test_one_input(data: bytes) -> None:
    try:
        offer = parse_sdp(data)
    except SdpError:
        return
    formatted = format_sdp(offer)
    again = parse_sdp(formatted)
    if format_sdp(again) != formatted:
        raise AssertionError(f"formatting is not a fixed point: {formatted[:300]!r}")
    _accessors(offer)
    for hold in (False, True):
        reply = answer(
            offer, local_ip="192.0.2.1", local_port=20000, session_id=1, version=1, hold=hold
        )
        if reply is not None:
            _accessors(parse_sdp(format_sdp(reply)))
    _sdes(offer)


def _sdes(offer: SessionDescription) -> None:
    """RFC 4568 as ``call/media_plan.py`` uses it: pick the offer's crypto line (SdesError
    only for an SRTP stream with none usable), answer with our key, and that line must read
    back from the formatted answer."""
    audio = offer.audio()
    try:
        keys = sdes.negotiate(audio, lambda: b"\xaa" * KEY_LENGTH)
    except sdes.SdesError:
        if audio is None or audio.proto.upper() not in sdes.SECURE_PROTOS:
            raise
        return
    reply = answer(
        offer, local_ip="192.0.2.1", local_port=20000, session_id=1, version=1,
        srtp=keys is not None,
    )  # fmt: skip
    if reply is None or keys is None:
        return
    sdes.add_crypto(reply, keys)
    again = parse_sdp(format_sdp(reply))
    accepted = next(m for m in again.media if m.media == "audio" and m.port != 0)
    if sdes.offered(accepted) != [sdes.CryptoLine(keys.tag, keys.suite, keys.local)]:
        raise AssertionError(f"our crypto line did not survive formatting: {keys!r}")


def _accessors(sd: SessionDescription) -> None:
    sd.rtp_address()
    sd.direction()
    sd.is_hold()
    chosen_codec(sd)
    dtmf_payload_type(sd)


def seeds() -> list[bytes]:
    out: list[bytes] = []
    for message in sip_fixtures():
        _, sep, body = message.partition(b"\r\n\r\n")
        if not sep:
            _, sep, body = message.partition(b"\n\n")
        if body.lstrip().startswith(b"v=0"):
            out.append(body)
    tests = ROOT / "tests" / "unit" / "sip"
    out += [s.encode() for s in string_constants(tests.glob("test_*.py"), r"^v=0\r?\n")]
    key = base64.b64encode(bytes(range(KEY_LENGTH))).decode()
    for proto in ("RTP/SAVP", "RTP/AVP"):
        out.append(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
            f"m=audio 4000 {proto} 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n"
            f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\n".encode()
        )
    return out


def main() -> None:
    corpus = seeds()
    fuzz_main(
        "sdp",
        test_one_input,
        corpus,
        max_len=4096,
        dictionary=DICTIONARY,
        custom_mutator=LineMutator(corpus, DICTIONARY),
    )


if __name__ == "__main__":
    main()
