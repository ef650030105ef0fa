"""App.start on a memory reactor: a TCP port already taken on port 0 means another try."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock

from cti_server.app import build_app
from cti_server.config import parse_config


class FakeUdpPort:
    def __init__(self, port: int) -> None:
        import socket

        self.port = port or 40000
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # for setsockopt only

    def getHost(self) -> Any:
        from twisted.internet.address import IPv4Address

        return IPv4Address("UDP", "127.0.0.1", self.port)

    def getHandle(self) -> Any:
        return self.sock

    def stopListening(self) -> None:
        self.sock.close()


class TakenOnce(MemoryReactorClock):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.udp: list[FakeUdpPort] = []

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> Any:
        self.udp.append(FakeUdpPort(port))
        protocol.makeConnection(self.udp[-1])  # as Twisted does: one transport per protocol
        return self.udp[-1]

    def listenTCP(self, port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
        if self.failures:
            self.failures -= 1
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        return super().listenTCP(port, factory, backlog, interface)


def config(tmp_path: Path, port: int) -> Any:
    return parse_config(
        f"sip: {{listen: 127.0.0.1, port: {port}}}\nhttp: {{port: -1}}\n"
        f"media: {{mode: passthrough}}\ndata_dir: {tmp_path}\n",
        "<t>",
    )


def test_port_zero_retries_when_the_tcp_twin_is_taken(tmp_path: Path) -> None:
    reactor = TakenOnce(failures=2)
    app = build_app(config(tmp_path, 0), reactor)
    app.start()
    assert len(reactor.udp) == 3 and len(reactor.tcpServers) == 1  # third time lucky
    assert app.sip_port == 40000
    # Replies leave through the socket bound last, not a closed one: Twisted starts a
    # protocol only while no port holds it, and an abandoned port lets go of it only later.
    assert app.sip.udp._sendto.__self__ is reactor.udp[-1].sock  # type: ignore[union-attr]
    for port in reactor.udp:
        port.stopListening()


def test_a_fixed_port_that_is_taken_is_an_error(tmp_path: Path) -> None:
    reactor = TakenOnce(failures=1)
    app = build_app(config(tmp_path, 5099), reactor)
    with pytest.raises(CannotListenError):
        app.start()
    assert len(reactor.udp) == 1 and reactor.udp[0].sock.fileno() == -1  # released
