"""SipEndpoint: the byte-level facade of the SIP stack (aioquic-style sans-IO).

Theory of operation: bytes arrive with their source and ``now``; the endpoint parses them,
lets the transaction layer absorb retransmissions, then demultiplexes: in-dialog requests
to their leg (``legs.LegManager``), REGISTER to the registrar, OPTIONS answered here, new
INVITEs authenticated (trunk allow-list or digest) and reported as ``InviteReceived``.
Malformed input is answered with its status hint when a response can be built, and
otherwise dropped and counted in ``dropped[reason]``; nothing here raises to the caller.
Scanner traffic (over the per-source rate, scanner User-Agents, locked-out sources) is
dropped unanswered before the transaction layer (``scan_guard``) and counted the same way.
Outputs are drained by the adapter: ``datagrams_to_send``, ``stream_data_to_send``,
``next_event`` (leg events for the call controller) and ``get_timer``.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field

from cti_server import actions as act
from cti_server.events import AgentUnregistered, Event
from cti_server.ids import IdFactory
from cti_server.sip import leg_events as le
from cti_server.sip.access import AccessControl, AccessVerdict
from cti_server.sip.accounts import AccountBook, TrunkTable
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_name_addr, parse_uri
from cti_server.sip.leg_actions import execute_action, on_timeout
from cti_server.sip.legs import ALLOW, LegManager, SipLeg
from cti_server.sip.local import LocalAddress
from cti_server.sip.message import SipRequest, reason_phrase
from cti_server.sip.parser import StreamFramer, parse_message
from cti_server.sip.peer import Peer
from cti_server.sip.registrar import Registrar
from cti_server.sip.registration import Registrations
from cti_server.sip.response_routing import stamp_and_route
from cti_server.sip.scan_guard import ScanGuard, ScanSettings
from cti_server.sip.transaction import (
    RequestReceived,
    ResponseReceived,
    ServerKey,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
    make_response,
    tag_param,
)
from cti_server.sip.validation import reject_unparsable, safe_reason, validate_request

log = logging.getLogger(__name__)

KNOWN_METHODS = {
    "INVITE",
    "ACK",
    "CANCEL",
    "BYE",
    "OPTIONS",
    "REGISTER",
    "REFER",
    "NOTIFY",
    "INFO",
    "SUBSCRIBE",
    "MESSAGE",
    "PUBLISH",
    "PRACK",
    "UPDATE",
}


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    max_message_size: int = 65535
    scan: ScanSettings = field(default_factory=ScanSettings)


class SipEndpoint:
    def __init__(
        self,
        *,
        local: LocalAddress,
        ids: IdFactory,
        txn: TransactionLayer,
        access: AccessControl,
        trunks: TrunkTable,
        registrar: Registrar,
        settings: EndpointSettings,
    ) -> None:
        self.local = local
        self._ids = ids
        self._txn = txn
        self._access = access
        self._trunks = trunks
        self.registrar = registrar
        self.registrations = Registrations(registrar)
        self._settings = settings
        self.legs = LegManager(txn, ids, local)
        self.scan = ScanGuard(
            settings.scan,
            trusted=lambda ip: trunks.match(ip) is not None,
            locked_silent=access.silent,
        )
        self._framers: dict[str, StreamFramer] = {}
        self._conn_addr: dict[str, tuple[str, int]] = {}
        self._conn_transport: dict[str, str] = {}  # "TCP" or "TLS" per stream connection
        self._udp_out: list[tuple[bytes, tuple[str, int]]] = []
        self._stream_out: list[tuple[str | None, tuple[str, int], bytes, str]] = []
        self._leg_events: deque[le.LegEvent] = deque()
        self.domain_events: list[Event] = []
        self.dropped: Counter[str] = Counter()
        self.received: Counter[str] = Counter()

    def set_local(self, local: LocalAddress) -> None:
        """Adopt the address really bound (port 0 in tests) for Via and Contact."""
        self.local = local
        self.legs.local = local

    def transaction_stats(self) -> dict[str, int]:
        return self._txn.stats()

    @property
    def accounts(self) -> AccountBook:
        return self._access.accounts

    @property
    def auth_failures(self) -> int:
        return self._access.failures

    @property
    def auth_lockouts(self) -> int:
        return self._access.lockouts

    def registered_count(self) -> int:
        return len(self.registrar.aors())

    # --- byte level ---------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if data in (b"\r\n\r\n", b"\r\n", b"\0\0\0\0") or not data.strip(b"\r\n\0 "):
            return  # NAT keep-alive (RFC 5626 §3.5.1); nothing to answer over UDP
        self._receive_bytes(data, Peer("UDP", addr), now)
        self._flush()

    def connection_made(self, conn_id: str, addr: tuple[str, int], transport: str = "TCP") -> None:
        self._framers[conn_id] = StreamFramer(max_size=self._settings.max_message_size)
        self._conn_addr[conn_id] = addr
        self._conn_transport[conn_id] = transport

    def receive_data(self, conn_id: str, data: bytes, now: float) -> bool:
        """Feed stream bytes; returns False when the connection must be closed (framing error)."""
        framer = self._framers.get(conn_id)
        addr = self._conn_addr.get(conn_id)
        if framer is None or addr is None:
            return False
        try:
            messages = framer.feed(data)
        except SipParseError:
            self.dropped["framing"] += 1  # a bounded label: the reason may echo the bytes
            return False
        transport = self._conn_transport.get(conn_id, "TCP")
        if framer.keepalive_pings:
            for _ in range(framer.keepalive_pings):  # RFC 5626 §3.5.1 pong
                self._stream_out.append((conn_id, addr, b"\r\n", transport))
            framer.keepalive_pings = 0
        for raw in messages:
            self._receive_bytes(raw, Peer(transport, addr, conn_id), now)
        self._flush()
        return True

    def connection_lost(self, conn_id: str) -> None:
        self._framers.pop(conn_id, None)
        self._conn_addr.pop(conn_id, None)
        self._conn_transport.pop(conn_id, None)

    def connection_failed(self, addr: tuple[str, int], now: float) -> None:
        """A stream to ``addr`` could not be opened: the INVITEs waiting for it fail at
        once with 503 instead of ringing into the void (RFC 3261 §8.1.3.1, §17.1.4)."""
        for leg in list(self.legs.legs.values()):
            if not leg.inbound and not leg.answered and leg.peer.reliable and leg.peer.addr == addr:
                if leg.client_key is not None:
                    self._txn.cancel_client(leg.client_key)
                self._leg_events.append(
                    le.LegFailed(leg_id=leg.leg_id, status=503, reason="Transport error")
                )
                self.legs.forget(leg)

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        out, self._udp_out = self._udp_out, []
        return out

    def stream_data_to_send(self) -> list[tuple[str | None, tuple[str, int], bytes, str]]:
        """(connection id or None to open one, address, bytes, "TCP" or "TLS")."""
        out, self._stream_out = self._stream_out, []
        return out

    def next_event(self) -> le.LegEvent | None:
        return self._leg_events.popleft() if self._leg_events else None

    def get_timer(self) -> float | None:
        timers = [t for t in (self._txn.get_timer(), self.registrar.next_expiry()) if t is not None]
        return min(timers, default=None)

    def handle_timer(self, now: float) -> None:
        self._txn.handle_timer(now)
        for aor in self.registrar.expire(now):
            self.domain_events.append(AgentUnregistered(at=now, agent_id=aor, reason="expired"))
        self._drain_transactions(now)
        self._flush()

    # --- parsing and dispatch -------------------------------------------------------------

    def _receive_bytes(self, data: bytes, peer: Peer, now: float) -> None:
        if (drop := self.scan.screen_datagram(data, peer.addr[0], now)) is not None:
            self.dropped[drop] += 1
            return
        try:
            message = parse_message(data, max_size=self._settings.max_message_size)
        except SipParseError as exc:
            self._reject_unparsable(exc, peer)
            return
        try:
            if isinstance(message, SipRequest):
                self.received[message.method if message.method in KNOWN_METHODS else "other"] += 1
                if (drop := self.scan.screen_request(message, peer.addr[0], now)) is not None:
                    self.dropped[drop] += 1
                    return
                self._txn.receive_request(message, stamp_and_route(message, peer), now)
            else:
                self.received["response"] += 1
                self._txn.receive_response(message, peer, now)
            self._drain_transactions(now)
        except SipParseError as exc:  # a header the parser let through is unusable here
            self._reject_unparsable(exc, peer, message if isinstance(message, SipRequest) else None)

    def _reject_unparsable(
        self, exc: SipParseError, peer: Peer, request: SipRequest | None = None
    ) -> None:
        resp, label = reject_unparsable(exc, request, self._ids.tag())
        self.dropped[label] += 1
        if resp is not None:
            self._emit(resp.serialize(), peer)

    def _drain_transactions(self, now: float) -> None:
        while (event := self._txn.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self._on_request(event, now)
            elif isinstance(event, ResponseReceived):
                self.legs.on_response(event.key, event.response, event.retransmission, now)
            elif isinstance(event, StrayResponse):
                self.dropped["stray_response"] += 1
            elif isinstance(event, TransactionTimedOut):
                on_timeout(self.legs, event, now)
        self._leg_events.extend(self.legs.events)
        self.legs.events.clear()

    def _on_request(self, e: RequestReceived, now: float) -> None:
        request, peer, key = e.request, e.peer, e.key
        method = request.method
        if method == "ACK":
            leg = self.legs.find(request)
            if leg is not None:
                self.legs.on_ack(leg, request)
            return
        if e.overloaded:
            resp = make_response(request, 503, "Service Unavailable", to_tag=self._ids.tag())
            resp.headers.add("Retry-After", "5")
            self._txn.send_stateless(resp, peer)
            return
        status, extra = validate_request(request, self.local)
        if status:
            self._reply(key, request, status, extra=extra, now=now)
            return
        if method == "CANCEL":
            self._on_cancel(key, request, peer, now)
            return
        if tag_param(request.headers.get("To") or "") is not None:
            leg = self.legs.find(request)
            if leg is None:
                self._reply(key, request, 481, now=now)
            else:
                self.legs.on_in_dialog(leg, key, request, peer, now)
            return
        if method == "INVITE":
            self._on_invite(key, request, peer, now)
        elif method == "REGISTER":
            self._on_register(key, request, peer, now)
        elif method == "OPTIONS":
            self._reply(
                key,
                request,
                200,
                now=now,
                extra=[
                    ("Allow", ALLOW),
                    ("Accept", "application/sdp"),
                    ("Accept-Language", "ko, en"),
                ],
            )
        elif method in KNOWN_METHODS:
            status = 481 if method in ("BYE", "PRACK", "UPDATE", "NOTIFY", "INFO") else 405
            self._reply(key, request, status, now=now, extra=[("Allow", ALLOW)])
        else:
            self._reply(key, request, 501, now=now, extra=[("Allow", ALLOW)])

    def _authenticate(
        self, key: ServerKey | None, request: SipRequest, peer: Peer, now: float
    ) -> AccessVerdict:
        """Who sent this; when ``user`` is None a 401/403 has already been sent."""
        client = self.scan.client_ip(request, peer.addr[0])
        verdict = self._access.check(request, client, now, self._ids.nonce())
        self.domain_events.extend(verdict.events)
        if verdict.user is None:
            self._reply(
                key, request, verdict.status, reason=verdict.reason, extra=verdict.headers, now=now
            )
        return verdict

    # --- INVITE, CANCEL, REGISTER ---------------------------------------------------------

    def _on_invite(
        self, key: ServerKey | None, request: SipRequest, peer: Peer, now: float
    ) -> None:
        self._reply(key, request, 100, now=now)  # at once: pyVoIP waits for it (stack.md §4)
        trunk = self._trunks.match(peer.addr[0])
        auth_user: str | None = None
        if trunk is None:
            verdict = self._authenticate(key, request, peer, now)
            if verdict.user is None:
                return
            trunk = verdict.trunk  # a gateway that authenticates with digest
            auth_user = verdict.user if trunk is None else None
        try:
            from_hdr = parse_name_addr(request.headers.get("From") or "", "From")
            called = parse_uri(request.uri).user or ""
        except SipParseError as exc:
            self._reply(key, request, 400, reason=safe_reason(exc.reason), now=now)
            return
        if request.body and (request.headers.get("Content-Type") or "").startswith("multipart"):
            self._reply(key, request, 415, now=now, extra=[("Accept", "application/sdp")])
            return
        mf = request.headers.get("Max-Forwards")
        leg = SipLeg(self._ids.sequence("L"), True, request, peer, self._ids.tag(), server_key=key)
        self.legs.add(leg)
        self._leg_events.append(
            le.InviteReceived(
                leg_id=leg.leg_id,
                # an agent's calling number is its account, whatever its From says
                caller=auth_user or from_hdr.uri.user or "anonymous",
                caller_display=from_hdr.display,
                called=called,
                sdp=request.body,
                max_forwards=int(mf) if mf and mf.isascii() and mf.isdigit() else 70,
                auth_user=auth_user,
                trunk=trunk,
                source=f"{peer.addr[0]}:{peer.addr[1]}",
            )
        )

    def _on_cancel(
        self, key: ServerKey | None, request: SipRequest, peer: Peer, now: float
    ) -> None:
        invite_key = self._txn.find_invite_for_cancel(request, peer)
        leg = None
        if invite_key is not None:
            leg = self.legs.by_server_key(invite_key)
        if leg is None:
            self._reply(key, request, 481, now=now)
            return
        self._reply(key, request, 200, now=now, to_tag=leg.local_tag)
        self.legs.on_cancel(leg, now)
        self._leg_events.extend(self.legs.events)
        self.legs.events.clear()

    def _on_register(
        self, key: ServerKey | None, request: SipRequest, peer: Peer, now: float
    ) -> None:
        verdict = self._authenticate(key, request, peer, now)
        user = verdict.user
        if user is None:
            return
        if verdict.trunk is not None:
            self._reply(key, request, 403, reason="Trunks do not register here", now=now)
            return
        answer = self.registrations.register(user, request, peer, now)
        self.domain_events.extend(answer.events)
        self._reply(
            key, request, answer.status, reason=answer.reason, extra=answer.headers, now=now
        )

    # --- actions from the controller ------------------------------------------------------

    def execute(self, action: act.LegAction, now: float) -> None:
        execute_action(self.legs, action, now, self._peer_for)
        self._leg_events.extend(self.legs.events)
        self.legs.events.clear()
        self._flush()

    # --- output helpers -------------------------------------------------------------------

    def _reply(
        self,
        key: ServerKey | None,
        request: SipRequest,
        status: int,
        *,
        now: float,
        reason: str | None = None,
        to_tag: str | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        if key is None:
            return
        resp = make_response(
            request,
            status,
            reason or reason_phrase(status),
            to_tag=to_tag if to_tag else (self._ids.tag() if status > 100 else None),
        )
        resp.headers.add("Server", self.local.user_agent)
        for name, value in extra or []:
            resp.headers.add(name, value)
        self._txn.send_response(key, resp, now)

    def _flush(self) -> None:
        for data, peer in self._txn.messages_to_send():
            self._emit(data, peer)

    def _emit(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "UDP":
            self._udp_out.append((data, peer.addr))
        else:
            self._stream_out.append((peer.conn_id, peer.addr, data, peer.transport))

    def _peer_for(self, uri: str) -> Peer | None:
        return self.registrations.peer_for(uri, self._framers)


__all__ = ["EndpointSettings", "SipEndpoint"]
