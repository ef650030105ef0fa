"""Parser and stream framer against RFC 4475 torture messages and real peer captures.

Fixtures in ``tests/fixtures/sip/rfc4475`` are the RFC 4475 messages byte for byte (CRLF line
endings, binary bodies). The 13 §3.1.1 files hash-match an independent decode of the RFC's
Appendix A archive; the others were rebuilt from the same archive as carried by the
reSIProcate and SIPSorcery test suites (their sizes match). ``RFC4475_SHA256`` pins them so a
line-ending conversion or an editor cannot silently change what is under test.

Who rejects what: the parser raises ``SipParseError`` for syntax (§3.1.2) and for the
§3.3 messages whose fault is in the framing or the core headers (insuf, multi01, mcl01).
Semantic faults are the endpoint's (``ENDPOINT_REJECTS``): the parser must return those
messages so the endpoint can answer with the right status.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from cti_server.sip.errors import SipParseError
from cti_server.sip.message import SipRequest, SipResponse
from cti_server.sip.parser import LIST_HEADERS, StreamFramer, parse_message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sip"
RFC4475 = FIXTURES / "rfc4475"


def load(name: str) -> bytes:
    return (RFC4475 / f"{name}.sip").read_bytes()


def request(data: bytes) -> SipRequest:
    msg = parse_message(data)
    assert isinstance(msg, SipRequest)
    return msg


def feed_bytewise(data: bytes, framer: StreamFramer | None = None) -> list[bytes]:
    framer = framer or StreamFramer()
    out: list[bytes] = []
    for i in range(len(data)):
        out += framer.feed(data[i : i + 1])
    return out


RFC4475_SHA256 = {
    "badaspec": "f8f6e2f4247287b0be6adb5ac222a6db4759395e44d27d2ddb9b39393e94867e",
    "badbranch": "cb049c727f16b5ec49e822f9e8b7d0ee20ca2d20ffb50baecd0b411a5e64fa7d",
    "baddate": "1208a6e3e0c8a8c33a06a1f3733d158413cb72e58c379d094c4ecea11e9d4c28",
    "baddn": "9d9428e8017092f194ec11077ba6865c251308cdfd7fd9db6a993b28e5748951",
    "badinv01": "9ee2b88f2e0b5a9eeb9bf729b6177f0a0c7d0b5e6c84be593e0480d7962f3ab8",
    "badvers": "037d702d19e934bfeebbd2609050d7d54928d590cf90c78f3914522771dd8e03",
    "bcast": "073637c63597199179cf5fc91b980b2d530c066a0048ea3b908772def57b4c36",
    "bext01": "57181987c02c4f5752b7aa8c2847311f6184216ce7621e40303015949e70761c",
    "bigcode": "f79450070975da54c3525c9a5cbe75bae3c9d8cb92eba609772c26f66f225c2e",
    "clerr": "d9da629086a38df433438fb0fb19a8730f34516f049a5520dd0cac3285485290",
    "cparam01": "dfa6b5cdb289adc694b9b7e103ebfa7a2167335c46e5dc9de67055021910ae1c",
    "cparam02": "e93574215bd1d804bb46cc15ca6176b567def7ea1b15f72ab2c2dcf598af465a",
    "dblreq": "a6be48426565c2a705389c4ce2ea17e57b891cb13f80490a2cb9392c797b46ef",
    "esc01": "be3a316d4ce5f69cad474646191e390dd4b50fc8371e44b5197fe1237781973e",
    "esc02": "9a9c59449f00327b02071feafc8e5c2a261c98c818044167894cc17809a12199",
    "escnull": "263fe2ecd12a5ccbb6c67b3174e9211d11da9b600e7d69666a86d2ee42873e90",
    "escruri": "c3cf30af13a9d107829cc105effd79355f1139c6ecc683a048b4c27951f8f416",
    "insuf": "1e3efd9f3b238c6351ba12bc7eb46d843f2761b5d4a6b82b63bffdf07f2c5aee",
    "intmeth": "b957a8292c1c0a9851fe94705b90f94320738f43aacde64998e401f742ef688d",
    "inv2543": "76fac8afe22dee49ea696b511621946694897ac7030fc5d07f57c8b487ce0521",
    "invut": "9b39e824947df46f90f824cd308fb3c118f548d94637f581101e355b381a0d92",
    "longreq": "185739292bc676760e5b1cca77c87705aa570240171c506ad76f8c35af0ecdaa",
    "ltgtruri": "bcacb2dc17610e8cc8f9b8b0e3d6ee65ab473f93787a03bbd33579e1cea473df",
    "lwsdisp": "d1b36b6316c12824f6f04bf6b1fd1f021cade9b74871693b9c3474cd9fa7f4e6",
    "lwsruri": "3e22ceeca585ad23cc180208e2dad94e0a5aa4bb877a61cac443aa927f758b9e",
    "lwsstart": "f884e5626c6c5b1210cfc4a3540b8a28bd52939cff092f3f0c5c971e032adb0e",
    "mcl01": "887191619bf003b7e87399200b5cf4c3b5397344dbf70288ad5e23bd157b7fe4",
    "mismatch01": "a2c285636e451e75420da0cc62ee55ca3e398827008418befbfb078726bf0793",
    "mismatch02": "01b287f9a9c492f7f57405c36c8a2af0e2393896ed2d25fb92b502f2a6722bc4",
    "mpart01": "92147c8e24997bac59629e1b163767697d0d6d499af87f89e325d69968bec3ba",
    "multi01": "d156ab12105b4bfd8a6498de6f7195087058162b8cda1606169855b722411791",
    "ncl": "7ea6538edc1f054fdb6cd1c821040460cffca3cb682fa2e8e2a502d92170b4c2",
    "noreason": "07e11e470a69fffa3674de805e5165d1351a9439a91045ee70c9570ea24ab4fe",
    "novelsc": "9a50a7343fcf685e77c4d0f477138a28f32a41c75aa566d200f3df210b01e648",
    "quotbal": "e61978a2ea359fc666f0336fe4dbc623447532280e3273ea98119b3d3f788c84",
    "regaut01": "885ba0488872cfc04a3c7622854b8381955a5ee890745d6010834e3731a73faa",
    "regbadct": "575d27530275814c1c98be164808fac89a0e2b4fc899dadcd97e6ba499437bda",
    "regescrt": "dab4087c133348b06fd7b3c4c7ef15094f8754e265e4e8c2137bb3ecda2ef477",
    "scalar02": "53158177326568e9964bce5dcfac27a2bf8a90953bbc03f6c5e2775864a97e4b",
    "scalarlg": "0957eca31737e3592eb1418bb41e9f5219278a78ff420111620d7fb60175b551",
    "sdp01": "497c5f1ced6c7b579b48075e2dca919ce9b819a735964128a6e744a3a0b9e57f",
    "semiuri": "87bbaed6b4b354dbd3c5c7a20e66686303c63e43a0aa19b89de1ac75231611a2",
    "transports": "33b4553a3b9418121b099ff07882535151edd6a1e81898c63a916aad2cbf90bc",
    "trws": "64ae20694026e28c10746b57386b7fd1276de02b6f8d42d418070e87d6f4499f",
    "unkscm": "81be1a6a566c7ab52fe1c58c4a75440dfd697ad04c5e09fa71340de7da7b8bbb",
    "unksm2": "f6914409ced613ef5eb56e264d2f096dac26ab9e397d6a638934d2027f1f6acb",
    "unreason": "4f939d6ebf4817eea70f011d3209e83732872ffc20ffd304b244084dc392f4d7",
    "wsinv": "d6f6cdee99cd0a1f8e3d9a0fdd67c877700e19ab86d8186dada06f61260e3e61",
    "zeromf": "50954ef47acca4f9f5263ded06246d06dee4e2ee508a8d284191795d7fddf365",
}

# §3.1.1 valid messages, plus §3.2/§3.3/§3.4 messages whose fault lies above the parser.
PARSE_OK = [
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
    "semiuri", "transports", "mpart01", "unreason", "noreason",
    "baddate",  # §3.1.2.12: Date is never read here; a proxy forwards it unchanged
    "badbranch",  # §3.2.1: the transaction layer treats "z9hG4bK" alone as an RFC 2543 branch
    "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01", "bcast", "zeromf",
    "cparam01", "cparam02", "regescrt", "sdp01",
    "inv2543",  # §3.4.1: RFC 2543 syntax (no Max-Forwards, no Content-Length, no cookie)
]  # fmt: skip

# What the endpoint (UAS / registrar) must answer to messages the parser accepts. The lead
# wires endpoint tests to this table: the parser's part is to hand them over intact.
ENDPOINT_REJECTS = {
    "unkscm": 416,  # §3.3.2 Request-URI scheme unknown: 416 Unsupported URI Scheme
    "novelsc": 416,  # §3.3.3 soap.beep: known to IANA but not supported here: 416
    "unksm2": 416,  # §3.3.4 REGISTER whose To is isbn: (the AOR must be a SIP URI): 416
    "bext01": 420,  # §3.3.5 Require: nothingSupportsThis: 420 Bad Extension + Unsupported
    "invut": 415,  # §3.3.6 Content-Type application/unknownformat: 415 + Accept
    "regaut01": 401,  # §3.3.7 unknown Authorization scheme: challenge with 401
    "sdp01": 406,  # §3.3.15 Accept: text/nobodyKnowsThis rules out an SDP answer: 406
}
# Answered normally by a UAS (not rejected): zeromf (§3.3.11, Max-Forwards 0 only stops a
# proxy), bcast (§3.3.10, a response: the transaction layer matches it by the top Via),
# cparam01/cparam02/regescrt (§3.3.12-14, ordinary registrations).

# Parser rejections: (status hint, words in the reason, whether ``partial`` is set).
PARSE_ERRORS = {
    "badinv01": (400, "Via", True),  # §3.1.2.1 ";;,;,," leaves a Via without sent-protocol
    "clerr": (400, "Content-Length", True),  # §3.1.2.2 Content-Length 9999 > body
    "ncl": (400, "Content-Length", True),  # §3.1.2.3 Content-Length -999
    "scalar02": (400, "CSeq", True),  # §3.1.2.4 CSeq >= 2**31
    "scalarlg": (400, "CSeq", False),  # §3.1.2.5 a response: dropped, never answered
    "quotbal": (400, "To", True),  # §3.1.2.6 unterminated quoted display name
    "ltgtruri": (400, "Request-URI", True),  # §3.1.2.7 <> around the Request-URI
    "lwsruri": (400, "Request-Line", True),  # §3.1.2.8 LWS inside the Request-URI
    "lwsstart": (400, "Request-Line", True),  # §3.1.2.9 several SP between elements
    "trws": (400, "Request-Line", True),  # §3.1.2.10 SP after SIP/2.0
    "escruri": (400, "Request-URI", True),  # §3.1.2.11 ?Route= headers in the Request-URI
    "regbadct": (400, "Contact", True),  # §3.1.2.13 addr-spec with '?' not inside <>
    "badaspec": (400, "To", True),  # §3.1.2.14 "< sip:... >": LWS inside the brackets
    "baddn": (400, "From", True),  # §3.1.2.15 unquoted display name with ','
    "badvers": (505, "version", True),  # §3.1.2.16 SIP/7.0: 505 Version Not Supported
    "mismatch01": (400, "CSeq method", True),  # §3.1.2.17 OPTIONS with CSeq INVITE
    "mismatch02": (400, "CSeq method", True),  # §3.1.2.18 NEWMETHOD with CSeq INVITE
    "bigcode": (400, "status code", False),  # §3.1.2.19 status 4294967301
    "insuf": (400, "Missing", True),  # §3.3.1 no To/From/Call-ID: answer 400 if possible
    "multi01": (400, "Multiple", True),  # §3.3.8 two CSeq/Call-ID/To/From
    "mcl01": (400, "Content-Length", True),  # §3.3.9 two Content-Length values
}

# Messages whose Content-Length frames them exactly, so a TCP peer could send them as is.
STREAM_OK = [n for n in PARSE_OK if n not in ("dblreq", "inv2543")]


def test_corpus_is_complete_and_classified() -> None:
    names = {p.stem for p in RFC4475.glob("*.sip")}
    assert names == set(RFC4475_SHA256)
    assert len(names) == 49  # the RFC archive's 50 files minus test.dat, which no section uses
    assert set(PARSE_OK) | set(PARSE_ERRORS) == names
    assert not set(PARSE_OK) & set(PARSE_ERRORS)
    assert set(ENDPOINT_REJECTS) <= set(PARSE_OK)


@pytest.mark.parametrize("name", sorted(RFC4475_SHA256))
def test_fixture_bytes_are_pinned(name: str) -> None:
    assert hashlib.sha256(load(name)).hexdigest() == RFC4475_SHA256[name]


@pytest.mark.parametrize("name", PARSE_OK)
def test_rfc4475_message_parses(name: str) -> None:
    msg = parse_message(load(name))
    assert msg.call_id
    assert msg.headers.get_all("Via")


@pytest.mark.parametrize("name", STREAM_OK)
def test_rfc4475_message_frames_byte_by_byte(name: str) -> None:
    data = load(name)
    assert feed_bytewise(data) == [data]
    assert parse_message(data) == parse_message(StreamFramer().feed(data)[0])


@pytest.mark.parametrize("name", sorted(PARSE_ERRORS))
def test_rfc4475_invalid_message_is_rejected(name: str) -> None:
    status, words, has_partial = PARSE_ERRORS[name]
    with pytest.raises(SipParseError) as caught:
        parse_message(load(name))
    assert caught.value.status_hint == status
    assert words.lower() in caught.value.reason.lower()
    assert (caught.value.partial is not None) == has_partial


@pytest.mark.parametrize("name", sorted(n for n, v in PARSE_ERRORS.items() if v[2]))
def test_partial_request_carries_what_a_response_copies(name: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(load(name))
    partial = caught.value.partial
    assert partial is not None
    assert partial.headers.get_all("Via")
    if name != "insuf":  # insuf has no From/To/Call-ID at all
        for header in ("From", "To", "Call-ID", "CSeq"):
            assert partial.headers.get(header), header


@pytest.mark.parametrize("name", sorted(ENDPOINT_REJECTS))
def test_endpoint_level_faults_reach_the_endpoint(name: str) -> None:
    msg = request(load(name))
    assert msg.method in ("OPTIONS", "REGISTER", "INVITE")


def test_wsinv_short_tortuous_invite() -> None:
    msg = request(load("wsinv"))
    assert msg.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert msg.headers.get("To") == "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"
    assert (
        msg.headers.get("From")
        == '"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8'
    )
    assert msg.headers.get("Max-Forwards") == "0068"
    assert msg.headers.get("CSeq") == "0009 INVITE"
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.headers.get_all("Via") == [
        "SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw",
        "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
        "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
    ]
    assert len(msg.headers.get_all("Route")) == 1
    assert msg.headers.get_all("Contact") == [
        '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; '
        "secondparam ; q = 0.33"
    ]
    assert msg.body.startswith(b"v=0\r\n") and len(msg.body) == 150


def test_intmeth_unusual_characters_survive_round_trip() -> None:
    data = load("intmeth")
    msg = request(data)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    ext = msg.headers.get("extensionHeader-!.%*+_`'~")
    assert (
        ext is not None
        and ext.encode("utf-8") == b"\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb"
    )
    to = msg.headers.get("To")
    assert to is not None and "\x00" in to and "\x07" in to
    # Only the header name is respelled (canonical form, "Name: value"); every value byte
    # survives, the escaped NUL and the UTF-8 included.
    expected = data.replace(b"extensionHeader-!.%*+_`'~:", b"Extensionheader-!.%*+_`'~: ")
    assert msg.serialize() == expected


def test_esc02_percent_is_not_an_escape_in_methods_or_names() -> None:
    msg = request(load("esc02"))
    assert msg.method == "RE%47IST%45R"
    assert len(msg.headers.get_all("Contact")) == 2
    assert msg.headers.get("C%6fntact") == "<sip:alias2@host2.example.com>"


def test_longreq_keeps_every_via_in_order() -> None:
    vias = request(load("longreq")).headers.get_all("Via")
    assert len(vias) == 34
    assert vias[0] == "SIP/2.0/TCP sip33.example.com"
    assert vias[32] == "SIP/2.0/TCP sip1.example.com"


def test_dblreq_discards_octets_past_content_length() -> None:
    data = load("dblreq")
    msg = request(data)
    assert msg.method == "REGISTER" and msg.body == b""
    assert msg.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"  # compact "I:"
    # On a stream the REGISTER frames alone; the INVITE after it has a wrong Content-Length
    # (its "m =video" line is one octet longer), so the stream ends in a framing error.
    register = data[: data.index(b"\r\n\r\n") + 4]
    assert feed_bytewise(register) == [register]
    with pytest.raises(SipParseError):
        StreamFramer().feed(data)


def test_semiuri_and_accept_list() -> None:
    msg = request(load("semiuri"))
    assert msg.uri == "sip:user;par=u%40example.net@example.com"
    assert msg.headers.get_all("Accept") == [
        "application/sdp", "application/pkcs7-mime", "multipart/mixed",
        "multipart/signed", "message/sip", "message/sipfrag",
    ]  # fmt: skip


def test_transports_keeps_unknown_transport() -> None:
    vias = request(load("transports")).headers.get_all("Via")
    assert [v.split()[0] for v in vias] == [
        "SIP/2.0/UDP", "SIP/2.0/SCTP", "SIP/2.0/TLS", "SIP/2.0/UNKNOWN", "SIP/2.0/TCP",
    ]  # fmt: skip


def test_mpart01_binary_body_is_untouched() -> None:
    data = load("mpart01")
    msg = request(data)
    assert msg.body == data[-553:]
    assert msg.body.count(b"\n") - msg.body.count(b"\r\n") == 3  # bare LFs inside the DER


def test_unusual_and_empty_reason_phrases() -> None:
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, SipResponse) and unreason.status == 200
    assert unreason.reason.startswith("= 2**3 * 5**2 но сто девяносто девять")
    noreason = parse_message(load("noreason"))
    assert isinstance(noreason, SipResponse) and (noreason.status, noreason.reason) == (100, "")


def test_inv2543_without_content_length_takes_rest_of_datagram() -> None:
    msg = request(load("inv2543"))
    assert "Max-Forwards" not in msg.headers
    assert msg.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")


@pytest.mark.parametrize("name", PARSE_OK)
def test_serialize_then_parse_is_stable(name: str) -> None:
    msg = parse_message(load(name))
    again = parse_message(msg.serialize())
    assert again.body == msg.body
    strip = [(n, v) for n, v in msg.headers if n != "Content-Length"]
    assert [(n, v) for n, v in again.headers if n != "Content-Length"] == strip


# Real peers -------------------------------------------------------------------------------


def test_sipp_uac_invite_capture() -> None:
    # Captured from `sipp -sn uac` (SIPp 3.6.1) over loopback UDP; note "Content-Length:   129".
    data = (FIXTURES / "sipp_3.6.1_uac_invite.sip").read_bytes()
    msg = request(data)
    assert msg.uri == "sip:service@127.0.0.1:5098"
    assert msg.headers.get("Subject") == "Performance Test"
    assert len(msg.body) == 129
    assert feed_bytewise(data) == [data]


def test_pyvoip_register_with_md5_digest() -> None:
    # Generated by pyVoIP 1.6.8 SIPClient.gen_register (password "s3cret-1001") answering a
    # 401 with realm "cti.local": MD5 without qop, and a digest uri that adds
    # ";transport=UDP" to the Request-URI.
    msg = request((FIXTURES / "pyvoip_1.6.8_register_auth.sip").read_bytes())
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK", "BYE", "CANCEL"]
    contact = msg.headers.get_all("Contact")
    assert len(contact) == 1 and contact[0].endswith(
        '"<urn:uuid:43B20098-CE27-41D3-B7C3-D1C475A5C5FD>"'
    )
    auth = msg.headers.get("Authorization")
    assert auth is not None and "qop" not in auth
    fields = dict(re.findall(r'(\w+)="([^"]*)"', auth))
    assert fields["uri"] == "sip:127.0.0.1;transport=UDP" != msg.uri

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5("1001:cti.local:s3cret-1001")
    assert fields["response"] == md5(f"{ha1}:{fields['nonce']}:{md5('REGISTER:' + fields['uri'])}")
    initial = request((FIXTURES / "pyvoip_1.6.8_register.sip").read_bytes())
    assert "Authorization" not in initial.headers and initial.call_id == msg.call_id


# Parser rules ---------------------------------------------------------------------------

BASE = (
    b"OPTIONS sip:svc@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
    b"From: <sip:a@example.com>;tag=1\r\n"
    b"To: <sip:svc@example.com>\r\n"
    b"Call-ID: c1@example.com\r\n"
    b"CSeq: 1 OPTIONS\r\n"
)


def with_headers(extra: bytes = b"", body: bytes = b"", head: bytes = BASE) -> bytes:
    return head + extra + b"\r\n" + body


def test_bare_lf_line_endings_are_tolerated() -> None:
    data = with_headers(b"Content-Length: 3\r\n", b"ab\r\n").replace(b"\r\n", b"\n")
    msg = request(data)
    assert msg.headers.get("CSeq") == "1 OPTIONS" and msg.body == b"ab\n"
    assert StreamFramer().feed(data + data) == [data, data]


def test_leading_crlfs_are_ignored() -> None:
    assert request(b"\r\n\r\n" + with_headers()).method == "OPTIONS"


def test_compact_forms_and_space_before_colon() -> None:
    data = (
        b"OPTIONS sip:svc@example.com SIP/2.0\r\nv : SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"f: <sip:a@x>;tag=1\r\nt:<sip:b@x>\r\ni: abc\r\nCSEQ: 2 OPTIONS\r\nl: 0\r\n\r\n"
    )
    names = [n for n, _ in request(data).headers]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "Content-Length"]


def test_method_is_case_sensitive() -> None:
    data = with_headers(head=BASE.replace(b"OPTIONS", b"options"))
    assert request(data).method == "options"
    with pytest.raises(SipParseError, match="CSeq method"):
        parse_message(with_headers(head=BASE.replace(b"1 OPTIONS", b"1 options")))


def test_list_headers_split_but_credentials_and_dates_do_not() -> None:
    assert {"Via", "Contact", "Allow", "Supported", "Require", "Route"} <= LIST_HEADERS
    assert not {"WWW-Authenticate", "Authorization", "Proxy-Authorization", "Date"} & LIST_HEADERS
    extra = (
        b'Contact: "Doe, John <x>" <sip:j@x>;q=0.5, <sip:k@y,z>\r\n'
        b'Authorization: Digest username="a", realm="b"\r\n'
        b"Date: Sat, 15 Oct 2005 04:44:56 GMT\r\n"
        b"Allow: INVITE,ACK , BYE\r\n"
    )
    headers = request(with_headers(extra)).headers
    assert headers.get_all("Contact") == ['"Doe, John <x>" <sip:j@x>;q=0.5', "<sip:k@y,z>"]
    assert headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]
    assert len(headers.get_all("Authorization")) == 1 and len(headers.get_all("Date")) == 1


def test_contact_star_is_accepted() -> None:
    head = BASE.replace(b"OPTIONS", b"REGISTER")
    assert (
        request(with_headers(b"Contact: *\r\nExpires: 0\r\n", head=head)).headers.get("Contact")
        == "*"
    )


def test_content_length_rules() -> None:
    assert request(with_headers(b"Content-Length: 2\r\n", b"abcd")).body == b"ab"
    assert request(with_headers(b"", b"rest")).body == b"rest"  # UDP, none given
    for bad in (b"Content-Length: 5\r\n", b"Content-Length: 1x\r\n"):
        with pytest.raises(SipParseError) as caught:
            parse_message(with_headers(bad, b"abcd"))
        assert caught.value.status_hint == 400 and caught.value.partial is not None


def test_oversized_message_is_513() -> None:
    data = with_headers(b"Content-Length: 3000\r\n", b"x" * 3000)
    with pytest.raises(SipParseError) as caught:
        parse_message(data, max_size=2000)
    assert caught.value.status_hint == 513


def test_missing_max_forwards_is_accepted_but_missing_call_id_is_not() -> None:
    assert "Max-Forwards" not in request(with_headers()).headers
    with pytest.raises(SipParseError, match="Missing Call-ID") as caught:
        parse_message(with_headers(head=BASE.replace(b"Call-ID: c1@example.com\r\n", b"")))
    assert caught.value.partial is not None


def test_request_without_via_has_no_partial() -> None:
    head = BASE.replace(b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n", b"")
    with pytest.raises(SipParseError) as caught:
        parse_message(with_headers(head=head))
    assert caught.value.partial is None  # nowhere to send a response


def test_header_line_without_colon_keeps_partial() -> None:
    with pytest.raises(SipParseError, match="without ':'") as caught:
        parse_message(with_headers(b"Foobar roobar\r\n"))
    assert caught.value.partial is not None and caught.value.partial.call_id == "c1@example.com"


def test_unknown_request_uri_scheme_is_left_to_the_endpoint() -> None:
    data = with_headers(head=BASE.replace(b"sip:svc@example.com SIP", b"urn:service:sos SIP"))
    assert request(data).uri == "urn:service:sos"
    for bad in (b"svc@example.com", b"sip:svc@exa\tmple.com"):
        with pytest.raises(SipParseError):
            parse_message(
                with_headers(head=BASE.replace(b"sip:svc@example.com SIP", bad + b" SIP"))
            )


@pytest.mark.parametrize(
    "start",
    [b"", b"SIP/2.0 20 OK", b"SIP/2.0 OK", b"HTTP/1.1 200 OK", b"INVITE sip:a@b", b"IN VITE@ x y"],
)
def test_malformed_start_lines(start: bytes) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(start + b"\r\n" + BASE.split(b"\r\n", 1)[1] + b"\r\n")
    assert caught.value.status_hint == 400 and caught.value.partial is None


def test_response_rules() -> None:
    resp = (
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
        b"To: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    msg = parse_message(resp)
    assert isinstance(msg, SipResponse) and (msg.status, msg.reason) == (180, "Ringing")
    with pytest.raises(SipParseError) as caught:
        parse_message(resp.replace(b"SIP/2.0 180", b"SIP/3.0 180"))
    assert caught.value.status_hint == 505 and caught.value.partial is None
    with pytest.raises(SipParseError, match="Missing CSeq"):
        parse_message(resp.replace(b"CSeq: 7 INVITE\r\n", b""))


def test_non_utf8_bytes_round_trip() -> None:
    data = with_headers(b"Subject: caf\xe9 \xff\r\nContent-Length: 0\r\n")
    msg = request(data)
    assert msg.serialize() == data


def test_folded_header_with_errors_before_the_fold() -> None:
    data = with_headers(b"Foo bar\r\nSubject: a\r\n  b\r\n")
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    partial = caught.value.partial
    assert partial is not None and partial.headers.get("Subject") == "a b"
    assert caught.value.reason.startswith("Header line without ':'")


# StreamFramer ---------------------------------------------------------------------------


def test_framer_pipelined_messages_and_pings() -> None:
    one = with_headers(b"Content-Length: 3\r\n", b"abc")
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n" + one + one[:10]) == [one]
    assert framer.keepalive_pings == 1
    assert framer.feed(one[10:] + b"\r\n\r\n\r\n\r\n") == [one]
    assert framer.keepalive_pings == 3
    assert feed_bytewise(b"\r\n" + one + b"\r\n\r\n", framer) == [one]
    assert framer.keepalive_pings == 4  # a lone CRLF (an RFC 5626 pong) is not a ping


def test_framer_keepalive_bytewise() -> None:
    framer = StreamFramer()
    assert feed_bytewise(b"\r\n\r\n" * 3, framer) == []
    assert framer.keepalive_pings == 3


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (with_headers(), 400),  # no Content-Length on a stream (RFC 3261 §18.3)
        (with_headers(b"Content-Length: 5\r\nl: 5\r\n"), 400),
        (with_headers(b"Content-Length: -1\r\n"), 400),
        (with_headers(b"Content-Length: 999999\r\n"), 513),
        (b"\x16\x03\x01" + b"\x00" * 70000, 513),  # TLS hello on a plain port, no header end
    ],
)
def test_framer_errors(data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as caught:
        StreamFramer().feed(data)
    assert caught.value.status_hint == status


def test_framer_waits_for_a_short_body() -> None:
    framer = StreamFramer()
    assert framer.feed(load("clerr")) == []  # Content-Length 9999: wait for more octets
