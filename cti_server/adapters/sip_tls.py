"""SIP over TLS (RFC 3261 §26.2, ``sips:``): the TCP protocol under Twisted's TLS wrapper.

The stream protocol (``adapters/sip_tcp.py``) sees plaintext either way; what differs is the
listening port (5061 by default), the transport name the core puts in Via and Contact, and
the OpenSSL context. Connections the server opens to a ``transport=tls`` contact use
:func:`connect_sip_tls`; a phone that registered over TLS is reached on the connection it
registered on (RFC 5626 style reuse, done by the core's registrations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cti_server.adapters.sip_tcp import SipTcpClientFactory, SipTcpFactory, SipTcpProtocol
from cti_server.adapters.tls_context import client_options, server_options
from cti_server.tls_files import TlsFiles

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort
    from twisted.internet.ssl import CertificateOptions

    from cti_server.adapters.sip_service import SipService

TRANSPORT = "TLS"


def listen_sip_tls(
    reactor: Any, port: int, service: SipService, files: TlsFiles, interface: str
) -> IListeningPort:
    """Listen for SIP over TLS; the handshake runs before the first SIP byte reaches the core."""
    factory = SipTcpFactory(service, TRANSPORT)
    return reactor.listenSSL(port, factory, server_options(files), interface=interface)  # type: ignore[no-any-return]


class TlsConnector:
    """Opens outbound TLS connections for the SIP service (one context, built once)."""

    def __init__(self, reactor: Any, files: TlsFiles) -> None:
        self._reactor = reactor
        self._options: CertificateOptions = client_options(files)

    def connect(self, service: SipService, addr: tuple[str, int], data: bytes) -> SipTcpProtocol:
        protocol = SipTcpProtocol(service, service.new_conn_id(), TRANSPORT)
        protocol.pending.append(data)
        factory = SipTcpClientFactory(service, protocol, addr)
        self._reactor.connectSSL(addr[0], addr[1], factory, self._options, timeout=5)
        return protocol


__all__ = ["TRANSPORT", "TlsConnector", "listen_sip_tls"]
