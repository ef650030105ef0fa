"""RFC 3261 §18.2.1-§18.2.2 and RFC 3581: stamping the top Via and where responses go."""

from __future__ import annotations

from cti_server.sip.message import Headers, SipRequest
from cti_server.sip.peer import Peer
from cti_server.sip.response_routing import stamp_and_route


def req(via: str) -> SipRequest:
    return SipRequest("OPTIONS", "sip:x@h", Headers([("Via", via), ("Via", "SIP/2.0/UDP b:1")]))


def test_without_rport_responses_go_to_the_via_port_at_the_source_ip() -> None:
    r = req("SIP/2.0/UDP phone.example:5070;branch=z9hG4bK1")
    peer = stamp_and_route(r, Peer("UDP", ("192.0.2.7", 40000)))
    assert peer.addr == ("192.0.2.7", 5070)
    assert r.headers.get_all("Via") == [
        "SIP/2.0/UDP phone.example:5070;branch=z9hG4bK1;received=192.0.2.7",
        "SIP/2.0/UDP b:1",
    ]


def test_default_port_is_5060() -> None:
    peer = stamp_and_route(
        req("SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1"), Peer("UDP", ("192.0.2.7", 40000))
    )
    assert peer.addr == ("192.0.2.7", 5060)


def test_rport_sends_back_to_the_source_port_and_fills_the_value() -> None:
    r = req("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK1")
    peer = stamp_and_route(r, Peer("UDP", ("203.0.113.9", 61000)))
    assert peer.addr == ("203.0.113.9", 61000)
    assert r.headers.get("Via") == (
        "SIP/2.0/UDP 10.0.0.5:5060;rport=61000;branch=z9hG4bK1;received=203.0.113.9"
    )


def test_stream_transports_answer_on_the_same_connection() -> None:
    peer = Peer("TCP", ("192.0.2.7", 40000), "tcp1")
    assert stamp_and_route(req("SIP/2.0/TCP 192.0.2.7:5070;branch=z9hG4bK1"), peer) is peer
