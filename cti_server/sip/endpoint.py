"""SipEndpoint: the byte-level facade of the SIP stack (aioquic-style sans-IO).

Theory of operation: bytes arrive with their source and ``now``; the endpoint parses them,
lets the transaction layer absorb retransmissions, then demultiplexes: in-dialog requests
to their leg (``legs.LegManager``), REGISTER to the registrar, OPTIONS answered here, new
INVITEs authenticated (trunk allow-list or digest) and reported as ``InviteReceived``.
Malformed input is answered with its status hint when a response can be built, and
otherwise dropped and counted in ``dropped[reason]``; nothing here raises to the caller.
Outputs are drained by the adapter: ``datagrams_to_send``, ``stream_data_to_send``,
``next_event`` (leg events for the call controller) and ``get_timer``.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass

from cti_server import actions as act
from cti_server.events import AgentRegistered, AgentUnregistered, AuthenticationFailed, Event
from cti_server.ids import IdFactory
from cti_server.sip import leg_events as le
from cti_server.sip.accounts import AccountBook, TrunkTable
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.digest import NonceFactory, authenticate, challenges, parse_authorization
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_name_addr, parse_uri, parse_via
from cti_server.sip.legs import ALLOW, LegManager, SipLeg, user_of
from cti_server.sip.local import LocalAddress
from cti_server.sip.message import SipRequest, SipResponse, reason_phrase
from cti_server.sip.parser import StreamFramer, parse_message
from cti_server.sip.peer import Peer
from cti_server.sip.registrar import Registrar, contact_response_values
from cti_server.sip.transaction import (
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionLayer,
    TransactionTimedOut,
    make_response,
)

log = logging.getLogger(__name__)

KNOWN_METHODS = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "REFER", "NOTIFY",
                 "INFO", "SUBSCRIBE", "MESSAGE", "PUBLISH", "PRACK", "UPDATE"}
SUPPORTED_EXTENSIONS = {"replaces", "norefersub", "path", "outbound", "timer"}


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    realm: str = "cti.local"
    max_message_size: int = 65535
    digest_algorithms: tuple[str, ...] = ("SHA-256", "MD5")


class SipEndpoint:
    def __init__(self, *, local: LocalAddress, ids: IdFactory, txn: TransactionLayer,
                 accounts: AccountBook, trunks: TrunkTable, registrar: Registrar,
                 guard: AuthGuard, nonces: NonceFactory, settings: EndpointSettings) -> None:
        self.local = local
        self._ids = ids
        self._txn = txn
        self._accounts = accounts
        self._trunks = trunks
        self.registrar = registrar
        self._guard = guard
        self._nonces = nonces
        self._settings = settings
        self.legs = LegManager(txn, ids, local)
        self._framers: dict[str, StreamFramer] = {}
        self._conn_addr: dict[str, tuple[str, int]] = {}
        self._udp_out: list[tuple[bytes, tuple[str, int]]] = []
        self._stream_out: list[tuple[str | None, tuple[str, int], bytes]] = []
        self._leg_events: deque[le.LegEvent] = deque()
        self.domain_events: list[Event] = []
        self._contact_peer: dict[str, Peer] = {}
        self.dropped: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self.auth_failures = 0

    def set_local(self, local: LocalAddress) -> None:
        """Adopt the address really bound (port 0 in tests) for Via and Contact."""
        self.local = local
        self.legs.local = local

    def transaction_stats(self) -> dict[str, int]:
        return self._txn.stats()

    def registered_count(self) -> int:
        return len(self.registrar.aors())

    # --- byte level ---------------------------------------------------------------------

    def receive_datagram(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        if data in (b"\r\n\r\n", b"\r\n", b"\0\0\0\0") or not data.strip(b"\r\n\0 "):
            return  # NAT keep-alive (RFC 5626 §3.5.1); nothing to answer over UDP
        self._receive_bytes(data, Peer("UDP", addr), now)
        self._flush()

    def connection_made(self, conn_id: str, addr: tuple[str, int]) -> None:
        self._framers[conn_id] = StreamFramer(max_size=self._settings.max_message_size)
        self._conn_addr[conn_id] = addr

    def receive_data(self, conn_id: str, data: bytes, now: float) -> bool:
        """Feed stream bytes; returns False when the connection must be closed (framing error)."""
        framer = self._framers.get(conn_id)
        addr = self._conn_addr.get(conn_id)
        if framer is None or addr is None:
            return False
        try:
            messages = framer.feed(data)
        except SipParseError as exc:
            self.dropped[f"framing: {exc.reason}"[:60]] += 1
            return False
        if framer.keepalive_pings:
            for _ in range(framer.keepalive_pings):
                self._stream_out.append((conn_id, addr, b"\r\n"))  # RFC 5626 §3.5.1 pong
            framer.keepalive_pings = 0
        for raw in messages:
            self._receive_bytes(raw, Peer("TCP", addr, conn_id), now)
        self._flush()
        return True

    def connection_lost(self, conn_id: str) -> None:
        self._framers.pop(conn_id, None)
        self._conn_addr.pop(conn_id, None)

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        out, self._udp_out = self._udp_out, []
        return out

    def stream_data_to_send(self) -> list[tuple[str | None, tuple[str, int], bytes]]:
        """(connection id or None to open one, address, bytes)."""
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
        try:
            message = parse_message(data, max_size=self._settings.max_message_size)
        except SipParseError as exc:
            self._reject_unparsable(exc, peer)
            return
        try:
            if isinstance(message, SipRequest):
                self.received[message.method if message.method in KNOWN_METHODS else "other"] += 1
                self._txn.receive_request(message, peer, now)
            else:
                self.received["response"] += 1
                self._txn.receive_response(message, peer, now)
            self._drain_transactions(now)
        except SipParseError as exc:  # a header the parser let through is unusable here
            self._reject_unparsable(exc, peer, message if isinstance(message, SipRequest) else None)

    def _reject_unparsable(self, exc: SipParseError, peer: Peer,
                           request: SipRequest | None = None) -> None:
        partial = request or getattr(exc, "partial", None)
        if partial is None or partial.method == "ACK":
            self.dropped[_reason_label(exc.reason)] += 1
            return
        try:
            resp = make_response(partial, exc.status_hint, _safe_reason(exc.reason),
                                 to_tag=self._ids.tag())
        except (SipParseError, ValueError):
            self.dropped[_reason_label(exc.reason)] += 1
            return
        self.dropped["answered_" + str(exc.status_hint)] += 1
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
                self._on_timeout(event, now)
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
        status, extra = self._validate(request)
        if status:
            self._reply(key, request, status, extra=extra, now=now)
            return
        if method == "CANCEL":
            self._on_cancel(key, request, peer, now)
            return
        if _to_tag(request):
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
            self._reply(key, request, 200, now=now, extra=[
                ("Allow", ALLOW), ("Accept", "application/sdp"),
                ("Supported", "replaces, norefersub"), ("Accept-Language", "ko, en")])
        elif method in KNOWN_METHODS:
            status = 481 if method in ("BYE", "PRACK", "UPDATE", "NOTIFY", "INFO") else 405
            self._reply(key, request, status, now=now, extra=[("Allow", ALLOW)])
        else:
            self._reply(key, request, 501, now=now, extra=[("Allow", ALLOW)])

    def _validate(self, request: SipRequest) -> tuple[int, list[tuple[str, str]]]:
        """Checks every request passes before dispatch (RFC 3261 §8.2.1-§8.2.3)."""
        scheme = request.uri.split(":", 1)[0].lower()
        if scheme not in ("sip", "sips", "tel"):
            return 416, []
        mf = request.headers.get("Max-Forwards")
        if mf is not None:
            if not mf.strip().isdigit():
                return 400, []
            if int(mf) <= 0 and request.method not in ("OPTIONS", "REGISTER"):
                return 483, []
        if request.method not in ("ACK", "CANCEL"):
            required = {t.strip().lower() for v in request.headers.get_all("Require")
                        for t in v.split(",") if t.strip()}
            unknown = sorted(required - SUPPORTED_EXTENSIONS)
            if unknown:
                return 420, [("Unsupported", ", ".join(unknown))]
        if request.body and request.method in ("INVITE", "ACK"):
            ctype = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in ("application/sdp", "multipart/mixed", "multipart/alternative"):
                return 415, [("Accept", "application/sdp")]
            encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding not in ("identity", ""):
                return 415, [("Accept-Encoding", "identity")]
        if self._is_loop(request):
            return 482, []
        return 0, []

    def _is_loop(self, request: SipRequest) -> bool:
        """Our own request coming back (a number plan pointing at ourselves): §16.3 482.

        A B2BUA starts every outbound request with only its own Via, so any Via naming our
        address means the request left here and returned.
        """
        me = (self.local.host, self.local.port)
        for value in request.headers.get_all("Via"):
            try:
                via = parse_via(value)
            except SipParseError:
                continue
            if (via.host, via.port or 5060) == me:
                return True
        return False

    # --- INVITE, CANCEL, REGISTER ---------------------------------------------------------

    def _on_invite(self, key: object, request: SipRequest, peer: Peer, now: float) -> None:
        self._reply(key, request, 100, now=now)  # at once: pyVoIP waits for it (stack.md §4)
        trunk = self._trunks.match(peer.addr[0])
        auth_user: str | None = None
        if trunk is None:
            auth_user = self._authenticate(key, request, peer, now)
            if auth_user is None:
                return
        try:
            from_hdr = parse_name_addr(request.headers.get("From") or "", "From")
            called = parse_uri(request.uri).user or ""
        except SipParseError as exc:
            self._reply(key, request, 400, reason=_safe_reason(exc.reason), now=now)
            return
        if request.body and request.headers.get("Content-Type", "").startswith("multipart"):
            self._reply(key, request, 415, now=now, extra=[("Accept", "application/sdp")])
            return
        mf = request.headers.get("Max-Forwards")
        leg = SipLeg(self._ids.sequence("L"), True, request, peer, self._ids.tag(), server_key=key)
        self.legs.add(leg)
        self._leg_events.append(le.InviteReceived(
            leg_id=leg.leg_id, caller=from_hdr.uri.user or auth_user or "anonymous",
            caller_display=from_hdr.display, called=called, sdp=request.body,
            max_forwards=int(mf) if mf and mf.isdigit() else 70,
            auth_user=auth_user, trunk=trunk, source=f"{peer.addr[0]}:{peer.addr[1]}"))

    def _on_cancel(self, key: object, request: SipRequest, peer: Peer, now: float) -> None:
        invite_key = self._txn.find_invite_for_cancel(request, peer)
        leg = None
        if invite_key is not None:
            leg = next((lg for lg in self.legs.legs.values() if lg.server_key == invite_key), None)
        if leg is None:
            self._reply(key, request, 481, now=now)
            return
        self._reply(key, request, 200, now=now, to_tag=leg.local_tag)
        self.legs.on_cancel(leg, now)
        self._leg_events.extend(self.legs.events)
        self.legs.events.clear()

    def _on_register(self, key: object, request: SipRequest, peer: Peer, now: float) -> None:
        user = self._authenticate(key, request, peer, now)
        if user is None:
            return
        try:
            aor_user = parse_name_addr(request.headers.get("To") or "", "To").uri.user
        except SipParseError:
            aor_user = None
        if aor_user != user:
            self._reply(key, request, 403, reason="Wrong AOR for these credentials", now=now)
            return
        had = bool(self.registrar.lookup(user, now))
        result = self.registrar.update(user, request, peer, now)
        extra: list[tuple[str, str]] = []
        if result.min_expires is not None:
            extra.append(("Min-Expires", str(result.min_expires)))
        elif result.status == 200:
            extra += [("Contact", c) for c in contact_response_values(result.bindings, now)]
            for binding in result.bindings:
                if peer.reliable or _peer_for_uri(binding.contact) is None:
                    # TCP: reuse the phone's connection; a hostname Contact: we resolve no
                    # names, so the address it registered from is the one that works.
                    self._contact_peer[binding.contact] = peer
            if result.bindings and not had:
                b = result.bindings[0]
                self.domain_events.append(AgentRegistered(
                    at=now, agent_id=user, contact=b.contact, expires_at=b.expires_at))
            elif had and not result.bindings:
                self.domain_events.append(
                    AgentUnregistered(at=now, agent_id=user, reason="unregistered"))
        self._reply(key, request, result.status, now=now, extra=extra)

    def _authenticate(self, key: object, request: SipRequest, peer: Peer,
                      now: float) -> str | None:
        """Digest check (RFC 8760): the account's user on success, else a response was sent.

        A missing or stale credential is a challenge, not a failure; a wrong response counts
        towards the per-source and per-user lock-out. Unknown users are treated exactly like
        wrong passwords so that extensions cannot be enumerated.
        """
        source_ip = peer.addr[0]
        creds = None
        for value in request.headers.get_all("Authorization"):
            creds = parse_authorization(value)
            if creds is not None:
                break
        user_hint = creds.username if creds else None
        if self._guard.is_locked(source_ip, user_hint, now):
            self._reply(key, request, 403, reason="Too many failed authentications", now=now)
            return None
        if creds is None:
            self._challenge(key, request, now, stale=False)
            return None
        account = self._accounts.get(creds.username)
        ha1 = account.ha1(creds.algorithm) if account else None
        outcome = "wrong" if ha1 is None else authenticate(
            self._nonces, creds, request.method, ha1, now, realm=self._settings.realm,
            entity_body=request.body)
        if outcome == "ok" and account is not None:
            self._guard.record_success(source_ip, creds.username, now)
            return account.user
        if outcome != "wrong":  # stale, unknown or replayed nonce: ask again, no penalty
            self._challenge(key, request, now, stale=outcome == "stale")
            return None
        self.auth_failures += 1
        locked = self._guard.record_failure(source_ip, creds.username, now)
        self.domain_events.append(AuthenticationFailed(
            at=now, user=creds.username, source=source_ip, locked=locked))
        if locked:
            self._reply(key, request, 403, reason="Too many failed authentications", now=now)
        else:
            self._challenge(key, request, now, stale=False)
        return None

    def _challenge(self, key: object, request: SipRequest, now: float, *, stale: bool) -> None:
        nonce = self._nonces.issue(now, self._ids.nonce())
        algorithms = self._algorithms_for(request)
        offered = {c.rsplit("algorithm=", 1)[-1]: c
                   for c in challenges(self._settings.realm, nonce, stale=stale)}
        extra = [("WWW-Authenticate", offered[a]) for a in algorithms if a in offered]
        self._reply(key, request, 401, now=now, extra=extra)

    def _algorithms_for(self, request: SipRequest) -> tuple[str, ...]:
        """The account's own challenge list (phones that only read the first one), else the
        server's. Unknown users get the server's list, like every other answer to them."""
        try:
            user = parse_name_addr(request.headers.get("From") or "", "From").uri.user
        except SipParseError:
            user = None
        account = self._accounts.get(user) if user else None
        if account is not None and account.algorithms:
            return account.algorithms
        return self._settings.digest_algorithms

    # --- actions from the controller ------------------------------------------------------

    def execute(self, action: act.LegAction, now: float) -> None:
        if isinstance(action, act.CreateLeg):
            self._create_leg(action, now)
        else:
            leg = self.legs.legs.get(action.leg_id)
            if leg is not None:
                self._execute_on(leg, action, now)
        self._leg_events.extend(self.legs.events)
        self.legs.events.clear()
        self._flush()

    def _execute_on(self, leg: SipLeg, action: act.LegAction, now: float) -> None:
        match action:
            case act.RespondLeg():
                self.legs.answer_invite(leg, action, now)
            case act.AckLeg():
                self.legs.ack(leg, action.sdp)
            case act.CancelLeg():
                self.legs.cancel(leg, now)
            case act.ByeLeg():
                self.legs.bye(leg, now)
            case act.ReinviteLeg():
                self.legs.reinvite(leg, action.sdp, now)
            case act.AnswerReinvite():
                self.legs.answer_reinvite(leg, action, now)
            case act.NotifyRefer():
                self.legs.notify_refer(leg, action, now)
            case act.ProbeLeg():
                self.legs.probe(leg, now)

    def _create_leg(self, action: act.CreateLeg, now: float) -> None:
        peer = self._contact_peer.get(action.uri) or _peer_for_uri(action.uri)
        if peer is None:
            self._leg_events.append(le.LegFailed(leg_id=action.leg_id, status=503,
                                                 reason="Unresolvable target"))
            return
        self.legs.create(action, peer, now)

    # --- output helpers -------------------------------------------------------------------

    def _reply(self, key: object, request: SipRequest, status: int, *, now: float,
               reason: str | None = None, to_tag: str | None = None,
               extra: list[tuple[str, str]] | None = None) -> None:
        if key is None:
            return
        resp = make_response(request, status, reason or reason_phrase(status),
                             to_tag=to_tag if to_tag else (self._ids.tag() if status > 100 else None))
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
            self._stream_out.append((peer.conn_id, peer.addr, data))

    def _on_timeout(self, e: TransactionTimedOut, now: float) -> None:
        if e.kind == "client":
            purpose = self.legs.client_purpose.pop(e.key, None)
            if purpose is None:
                return
            leg = self.legs.legs.get(purpose[0])
            if leg is None:
                return
            if purpose[1] == "invite":
                self.legs.events.append(le.LegFailed(leg_id=leg.leg_id, status=408,
                                                     reason="No answer from the far end"))
                self.legs.forget(leg)
            elif purpose[1] in ("probe", "bye", "reinvite"):
                if purpose[1] == "reinvite":
                    self.legs.events.append(le.LegReinviteAnswered(leg_id=leg.leg_id, status=408))
                self.legs.events.append(le.LegGone(leg_id=leg.leg_id,
                                                   reason=f"{purpose[1]} timed out"))
                self.legs.forget(leg)
        else:
            leg = next((lg for lg in self.legs.legs.values() if lg.server_key == e.key), None)
            if leg is not None and leg.answered:  # no ACK for our 2xx: §13.3.1.4 says BYE
                self.legs.bye(leg, now)
                self.legs.events.append(le.LegGone(leg_id=leg.leg_id, reason="no ACK"))
                self.legs.forget(leg)


def _to_tag(request: SipRequest) -> bool:
    to = request.headers.get("To") or ""
    return ";tag=" in to.replace(" ", "").lower()


def _peer_for_uri(uri: str) -> Peer | None:
    """Where to send a request for a URI with a literal IP host (no DNS in the core)."""
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return None
    host = parsed.host
    if host == "localhost":
        host = "127.0.0.1"
    if not host or not (host.replace(".", "").isdigit() or ":" in host):
        return None
    transport = (parsed.params.get("transport") or "udp").upper()
    return Peer("TCP" if transport == "TCP" else "UDP", (host, parsed.port or 5060))


def _reason_label(reason: str) -> str:
    return reason.split(":")[0][:40].strip().lower().replace(" ", "_") or "unparsable"


def _safe_reason(reason: str) -> str:
    return "".join(ch for ch in reason if ch.isprintable() and ch not in "\r\n")[:80] or "Bad Request"


__all__ = ["EndpointSettings", "SipEndpoint", "user_of"]
