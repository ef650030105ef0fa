"""The SIP edge: feeds the CallSwitch with ``reactor.seconds()``, flushes its output to the
UDP port and TCP connections, publishes its domain events on the bus and re-arms one timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from itertools import count
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.internet.interfaces import IReactorTCP, IReactorTime

from cti_server.adapters.sip_tcp import SipTcpClientFactory, SipTcpProtocol
from cti_server.adapters.sip_udp import SipUdpProtocol
from cti_server.adapters.timers import DeadlineTimer
from cti_server.bus import EventBus
from cti_server.call.services import ServiceRequest, ServiceResult
from cti_server.call.switch import CallSwitch
from cti_server.rtp.bridge import MediaEvent

if TYPE_CHECKING:
    from cti_server.adapters.sip_tls import TlsConnector

log = logging.getLogger(__name__)
T = TypeVar("T")


class SipService:
    def __init__(self, switch: CallSwitch, bus: EventBus, reactor: IReactorTime) -> None:
        self.switch = switch
        self._bus = bus
        self._reactor = reactor
        self.udp = SipUdpProtocol(self)
        self._streams: dict[str, SipTcpProtocol] = {}
        self._by_addr: dict[tuple[str, int], str] = {}
        self._ids = count(1)
        self._timer = DeadlineTimer(reactor, self._on_timer)
        self.send_errors = 0
        self.internal_errors = 0
        self.after_flush: Callable[[], None] | None = None  # e.g. bind/release RTP ports
        self.on_requests: Callable[[list[ServiceRequest]], None] | None = None  # thread pool
        self.refused_connections = 0
        self.tls: TlsConnector | None = None  # opens TLS connections (sip.tls configured)

    # --- input ----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._guarded(self.switch.receive_datagram, data, addr, self._reactor.seconds())

    def new_conn_id(self) -> str:
        return f"tcp{next(self._ids)}"

    def stream_opened(self, protocol: SipTcpProtocol, addr: tuple[str, int]) -> None:
        self._streams[protocol.conn_id] = protocol
        self._by_addr[addr] = protocol.conn_id
        self.switch.connection_made(protocol.conn_id, addr, protocol.transport_name)

    def stream_data(self, conn_id: str, data: bytes) -> bool:
        result: list[bool] = []
        self._guarded(
            lambda: result.append(self.switch.receive_data(conn_id, data, self._reactor.seconds()))
        )
        return bool(result and result[0])

    def stream_closed(self, conn_id: str) -> None:
        self._streams.pop(conn_id, None)
        for addr, cid in list(self._by_addr.items()):
            if cid == conn_id:
                del self._by_addr[addr]
        self._guarded(self.switch.connection_lost, conn_id, self._reactor.seconds())

    def stream_failed(self, conn_id: str, addr: tuple[str, int]) -> None:
        """An outbound connection could not be opened (refused, unreachable, timed out)."""
        self.stream_closed(conn_id)
        self._guarded(self.switch.connection_failed, addr, self._reactor.seconds())

    def count_send_error(self) -> None:
        self.send_errors += 1

    def stream_count(self) -> int:
        return len(self._streams)

    def count_refused_connection(self) -> None:
        self.refused_connections += 1

    # --- output ---------------------------------------------------------------------------

    def _on_timer(self, now: float) -> None:
        self._guarded(self.switch.handle_timer, now)

    def _guarded(self, fn: object, *args: object) -> None:
        """Run one core step; a bug in a core is logged and counted, never kills the reactor."""
        try:
            fn(*args)  # type: ignore[operator]
        except Exception:  # the reactor must survive any one bad message
            self.internal_errors += 1
            log.exception("SIP core raised; message dropped")
        self._flush()

    def flush(self) -> None:
        """Send what the cores produced outside a network event (an API call)."""
        self._flush()

    def _flush(self) -> None:
        for data, addr in self.switch.datagrams_to_send():
            self.udp.send(data, addr)
        for conn_id, addr, data, transport in self.switch.stream_data_to_send():
            self._stream_send(conn_id, addr, data, transport)
        for event in self.switch.drain_events():
            self._bus.publish(event)
        requests = self.switch.drain_requests()
        if requests and self.on_requests is not None:
            self.on_requests(requests)
        self._timer.rearm(self.switch.get_timer())
        if self.after_flush is not None:
            self.after_flush()

    def control(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one switch request from outside the network path (the dialer, the API) with
        ``now`` appended, then send what it produced. Its errors reach the caller."""
        try:
            return fn(*args, self._reactor.seconds())
        finally:
            self._flush()

    def service_done(self, call_id: str, result: ServiceResult) -> None:
        """The thread pool finished a call's slow work (lookup, PIN check, ...)."""
        self._guarded(self.switch.service_done, call_id, result, self._reactor.seconds())

    def media_events(self, events: list[MediaEvent]) -> None:
        self._guarded(self.switch.media_events, events, self._reactor.seconds())

    def _stream_send(
        self, conn_id: str | None, addr: tuple[str, int], data: bytes, transport: str = "TCP"
    ) -> None:
        cid = conn_id if conn_id in self._streams else self._by_addr.get(addr)
        if cid is not None and cid in self._streams:
            self._streams[cid].send(data)
            return
        if transport == "TLS":
            if self.tls is None:  # a sips:/transport=tls target but no sip.tls configured
                log.warning("sip.tls is not configured: cannot open TLS to %s:%d", *addr)
                self._reactor.callLater(0, self._unreachable, addr)  # type: ignore[attr-defined]
                return
            self._by_addr[addr] = self.tls.connect(self, addr, data).conn_id
            return
        protocol = SipTcpProtocol(self, self.new_conn_id())
        protocol.pending.append(data)
        self._by_addr[addr] = protocol.conn_id
        tcp: IReactorTCP = self._reactor  # type: ignore[assignment]
        tcp.connectTCP(addr[0], addr[1], SipTcpClientFactory(self, protocol, addr), timeout=5)

    def _unreachable(self, addr: tuple[str, int]) -> None:
        self._guarded(self.switch.connection_failed, addr, self._reactor.seconds())

    def stop(self) -> None:
        self._timer.stop()
