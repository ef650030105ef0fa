"""CallSwitch: the SIP endpoint and the call controller joined into one sans-IO unit.

The adapters feed it bytes and ``now`` and drain bytes, domain events and one timer; in
between, every leg event the endpoint produces goes to the controller, and every action
the controller returns goes back to the endpoint, until both are quiet. Tests drive the
whole signalling path this way without sockets or a reactor.
"""

from __future__ import annotations

from cti_server.call.controller import CallController
from cti_server.events import Event
from cti_server.rtp.bridge import MediaCore, MediaEvent
from cti_server.sip.endpoint import SipEndpoint


class CallSwitch:
    def __init__(
        self, endpoint: SipEndpoint, controller: CallController, media: MediaCore | None = None
    ) -> None:
        self.endpoint = endpoint
        self.controller = controller
        self.media = media  # the anchor's core, shared with the controller's planner

    def media_events(self, events: list[MediaEvent], now: float) -> None:
        for event in events:
            for action in self.controller.handle_media(event, now):
                self.endpoint.execute(action, now)
        self._pump(now)

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.endpoint.receive_datagram(data, addr, now)
        self._pump(now)

    def connection_made(self, conn_id: str, addr: tuple[str, int]) -> None:
        self.endpoint.connection_made(conn_id, addr)

    def receive_data(self, conn_id: str, data: bytes, now: float) -> bool:
        keep = self.endpoint.receive_data(conn_id, data, now)
        self._pump(now)
        return keep

    def connection_lost(self, conn_id: str, now: float) -> None:
        self.endpoint.connection_lost(conn_id)
        self._pump(now)

    def connection_failed(self, addr: tuple[str, int], now: float) -> None:
        self.endpoint.connection_failed(addr, now)
        self._pump(now)

    def get_timer(self) -> float | None:
        timers = [
            t for t in (self.endpoint.get_timer(), self.controller.next_deadline()) if t is not None
        ]
        return min(timers, default=None)

    def handle_timer(self, now: float) -> None:
        self.endpoint.handle_timer(now)
        for action in self.controller.on_timer(now):
            self.endpoint.execute(action, now)
        self._pump(now)

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        return self.endpoint.datagrams_to_send()

    def stream_data_to_send(self) -> list[tuple[str | None, tuple[str, int], bytes]]:
        return self.endpoint.stream_data_to_send()

    def drain_events(self) -> list[Event]:
        out = self.endpoint.domain_events
        self.endpoint.domain_events = []
        return out + self.controller.drain_events()

    def _pump(self, now: float) -> None:
        while (event := self.endpoint.next_event()) is not None:
            for action in self.controller.handle(event, now):
                self.endpoint.execute(action, now)
