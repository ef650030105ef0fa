"""SIP over TCP (and TLS): one Protocol per connection, framing done by the core
(``StreamFramer``). Over TLS the same protocol sits under Twisted's TLS wrapper
(``adapters/sip_tls.py``) and sees plaintext; ``transport_name`` tells the core which it is.

A connection that sends nothing for ``IDLE_TIMEOUT`` seconds is closed (phones keep theirs
open with RFC 5626 CRLF pings or re-REGISTERs), and the factory refuses connections past
``MAX_CONNECTIONS`` so a scanner cannot exhaust file descriptors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.protocols.policies import TimeoutMixin

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress
    from twisted.python.failure import Failure

    from cti_server.adapters.sip_service import SipService


IDLE_TIMEOUT = 600.0
MAX_CONNECTIONS = 4096


class SipTcpProtocol(Protocol, TimeoutMixin):
    def __init__(self, service: SipService, conn_id: str, transport_name: str = "TCP") -> None:
        self._service = service
        self.conn_id = conn_id
        self.transport_name = transport_name  # "TCP" or "TLS": what Via and Contact say
        self.pending: list[bytes] = []
        self.outbound_addr: tuple[str, int] | None = None  # set when we opened it
        self._received = False

    def connectionMade(self) -> None:
        if self._service.stream_count() >= MAX_CONNECTIONS:
            self._service.count_refused_connection()
            self.transport.abortConnection()  # type: ignore[union-attr]
            return
        self.setTimeout(IDLE_TIMEOUT)
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        self._service.stream_opened(self, (peer.host, peer.port))
        for data in self.pending:
            self.transport.write(data)  # type: ignore[union-attr]
        self.pending.clear()

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        self._received = True
        if not self._service.stream_data(self.conn_id, data):
            self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.setTimeout(None)
        if self.outbound_addr is not None and not self._received:
            # Ours, closed before the peer said a word: a TLS handshake it (or we) refused,
            # or a peer that hangs up at once. A transport error for what waits on it
            # (RFC 3261 §8.1.3.1), as a refused connection is, not a silent ring timeout.
            self._service.stream_failed(self.conn_id, self.outbound_addr)
            return
        self._service.stream_closed(self.conn_id)

    def timeoutConnection(self) -> None:
        self.transport.loseConnection()  # type: ignore[union-attr]

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.write(data)


class SipTcpFactory(Factory):
    def __init__(self, service: SipService, transport_name: str = "TCP") -> None:
        self._service = service
        self._transport_name = transport_name

    def buildProtocol(self, addr: IAddress) -> SipTcpProtocol:
        return SipTcpProtocol(self._service, self._service.new_conn_id(), self._transport_name)


class SipTcpClientFactory(ClientFactory):
    """Outbound connection for a request to a TCP target we have no connection to."""

    def buildProtocol(self, addr: IAddress) -> SipTcpProtocol:
        return self._protocol

    def __init__(
        self, service: SipService, protocol: SipTcpProtocol, addr: tuple[str, int]
    ) -> None:
        self._service = service
        self._protocol = protocol
        self._addr = addr
        protocol.outbound_addr = addr

    def clientConnectionFailed(self, connector: object, reason: Failure) -> None:
        self._service.stream_failed(self._protocol.conn_id, self._addr)
