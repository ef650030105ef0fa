"""RTP over UDP: one socket per call leg, packets forwarded by the leg's Route on receipt.

``datagramReceived`` is the whole fast path: the route (installed by ``MediaCore``) returns
the rewritten datagram and the adapter writes it from the peer leg's socket. One 20 ms
LoopingCall per process drives prompt playout and time-outs (``MediaCore.tick``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable

from twisted.internet import udp
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IReactorTime, IReactorUDP
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall

from cti_server.rtp.bridge import MediaCore, MediaEvent, Route

log = logging.getLogger(__name__)
TICK = 0.02


_READ_IGNORE = getattr(udp, "_sockErrReadIgnore", ())
_READ_REFUSE = getattr(udp, "_sockErrReadRefuse", ())


class RtpUdpPort(udp.Port):
    """One ``recvfrom`` per readiness event. At 50 packets/s a wake-up finds one datagram,
    and Twisted's drain loop would pay a second ``recvfrom`` failing with EAGAIN for every
    packet; epoll is level-triggered, so anything left is reported again at once."""

    def doRead(self) -> None:
        try:
            data, addr = self.socket.recvfrom(self.maxPacketSize)
        except OSError as exc:
            if exc.args and (exc.args[0] in _READ_IGNORE or exc.args[0] in _READ_REFUSE):
                return
            raise
        self.protocol.datagramReceived(data, addr)


class RtpPort(DatagramProtocol):
    def __init__(self, route: Route, clock: IReactorTime, service: MediaService) -> None:
        self.route = route
        self._now = clock.seconds
        self._service = service
        self.sendto: Callable[[bytes, tuple[str, int]], int] | None = None
        route.handle = self

    def startProtocol(self) -> None:
        sock = self.transport.getHandle()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):  # a smaller buffer still works
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        # The socket's own sendto: Twisted's write() re-validates the address per packet,
        # and ours are always IP literals (SDP c= lines and latched sources).
        self.sendto = sock.sendto

    def stopProtocol(self) -> None:
        self.sendto = None

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        route = self.route
        out = route.process(data, addr, self._now())
        if out is not None:
            dest = route.dest
            if dest is not None and dest.remote is not None:
                port = dest.handle
                if isinstance(port, RtpPort) and port.sendto is not None:
                    try:
                        port.sendto(out, dest.remote)
                    except OSError:  # EAGAIN under overload, ICMP errors: count, go on
                        self._service.send_errors += 1
        if route.events:
            self._service.events_ready()

    def send(self, data: bytes, addr: tuple[str, int] | None) -> None:
        if addr is None or self.sendto is None:
            return
        try:
            self.sendto(data, addr)
        except OSError:
            self._service.send_errors += 1


class MediaService:
    def __init__(
        self,
        core: MediaCore,
        reactor: IReactorUDP,
        clock: IReactorTime,
        on_events: Callable[[list[MediaEvent]], None],
    ) -> None:
        self.core = core
        self._reactor = reactor
        self._clock = clock
        self._on_events = on_events
        self._ports: dict[int, object] = {}
        self._tick = LoopingCall(self._on_tick)
        self._tick.clock = clock
        self.send_errors = 0
        self.bind_errors = 0
        self._events_pending = False
        self.on_tick: Callable[[float], None] | None = None  # e.g. the recorder's feed

    def start(self) -> None:
        self._tick.start(TICK, now=False)

    def stop(self) -> None:
        if self._tick.running:
            self._tick.stop()
        for listening in self._ports.values():
            listening.stopListening()  # type: ignore[attr-defined]
        self._ports.clear()

    def sync_ports(self) -> None:
        """Bind the ports the core opened and release the ones it closed."""
        core = self.core
        for port, route in core.opened:
            try:
                listening = RtpUdpPort(
                    port, RtpPort(route, self._clock, self), core.local_ip, 2048, self._reactor
                )
                listening.startListening()
                self._ports[port] = listening
            except (OSError, CannotListenError) as exc:  # taken: this leg has no media
                self.bind_errors += 1
                log.warning("RTP port %d unavailable: %s", port, exc)
        core.opened.clear()
        for port in core.closed:
            listening = self._ports.pop(port, None)
            if listening is not None:
                listening.stopListening()  # type: ignore[attr-defined]
        core.closed.clear()

    def events_ready(self) -> None:
        if not self._events_pending:
            self._events_pending = True
            self._clock.callLater(0, self._deliver)

    def _deliver(self) -> None:
        self._events_pending = False
        events = self.core.drain_events()
        if events:
            self._on_events(events)

    def _on_tick(self) -> None:
        now = self._clock.seconds()
        for port, data, addr in self.core.tick(now):
            listening = self._ports.get(port)
            if listening is not None:
                listening.protocol.send(data, addr)  # type: ignore[attr-defined]
        if self.on_tick is not None:
            try:
                self.on_tick(now)
            except Exception:  # a recording bug must not stop prompts and time-outs
                log.exception("media tick hook failed")
        self._deliver()
