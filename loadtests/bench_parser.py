"""Per-message cost of the SIP parser and serializer on typical B2BUA traffic.

Run: ``.venv/bin/python loadtests/bench_parser.py [--rounds N]``. Prints µs per operation for
a ~600-byte INVITE with SDP, a 200 OK response, the same INVITE fed to ``StreamFramer`` in
one chunk, and ``serialize()`` of the parsed INVITE. A B2BUA handles ~14 messages per call,
so 30 µs per message is ~0.4 ms of CPU per call.
"""

from __future__ import annotations

import argparse
import timeit

from cti_server.sip.parser import StreamFramer, parse_message

INVITE = (
    b"INVITE sip:5000@cti.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---77ba3a3ec4b1a7c0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice Caller" <sip:alice@example.com>;tag=9fxced76sl\r\n'
    b"To: <sip:5000@cti.example.com>\r\n"
    b"Call-ID: 3848276298220188511@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.10:5060;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: Zoiper rv2.10.20.4\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 209\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=sendrecv\r\n"
)

RESPONSE = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---77ba3a3ec4b1a7c0;rport=5060\r\n"
    b'From: "Alice Caller" <sip:alice@example.com>;tag=9fxced76sl\r\n'
    b"To: <sip:5000@cti.example.com>;tag=8321234356\r\n"
    b"Call-ID: 3848276298220188511@192.0.2.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:5000@198.51.100.5:5060>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def per_call_us(stmt: object, rounds: int) -> float:
    timer = timeit.Timer(stmt)  # type: ignore[arg-type]
    best = min(timer.repeat(repeat=5, number=rounds))
    return best / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20000)
    rounds = parser.parse_args().rounds
    invite = parse_message(INVITE)

    def frame() -> None:
        StreamFramer().feed(INVITE)

    results = {
        f"parse INVITE ({len(INVITE)} B)": per_call_us(lambda: parse_message(INVITE), rounds),
        f"parse 200 OK ({len(RESPONSE)} B)": per_call_us(lambda: parse_message(RESPONSE), rounds),
        "frame INVITE (StreamFramer)": per_call_us(frame, rounds),
        "serialize INVITE": per_call_us(invite.serialize, rounds),
    }
    for name, us in results.items():
        print(f"{name:32s} {us:7.2f} µs")


if __name__ == "__main__":
    main()
