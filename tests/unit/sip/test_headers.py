"""Structured header views: URIs, name-addr, Via, CSeq, parameter and list splitting.

Values come from RFC 4475 messages, RFC 5118 (IPv6) shapes and real peers (pyVoIP's
quoted +sip.instance, SIPp's Via), so each case is one a peer actually sends.
"""

from __future__ import annotations

import pytest

from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import (
    HeaderError,
    format_params,
    parse_cseq,
    parse_name_addr,
    parse_params,
    parse_uri,
    parse_via,
    split_list,
)
from cti_server.sip.message import canonical_name

# URIs -------------------------------------------------------------------------------------


def test_sip_uri_all_parts() -> None:
    uri = parse_uri("sip:alice:pw@Atlanta.Example.com:5070;transport=TCP;lr?subject=hi")
    assert (uri.scheme, uri.user, uri.password) == ("sip", "alice", "pw")
    assert (uri.host, uri.port) == ("atlanta.example.com", 5070)  # host is case-insensitive
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.headers == "subject=hi"
    assert uri.format() == "sip:alice:pw@atlanta.example.com:5070;transport=TCP;lr?subject=hi"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:[2001:db8::10]", "2001:db8::10", None),
        ("sips:alice@[2001:db8::10]:5061;transport=tls", "2001:db8::10", 5061),
        ("sip:[::1]:5060", "::1", 5060),
    ],
)
def test_ipv6_references(text: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert (uri.host, uri.port) == (host, port)
    assert parse_uri(uri.format()) == uri  # brackets restored on output


def test_escaped_characters_are_kept_raw() -> None:
    # RFC 4475 §3.1.1.3 esc01 and §3.1.1.4 escnull: comparison unescapes, storage does not.
    assert parse_uri("sip:%75se%72@example.com").user == "%75se%72"
    assert parse_uri("sip:null-%00-null@example.com").user == "null-%00-null"
    contact = parse_uri("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert contact.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}


def test_user_part_may_hold_semicolons_and_question_marks() -> None:
    # RFC 4475 §3.1.1.9 semiuri and §3.1.1.2 intmeth: ';' '?' ':' before the '@'.
    semi = parse_uri("sip:user;par=u%40example.net@example.com")
    assert (semi.user, semi.host, semi.params) == ("user;par=u%40example.net", "example.com", {})
    odd = parse_uri(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
        "(doesn't-it)@example.com"
    )
    assert odd.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert odd.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert odd.host == "example.com" and odd.headers == ""


def test_headers_follow_the_host() -> None:
    uri = parse_uri("sip:user@example.com?Route=%3Csip:example.com%3E")
    assert (uri.host, uri.headers) == ("example.com", "Route=%3Csip:example.com%3E")


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert (uri.scheme, uri.user, uri.params) == (
        "tel",
        "+1-201-555-0123",
        {"phone-context": "example.com"},
    )
    assert uri.format() == "tel:+1-201-555-0123;phone-context=example.com"


def test_uri_errors() -> None:
    with pytest.raises(SipParseError) as unknown:
        parse_uri("nobodyKnowsThisScheme:totallyopaquecontent")
    assert unknown.value.status_hint == 416  # RFC 4475 §3.3.2: the endpoint answers 416
    for bad in ("user@example.com", "sip:", "sip:user@", "sip:a@b:99999", "sip:a@[::1"):
        with pytest.raises(HeaderError):
            parse_uri(bad)


# name-addr --------------------------------------------------------------------------------


def test_quoted_display_name_with_comma_and_angle_brackets() -> None:
    na = parse_name_addr('"Doe, John <boss>" <sip:j.doe@example.com>;tag=a1')
    assert na.display == "Doe, John <boss>"
    assert (na.uri.user, na.tag) == ("j.doe", "a1")


def test_escaped_quotes_in_display_name() -> None:
    # RFC 4475 §3.1.1.1 wsinv From, after unfolding; escapes are kept as they arrived.
    na = parse_name_addr('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert na.display == 'J Rosenberg \\\\\\"'
    assert na.tag == "98asjd8"


def test_unquoted_display_and_no_space_before_angle() -> None:
    na = parse_name_addr("caller<sip:caller@example.com>;tag=323")  # §3.1.1.6 lwsdisp
    assert (na.display, na.uri.user, na.tag) == ("caller", "caller", "323")
    assert parse_name_addr("<sip:a@b>").display is None


def test_addr_spec_params_belong_to_the_header() -> None:
    # RFC 3261 §20.10: without <>, ;tag and ;user are header parameters, not URI parameters.
    na = parse_name_addr("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert (na.uri.host, na.uri.params, na.tag) == ("chair-dnrc.example.com", {}, "1918181833n")
    rfc2543 = parse_name_addr("sip:+16505552222@ss1.example.net;user=phone")
    assert rfc2543.params == {"user": "phone"} and rfc2543.uri.params == {}


def test_quoted_param_holding_angle_brackets() -> None:
    contact = '<sip:1001@127.0.0.1:5062;transport=UDP>;+sip.instance="<urn:uuid:43B2-D1C4>"'
    na = parse_name_addr(contact)  # pyVoIP 1.6.8 Contact
    assert na.uri.params == {"transport": "UDP"}
    assert na.params == {"+sip.instance": '"<urn:uuid:43B2-D1C4>"'}


def test_name_addr_format_round_trip() -> None:
    na = parse_name_addr('"Alice" <sip:alice@example.com;transport=udp>;tag=9fx')
    assert na.format() == '"Alice" <sip:alice@example.com;transport=udp>;tag=9fx'
    assert parse_name_addr(na.format()) == na


@pytest.mark.parametrize(
    "bad", ['"Mr. J. User <sip:j.user@example.com>', "<sip:a@b", '"x" sip:a@b']
)
def test_name_addr_errors(bad: str) -> None:
    with pytest.raises(HeaderError):
        parse_name_addr(bad, "To")


# Via --------------------------------------------------------------------------------------


def test_via_with_received_and_rport() -> None:
    via = parse_via(
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=198.51.100.7;rport"
    )
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.1",
        5060,
        "z9hG4bK776asdhds",
    )
    assert via.params["received"] == "198.51.100.7" and via.params["rport"] is None
    assert (
        via.format()
        == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;received=198.51.100.7;rport"
    )


def test_via_ipv6() -> None:
    via = parse_via("SIP/2.0/TCP [2001:db8::9:1]:5060;branch=z9hG4bKas3;received=[2001:db8::9:255]")
    assert (via.host, via.port) == ("2001:db8::9:1", 5060)
    assert via.params["received"] == "[2001:db8::9:255]"
    assert via.format().startswith("SIP/2.0/TCP [2001:db8::9:1]:5060;")


@pytest.mark.parametrize(
    ("text", "transport", "host", "branch"),
    [
        ("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw", "UDP", "192.0.2.2", "390skdjuw"),
        (
            "SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8",
            "TCP", "spindle.example.com", "z9hG4bK9ikj8",
        ),
        (
            "SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
            "UDP", "192.168.255.111", "z9hG4bK30239",
        ),
        (
            "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
            "UNKNOWN", "t4.example.com", "z9hG4bKasd0f3en",
        ),
        (
            "sip/2.0/tls Host.Example.com:5061;branch=z9hG4bK1",
            "TLS", "host.example.com", "z9hG4bK1",
        ),
    ],
)  # fmt: skip
def test_via_whitespace_and_transports(text: str, transport: str, host: str, branch: str) -> None:
    # RFC 4475 §3.1.1.1 wsinv (LWS around '/') and §3.1.1.10 transports.
    via = parse_via(text)
    assert (via.transport, via.host, via.branch) == (transport, host, branch)


@pytest.mark.parametrize(
    "bad", [";", "SIP/2.0/UDP", "HTTP/1.1/TCP host", "SIP/2.0/UDP host:0", "SIP/2.0 host"]
)
def test_via_errors(bad: str) -> None:
    with pytest.raises(HeaderError):
        parse_via(bad)


# CSeq, params, lists, names ---------------------------------------------------------------


def test_cseq() -> None:
    assert parse_cseq("0009  INVITE") == parse_cseq("9 INVITE")
    assert parse_cseq("2147483647 BYE").seq == 2**31 - 1
    for bad in ("2147483648 INVITE", "INVITE", "1", "-1 BYE", "1 INVITE x"):
        with pytest.raises(HeaderError):
            parse_cseq(bad)


def test_params_keep_value_case_and_quoted_semicolons() -> None:
    params = parse_params(';Branch=z9hG4bKAbC;reason="a;b";lr;q = 0.5')
    assert params == {"branch": "z9hG4bKAbC", "reason": '"a;b"', "lr": None, "q": "0.5"}
    assert format_params({"lr": None, "ttl": "1"}) == ";lr;ttl=1"


def reference_split(value: str) -> list[str]:
    """The character scanner split_list replaced, kept as the oracle for its fast paths."""
    out, start, in_quote, in_angle, i = [], 0, False, False, 0
    while i < len(value):
        ch = value[i]
        if in_quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ">":
            in_angle = False
        elif ch == "," and not in_angle:
            if value[start:i].strip():
                out.append(value[start:i].strip())
            start = i + 1
        i += 1
    if value[start:].strip():
        out.append(value[start:].strip())
    return out


@pytest.mark.parametrize(
    "value",
    [
        "INVITE, ACK,BYE ,, CANCEL",
        '"Doe, John" <sip:j@x>;q=0.5, <sip:k@y,z>;expires=60',
        '"a \\" , b" <sip:a@b>, sip:c@d',
        "SIP/2.0/UDP 192.0.2.15;;,;,,",
        ";;,,;;,;",
        '"unterminated, quote <sip:a@b>',
        "<sip:a@b, <sip:c@d>",
        "",
    ],
)
def test_split_list_matches_reference(value: str) -> None:
    assert split_list(value) == reference_split(value)


def test_split_list_examples() -> None:
    assert split_list('"Doe, John" <sip:j@x>, <sip:k@y,z>') == [
        '"Doe, John" <sip:j@x>',
        "<sip:k@y,z>",
    ]
    assert split_list("a , b,,c") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("v", "Via"), ("f", "From"), ("t", "To"), ("i", "Call-ID"), ("m", "Contact"),
        ("l", "Content-Length"), ("c", "Content-Type"), ("k", "Supported"), ("s", "Subject"),
        ("e", "Content-Encoding"), ("o", "Event"), ("r", "Refer-To"), ("u", "Allow-Events"),
        ("CSEQ", "CSeq"), ("call-id", "Call-ID"), ("www-authenticate", "WWW-Authenticate"),
        ("MaX-fOrWaRdS", "Max-Forwards"), ("VIA", "Via"),
    ],
)  # fmt: skip
def test_compact_forms_and_spellings(raw: str, canonical: str) -> None:
    assert canonical_name(raw) == canonical
