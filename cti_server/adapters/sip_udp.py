"""SIP over UDP: datagrams in and out of the CallSwitch, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet.protocol import DatagramProtocol

if TYPE_CHECKING:
    from cti_server.adapters.sip_service import SipService


class SipUdpProtocol(DatagramProtocol):
    def __init__(self, service: SipService) -> None:
        self._service = service
        self._sendto: Callable[[bytes, tuple[str, int]], int] | None = None

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        self._service.datagram_received(data, addr)

    def startProtocol(self) -> None:
        # The socket's own sendto: Twisted's write() re-validates the address on every
        # datagram, and ours are always IP literals (packet sources, numeric URIs).
        self._sendto = self.transport.getHandle().sendto  # type: ignore[union-attr]

    def stopProtocol(self) -> None:
        self._sendto = None

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        sendto = self._sendto
        if sendto is None:
            if self.transport is not None:  # an in-memory transport (adapter tests)
                self.transport.write(data, addr)
            return
        try:
            sendto(data, addr)
        except OSError:  # e.g. EAGAIN/ENOBUFS under overload: the retransmit timers cover it
            self._service.count_send_error()
