"""The SIP edge on ``task.Clock`` with in-memory transports: no sockets, no global reactor."""

from __future__ import annotations

import random
from typing import Any

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from cti_server.adapters.sip_service import SipService
from cti_server.adapters.sip_tcp import SipTcpFactory
from cti_server.bus import EventBus
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.events import Event
from cti_server.ids import IdFactory

CONFIG = """
sip: {listen: 127.0.0.1, port: 5060, t1: 0.5}
trunks: [{name: gw, allow_from: [192.0.2.0/24]}]
routes: [{match: '.*', target: 'uri:sip:svc@198.51.100.1:5060'}]
"""
INVITE = (
    b"INVITE sip:42@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx1\r\n"
    b"From: <sip:a@192.0.2.1>;tag=1\r\nTo: <sip:42@127.0.0.1>\r\nCall-ID: c1\r\n"
    b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)
OPTIONS = INVITE.replace(b"INVITE", b"OPTIONS").replace(b"z9hG4bKx1", b"z9hG4bKo1")


class FakeUdp:
    def __init__(self) -> None:
        self.written: list[tuple[bytes, tuple[str, int]]] = []

    def write(self, data: bytes, addr: tuple[str, int]) -> None:
        self.written.append((data, addr))


class ClockReactor(task.Clock):
    """task.Clock plus the one reactor call the service makes for outbound TCP."""

    def connectTCP(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("no outbound TCP expected")


def make() -> tuple[SipService, FakeUdp, ClockReactor, list[Event]]:
    clock = ClockReactor()
    switch = build_switch(
        parse_config(CONFIG, "<t>"), IdFactory(random.Random(3)), b"k" * 32, random.Random(4)
    )
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    service = SipService(switch, bus, clock)
    udp = FakeUdp()
    service.udp.transport = udp  # type: ignore[assignment]
    return service, udp, clock, seen


def test_datagram_in_response_out_and_retransmission_on_the_clock() -> None:
    service, udp, clock, seen = make()
    service.datagram_received(INVITE, ("192.0.2.1", 5060))
    firsts = [data.split(b"\r\n", 1)[0] for data, _ in udp.written]
    assert firsts == [b"SIP/2.0 100 Trying", b"INVITE sip:svc@198.51.100.1:5060 SIP/2.0"]
    assert [e.name for e in seen] == ["call_delivered", "call_originated"]
    udp.written.clear()
    clock.advance(0.5)  # RFC 3261 Timer A: the outbound INVITE is retransmitted
    assert [data.split(b" ", 1)[0] for data, _ in udp.written] == [b"INVITE"]
    assert udp.written[0][1] == ("198.51.100.1", 5060)


def test_a_core_exception_is_logged_and_counted_not_raised() -> None:
    service, udp, _, _ = make()

    def boom(*_: object) -> None:
        raise RuntimeError("bug")

    service.switch.receive_datagram = boom  # type: ignore[method-assign]
    service.datagram_received(OPTIONS, ("192.0.2.1", 5060))
    assert service.internal_errors == 1
    assert udp.written == []


def test_tcp_stream_split_anywhere_is_framed_and_answered() -> None:
    service, _, _, _ = make()
    protocol = SipTcpFactory(service).buildProtocol(IPv4Address("TCP", "192.0.2.9", 5999))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 5999))
    protocol.makeConnection(transport)
    tcp_options = OPTIONS.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    for i in range(0, len(tcp_options), 7):
        protocol.dataReceived(tcp_options[i : i + 7])
    assert transport.value().startswith(b"SIP/2.0 200 OK\r\n")
    transport.clear()
    protocol.dataReceived(b"\r\n\r\n")  # RFC 5626 keep-alive ping gets a pong
    assert transport.value() == b"\r\n"
    protocol.dataReceived(b"GARBAGE WITHOUT FRAMING\r\n\r\n")
    assert transport.disconnecting


def test_idle_tcp_connection_is_closed_after_the_timeout() -> None:
    from cti_server.adapters import sip_tcp

    service, _, _, _ = make()
    clock = task.Clock()
    protocol = SipTcpFactory(service).buildProtocol(IPv4Address("TCP", "192.0.2.9", 5999))
    protocol.callLater = clock.callLater  # TimeoutMixin's clock hook
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 5999))
    protocol.makeConnection(transport)
    clock.advance(sip_tcp.IDLE_TIMEOUT - 1)
    protocol.dataReceived(b"\r\n\r\n")  # a keep-alive resets the timer
    clock.advance(sip_tcp.IDLE_TIMEOUT - 1)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting


def test_connections_past_the_limit_are_refused(monkeypatch: Any) -> None:
    from cti_server.adapters import sip_tcp

    monkeypatch.setattr(sip_tcp, "MAX_CONNECTIONS", 1)
    service, _, _, _ = make()
    factory = SipTcpFactory(service)
    transports = []
    for port in (5001, 5002):
        protocol = factory.buildProtocol(IPv4Address("TCP", "192.0.2.9", port))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", port))
        protocol.makeConnection(transport)
        transports.append(transport)
    assert service.refused_connections == 1
    assert service.stream_count() == 1
