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

from twisted.internet.interfaces import IReactorTime, IReactorUDP
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall

from cti_server.rtp.bridge import MediaCore, MediaEvent, Route

log = logging.getLogger(__name__)
TICK = 0.02


class RtpPort(DatagramProtocol):
    def __init__(self, route: Route, clock: IReactorTime, service: MediaService) -> None:
        self.route = route
        self._clock = clock
        self._service = service
        route.handle = self

    def startProtocol(self) -> None:
        sock = self.transport.getHandle()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):  # a smaller buffer still works
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)

    def datagramReceived(self, data: bytes, addr: tuple[str, int]) -> None:
        route = self.route
        out = route.process(data, addr, self._clock.seconds())
        if out is not None:
            dest = route.dest
            if dest is not None and isinstance(dest.handle, RtpPort):
                dest.handle.send(out, dest.remote)
        if route.events:
            self._service.events_ready()

    def send(self, data: bytes, addr: tuple[str, int] | None) -> None:
        if addr is None or self.transport is None:
            return
        try:
            self.transport.write(data, addr)
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
                self._ports[port] = self._reactor.listenUDP(
                    port, RtpPort(route, self._clock, self), interface=core.local_ip
                )
            except OSError as exc:  # taken by another process: this leg has no media
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
