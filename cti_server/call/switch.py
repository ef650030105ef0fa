"""CallSwitch: the SIP endpoint and the call controller joined into one sans-IO unit.

The adapters feed it bytes and ``now`` and drain bytes, domain events and one timer; in
between, every leg event the endpoint produces goes to the controller, and every action
the controller returns goes back to the endpoint, until both are quiet. Tests drive the
whole signalling path this way without sockets or a reactor.
"""

from __future__ import annotations

from acd.cluster import NodeReport
from acd.protocol import AcdAction, AcdInput
from cti_server.actions import LegAction
from cti_server.call.controller import CallController
from cti_server.call.dial_out import DialOut
from cti_server.call.services import ServiceRequest, ServiceResult
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
        self._presence_seen = 0  # endpoint domain events already shown to the ACD

    def drain_requests(self) -> list[ServiceRequest]:
        """Slow work the calls wait for (lookups, PIN checks): run it off the reactor and
        answer with ``service_done``."""
        return self.controller.drain_requests()

    def service_done(self, call_id: str, result: ServiceResult, now: float) -> None:
        self._execute(self.controller.service_done(call_id, result, now), now)

    def acd_input(self, item: AcdInput, now: float) -> None:
        """An agent state change from the API (or a supervisor)."""
        self._execute(self.controller.acd_input(item, now), now)

    def cluster_input(self, origin: str, item: object, now: float) -> None:
        """An ACD input another node sent to this node, the leader."""
        self._execute(self.controller.cluster_input(origin, item, now), now)

    def cluster_report(self, now: float) -> NodeReport:
        """What this node holds, for a new cluster leader."""
        queued, connected = self.controller.cluster_calls()
        registrar = self.endpoint.registrar
        registered = sorted(aor for aor in registrar.aors() if registrar.local(aor, now))
        return NodeReport(queued=queued, connected=connected, registered=registered)

    def report_to_leader(self, now: float) -> None:
        """A new leader asked: send it this node's report (through the ACD's outbox)."""
        self._execute(self.controller.cluster_send(self.cluster_report(now), now), now)

    def acd_decisions(self, actions: list[AcdAction], now: float) -> None:
        """The leader's decisions for calls this node owns."""
        self._execute(self.controller.acd_decisions(actions, now), now)

    def dial_out(self, req: DialOut, now: float) -> str:
        """Place a call agent-first (callback, lead, click-to-call); raises ``DialError``."""
        call_id, actions = self.controller.dial_out(req, now)
        self._execute(actions + self.controller._take_pending(), now)
        return call_id

    def dial_customer(self, call_id: str, caller_id: str, timeout: float, now: float) -> None:
        self._execute(self.controller.dial_customer(call_id, caller_id, timeout, now), now)

    def connect_agent(self, call_id: str, agent_id: str, timeout: float, now: float) -> None:
        self._execute(self.controller.connect_agent(call_id, agent_id, timeout, now), now)

    def desk_hold(self, call_id: str, hold: bool, now: float) -> None:
        self._execute(self.controller.desk_hold(call_id, hold, now), now)

    def desk_transfer(self, call_id: str, kind: str, target: str, now: float) -> None:
        self._execute(self.controller.desk_transfer(call_id, kind, target, now), now)

    def hang_up(self, call_id: str, cause: str, now: float) -> None:
        self._execute(self.controller.hang_up(call_id, cause, now), now)

    def monitor(self, call_id: str, supervisor_id: str, mode: str, now: float) -> None:
        self._execute(self.controller.monitor(call_id, supervisor_id, mode, now), now)

    def set_monitor_mode(self, call_id: str, mode: str, now: float) -> None:
        self._execute(self.controller.set_monitor_mode(call_id, mode, now), now)

    def stop_monitor(self, call_id: str, now: float) -> None:
        self._execute(self.controller.stop_monitor(call_id, now), now)

    def _execute(self, actions: list[LegAction], now: float) -> None:
        for action in actions:
            self.endpoint.execute(action, now)
        self._pump(now)

    def media_events(self, events: list[MediaEvent], now: float) -> None:
        for event in events:
            for action in self.controller.handle_media(event, now):
                self.endpoint.execute(action, now)
        self._pump(now)

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.endpoint.receive_datagram(data, addr, now)
        self._pump(now)

    def connection_made(self, conn_id: str, addr: tuple[str, int], transport: str = "TCP") -> None:
        self.endpoint.connection_made(conn_id, addr, transport)

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

    def stream_data_to_send(self) -> list[tuple[str | None, tuple[str, int], bytes, str]]:
        return self.endpoint.stream_data_to_send()

    def drain_events(self) -> list[Event]:
        out = self.endpoint.domain_events
        self.endpoint.domain_events = []
        self._presence_seen = 0
        return out + self.controller.drain_events()

    def _pump(self, now: float) -> None:
        while True:
            while (event := self.endpoint.next_event()) is not None:
                for action in self.controller.handle(event, now):
                    self.endpoint.execute(action, now)
            domain = self.endpoint.domain_events
            if self._presence_seen >= len(domain):
                return
            fresh, self._presence_seen = domain[self._presence_seen :], len(domain)
            for item in fresh:  # a phone came or went: the ACD logs its agent in or out
                for action in self.controller.agent_presence(item, now):
                    self.endpoint.execute(action, now)
