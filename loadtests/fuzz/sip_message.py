"""Fuzz target ``sip``: the SIP parser, the stream framer and the structured header views.

One input is a datagram (or a TCP byte stream). Accepted: ``SipParseError`` (``HeaderError``
included) whose status hint is a 4xx/5xx. Checked besides:

* a message that parses serialises to bytes that parse to the same message (Content-Length
  aside, which serialising recomputes);
* the header views the endpoint uses (Via, name-addr fields, CSeq, Request-URI, Digest
  credentials) raise nothing but ``SipParseError`` on any value the parser let through;
* ``StreamFramer`` cuts the same messages whether the stream arrives whole or in three pieces.

    .venv/bin/python -m loadtests.fuzz.sip_message -atheris_runs=100000 /tmp/sip-corpus
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import atheris

from loadtests.fuzz.common import fuzz_main, sip_fixtures, tricky_tokens
from loadtests.fuzz.mutators import LineMutator

with atheris.instrument_imports(include=["cti_server"]):
    from cti_server.sip.digest import NonceFactory, parse_authorization, verify
    from cti_server.sip.errors import SipParseError
    from cti_server.sip.headers import parse_cseq, parse_name_addr, parse_uri, parse_via
    from cti_server.sip.message import SipRequest, SipResponse
    from cti_server.sip.parser import StreamFramer, parse_message

NAME_ADDR_HEADERS = ("From", "To", "Contact", "Route", "Record-Route", "Refer-To", "Reply-To")
DICTIONARY = [
    t.encode()
    for t in (
        "SIP/2.0", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "UPDATE",
        "Via: ", "v: ", "From: ", "f: ", "To: ", "t: ", "Call-ID: ", "i: ", "CSeq: ",
        "Contact: ", "m: ", "Content-Length: ", "l: ", "Content-Type: application/sdp",
        "Max-Forwards: ", "Route: ", "Record-Route: ", "Authorization: Digest ",
        "Proxy-Authorization: Digest ", "username=", "realm=", "nonce=", "uri=", "response=",
        "qop=auth", "qop=auth-int", "nc=00000001", "cnonce=", "algorithm=SHA-256",
        "algorithm=MD5-sess", "opaque=", ";branch=z9hG4bK", ";tag=", ";received=", ";rport",
        ";transport=tcp", ";lr", ";expires=", "sip:", "sips:", "tel:", "<sip:", ">", "\"",
        "\\", "[::1]", "[", "]", ":5060", ":0", ":65536", "SIP/2.0/UDP ", "SIP / 2.0 / TCP ",
        ",", "*", "?", "@", "%00", "\r\n", "\n", "\r\n ", "\r\n\t", "\r\n\r\n", "2147483648",
    )
] + tricky_tokens()  # fmt: skip


def _hint(exc: SipParseError) -> None:
    if not 400 <= exc.status_hint < 600:
        raise AssertionError(f"status hint {exc.status_hint} for {exc.reason!r}")


def test_one_input(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as exc:
        _hint(exc)
        if exc.partial is not None:  # the endpoint answers from these headers
            _views(exc.partial)
    else:
        _views(message)
        _round_trip(message)
    _framing(data)


def _views(message: SipRequest | SipResponse) -> None:
    headers = message.headers
    checks: list[tuple[Callable[[str], object], str]]
    checks = [(parse_via, v) for v in headers.get_all("Via")]
    checks += [(parse_cseq, v) for v in headers.get_all("CSeq")]
    for name in NAME_ADDR_HEADERS:
        checks += [(parse_name_addr, v) for v in headers.get_all(name) if v != "*"]
    if isinstance(message, SipRequest):
        checks.append((parse_uri, message.uri))
    for parse, value in checks:
        try:
            parse(value)
        except SipParseError as exc:
            _hint(exc)
    method = message.method if isinstance(message, SipRequest) else "INVITE"
    nonces = NonceFactory(b"fuzz-secret", 300.0)
    for name in ("Authorization", "Proxy-Authorization"):
        for value in headers.get_all(name):
            creds = parse_authorization(value)
            if creds is not None:
                verify(creds, method, "0" * 64, entity_body=message.body)
                nonces.check(creds.nonce, 0.0)
                nonces.record_nc(creds.nonce, creds.nc, 0.0)


def _round_trip(message: SipRequest | SipResponse) -> None:
    wire = message.serialize()
    again = parse_message(wire, max_size=len(wire))
    if _comparable(again) != _comparable(message):
        raise AssertionError(f"round trip changed the message: {wire[:300]!r}")


def _comparable(message: SipRequest | SipResponse) -> tuple[object, ...]:
    fields = [(n, v) for n, v in message.headers if n != "Content-Length"]
    if isinstance(message, SipRequest):
        return ("request", message.method, message.uri, message.version, fields, message.body)
    return ("response", message.status, message.reason, message.version, fields, message.body)


def _framing(data: bytes) -> None:
    third = len(data) // 3
    whole = _frame([data])
    pieces = _frame([data[:third], data[third : 2 * third], data[2 * third :]])
    if whole != pieces:
        raise AssertionError(
            f"framing depends on the chunks: {str(whole)[:200]} != {str(pieces)[:200]}"
        )


def _frame(chunks: list[bytes]) -> tuple[list[bytes], int] | str:
    framer = StreamFramer()
    out: list[bytes] = []
    try:
        for chunk in chunks:
            out += framer.feed(chunk)
    except SipParseError as exc:
        _hint(exc)
        return "error"
    for frame in out:
        try:
            parse_message(frame)
        except SipParseError as exc:
            _hint(exc)
    return out, framer.keepalive_pings


def seeds() -> list[bytes]:
    messages = sip_fixtures()
    out = list(messages)
    # Streams: two messages back to back, with keep-alive pings around them (RFC 5626).
    with_length = [m for m in messages if b"Content-Length" in m or b"\nl:" in m]
    for first, second in itertools.pairwise(with_length):
        out.append(b"\r\n\r\n" + first + b"\r\n\r\n" + second)
    return out


def main() -> None:
    corpus = seeds()
    fuzz_main(
        "sip",
        test_one_input,
        corpus,
        max_len=8192,
        dictionary=DICTIONARY,
        custom_mutator=LineMutator(corpus, DICTIONARY),
    )


if __name__ == "__main__":
    main()
