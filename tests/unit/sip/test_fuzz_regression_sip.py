"""Crashes the ``sip`` fuzz target found (loadtests/fuzz/sip_message.py), as regression tests.

Each input is libFuzzer's minimised crashing input. Before the fixes, a Unicode digit passed
``str.isdigit()`` and then ``int()`` raised ValueError, and Digest hashing raised
UnicodeEncodeError on octets that are not UTF-8; now the first two are ``HeaderError``s with
status 400 and the third is an ordinary failed check.
"""

from __future__ import annotations

import hashlib

import pytest

from cti_server.sip.digest import NonceFactory, parse_authorization, verify
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import HeaderError, parse_cseq, parse_via
from cti_server.sip.local import LocalAddress
from cti_server.sip.message import SipRequest
from cti_server.sip.parser import parse_message
from cti_server.sip.validation import validate_request

CSEQ_UNICODE_DIGIT = (
    b"I 1 SIP/2.0\n"
    b"V:\n"
    b"CSeq:\xc2\xb2 \x00"
)  # fmt: skip
VIA_PORT_UNICODE_DIGIT = (
    b"R 1 SIP/2.0\r\n"
    b"Via:SIP/2/DP 1:5\xc2\xb2"
)  # fmt: skip
DIGEST_URI_NOT_UTF8 = (
    b"ISTER s SIP/2.0\r\n"
    b"V: \r\n"
    b'Authorization: Digest username="1001",realm="i.local",nonce=d2e3f",uri="sip:\xff'
    b'\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffsport=UDP",response="327,\x00m'
    b'=MD\x0032",\x00m='
)  # fmt: skip


def _partial(data: bytes) -> SipRequest:
    """The headers the endpoint answers a broken request from (what the harness checks)."""
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status_hint == 400
    assert caught.value.partial is not None
    return caught.value.partial


def test_cseq_with_a_unicode_digit_is_a_400() -> None:
    cseq = _partial(CSEQ_UNICODE_DIGIT).headers.get("CSeq")
    assert cseq == "\u00b2 \x00"
    with pytest.raises(HeaderError) as caught:
        parse_cseq(cseq)
    assert caught.value.status_hint == 400
    with pytest.raises(HeaderError):
        parse_cseq("\u0663 INVITE")  # ARABIC-INDIC DIGIT THREE: int() takes it, RFC 3261 not


def test_via_port_with_a_unicode_digit_is_a_400() -> None:
    via = _partial(VIA_PORT_UNICODE_DIGIT).headers.get("Via")
    assert via is not None
    with pytest.raises(HeaderError) as caught:
        parse_via(via)
    assert caught.value.status_hint == 400
    with pytest.raises(HeaderError):
        parse_via("SIP/2.0/UDP host:5\u0660")  # int() would take it as 50


def test_digest_over_octets_that_are_not_utf8_fails_cleanly() -> None:
    value = _partial(DIGEST_URI_NOT_UTF8).headers.get("Authorization")
    assert value is not None
    creds = parse_authorization(value)
    assert creds is not None
    assert verify(creds, "REGISTER", "0" * 32) is False
    assert NonceFactory(b"k", 300.0).check(creds.nonce + "\udcff", 0.0) == "invalid"


def test_digest_hashes_the_octets_the_client_sent() -> None:
    """RFC 7616 §3.4: the response is over the digest-uri's octets, UTF-8 or not."""
    raw_uri = b"sip:caf\xe9@cti.local"  # Latin-1, as a broken client might send it
    key = hashlib.md5(b"1001:cti.local:secret").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:" + raw_uri).hexdigest()
    response = hashlib.md5(f"{key}:n1:{ha2}".encode()).hexdigest()
    header = (
        b'Digest username="1001", realm="cti.local", nonce="n1", uri="'
        + raw_uri
        + b'", response="'
        + response.encode()
        + b'"'
    )
    creds = parse_authorization(header.decode("utf-8", "surrogateescape"))
    assert creds is not None
    assert verify(creds, "REGISTER", key) is True


def test_max_forwards_with_a_unicode_digit_is_a_400() -> None:
    """The same fault one layer up, found by hand after the fuzzer's finds: one datagram
    with ``Max-Forwards: ²`` raised ValueError out of ``CallSwitch.receive_datagram``."""
    request = parse_message(
        b"OPTIONS sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
        b"From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:svc@127.0.0.1>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: \xc2\xb2\r\n\r\n"
    )
    assert isinstance(request, SipRequest)
    assert validate_request(request, LocalAddress("127.0.0.1", 5060)) == (400, [])
