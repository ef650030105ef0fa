"""SIP over UDP: datagrams in and out of the CallSwitch, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.protocol import DatagramProtocol

if TYPE_CHECKING:
    from cti_server.adapters.sip_service import SipService


class SipUdpProtocol(DatagramProtocol):
    def __init__(self, service: SipService) -> None:
        self._service = service

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        self._service.datagram_received(data, addr)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is None:
            return
        try:
            self.transport.write(data, addr)
        except OSError:  # e.g. EAGAIN/ENOBUFS under overload: the retransmit timers cover it
            self._service.count_send_error()
