"""RFC 3261 §17 transactions as a sans-IO core, with the RFC 6026 "Accepted" state.

Theory of operation. ``TransactionLayer`` owns every transaction, keyed in two dicts (server
and client). Network input (``receive_request``/``receive_response``), TU input
(``send_request``/``send_response``) and due timers (``handle_timer``) are each mapped to an
``Input`` and pushed through the machine's table (``transaction_model.TABLES``); the effects of
a transition (send bytes, arm timers, emit an event) are written next to the lookup.

Each transaction has at most two live deadlines: a retransmission timer (A, E, G or the 2xx
retransmission of §13.3.1.4) and an end timer (B, D, F, H, I, J, K, L, M). Both go on one heap
with lazy deletion: an entry is stale once its transaction is terminated or the deadline it
carries is no longer the one on the transaction. Messages are serialised once; retransmissions
resend the same bytes. Responses go to the peer the request came from (symmetric routing), so
the TU never computes a response address. Output is drained with ``messages_to_send`` and
``next_event``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from cti_server.sip.headers import CSeq, Via, parse_cseq, parse_params, parse_via
from cti_server.sip.message import Headers, SipMessage, SipRequest, SipResponse, reason_phrase
from cti_server.sip.peer import Peer
from cti_server.sip.transaction_model import (
    MAGIC_COOKIE,
    RETX_INPUTS,
    TIMEOUT_INPUTS,
    ClientKey,
    Input,
    Kind,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    State,
    StrayResponse,
    TransactionError,
    TransactionEvent,
    TransactionStateError,
    TransactionTimedOut,
    transition,
)

__all__ = [
    "ClientKey",
    "Input",
    "Kind",
    "RequestReceived",
    "ResponseReceived",
    "ServerKey",
    "State",
    "StrayResponse",
    "TransactionError",
    "TransactionEvent",
    "TransactionLayer",
    "TransactionStateError",
    "TransactionTimedOut",
    "make_cancel",
    "make_error_ack",
    "make_response",
    "tag_param",
]

S, In = State, Input


@dataclass(slots=True, eq=False)
class _Txn:
    kind: Kind
    key: ServerKey | ClientKey
    state: State
    request: SipRequest
    peer: Peer
    seq: int
    call_id: str
    out: bytes | None = None  # what a retransmission resends
    retx_at: float | None = None
    retx_interval: float = 0.0
    retx_input: Input = In.TIMER_A
    end_at: float | None = None
    end_input: Input = In.TIMER_B
    acked: bool = False
    tags: set[str | None] = field(default_factory=set)  # To tags of 2xx seen (INVITE client)


class TransactionLayer:
    def __init__(
        self,
        *,
        t1: float = 0.5,
        t2: float = 4.0,
        t4: float = 5.0,
        max_transactions: int = 100_000,
        timer_d: float = 32.0,
    ) -> None:
        self._t1, self._t2, self._t4, self._timer_d = t1, t2, t4, timer_d
        self._t64 = 64 * t1
        self._max = max_transactions
        self._server: dict[ServerKey, _Txn] = {}
        self._client: dict[ClientKey, _Txn] = {}
        self._accepted: dict[tuple[str, int], _Txn] = {}  # (Call-ID, CSeq) -> IST in Accepted
        self._counts = dict.fromkeys(Kind, 0)
        self._heap: list[tuple[float, int, _Txn, bool]] = []  # (at, order, txn, is_end)
        self._order = itertools.count()
        self._out: list[tuple[bytes, Peer]] = []
        self._events: deque[TransactionEvent] = deque()

    # --- server side ---------------------------------------------------------------------
    def receive_request(self, request: SipRequest, peer: Peer, now: float) -> None:
        """Raises ``SipParseError`` when the top Via or CSeq is unusable (answer 400)."""
        via, cseq = _via_cseq(request)
        key = _server_key(request, via, cseq.seq, request.method)
        txn = self._server.get(key)
        if request.method == "ACK":
            self._receive_ack(request, peer, txn, cseq, now)
        elif txn is not None:
            self._step(txn, In.REQUEST)  # §17.2.1/§17.2.2: resend the last response
            if txn.out is not None and txn.state is not S.CONFIRMED:
                self._out.append((txn.out, txn.peer))
        elif len(self._server) + len(self._client) >= self._max:
            self._events.append(RequestReceived(None, request, peer, overloaded=True))
        else:
            invite = request.method == "INVITE"
            kind = Kind.INVITE_SERVER if invite else Kind.NON_INVITE_SERVER
            state = S.PROCEEDING if invite else S.TRYING
            txn = _Txn(kind, key, state, request, peer, cseq.seq, request.call_id)
            self._server[key] = txn
            self._counts[kind] += 1
            self._events.append(RequestReceived(key, request, peer))

    def _receive_ack(
        self, ack: SipRequest, peer: Peer, txn: _Txn | None, cseq: CSeq, now: float
    ) -> None:
        if txn is None or txn.kind is not Kind.INVITE_SERVER:
            # An ACK for a 2xx has its own branch (§17.1.1.3); pyVoIP's also has a random
            # To tag, so match the Accepted INVITE by Call-ID and CSeq number only.
            txn = self._accepted.get((ack.call_id, cseq.seq))
            if txn is None:
                self._events.append(RequestReceived(None, ack, peer))
                return
        old = self._step(txn, In.ACK)
        if old is S.COMPLETED:  # §17.2.1: ACK for our non-2xx, absorbed
            txn.retx_at = None
            self._end(txn, In.TIMER_I, 0.0 if txn.peer.reliable else self._t4, now)
        elif old is S.ACCEPTED:  # RFC 6026 §7.1: passed to the TU
            key = txn.key
            assert isinstance(key, ServerKey)
            txn.acked = True
            txn.retx_at = None
            self._events.append(RequestReceived(key, ack, peer))

    def send_response(self, key: ServerKey, response: SipResponse, now: float) -> None:
        txn = self._server.get(key)
        if txn is None:
            raise TransactionError(f"no server transaction {key}")
        status = response.status
        inp = In.SEND_1XX if status < 200 else In.SEND_2XX if status < 300 else In.SEND_ERR
        old = self._step(txn, inp)
        if txn.kind is Kind.NON_INVITE_SERVER and old is S.COMPLETED:
            return
        txn.out = response.serialize()
        self._out.append((txn.out, txn.peer))
        if inp is In.SEND_1XX or old is S.ACCEPTED:
            return
        udp = not txn.peer.reliable
        if txn.kind is Kind.NON_INVITE_SERVER:
            self._end(txn, In.TIMER_J, self._t64 if udp else 0.0, now)  # §17.2.2 Timer J
        elif inp is In.SEND_2XX:
            self._accepted[(txn.call_id, txn.seq)] = txn
            if udp:  # §13.3.1.4: retransmit the 2xx, T1 doubling up to T2
                self._retx(txn, In.TIMER_2XX, self._t1, now)
            self._end(txn, In.TIMER_L, self._t64, now)  # RFC 6026 Timer L
        else:
            if udp:
                self._retx(txn, In.TIMER_G, self._t1, now)  # §17.2.1 Timer G
            self._end(txn, In.TIMER_H, self._t64, now)  # §17.2.1 Timer H

    def send_stateless(self, message: SipMessage, peer: Peer) -> None:
        """For what is no transaction: the ACK for a 2xx (§13.2.2.4) and overload 503s."""
        self._out.append((message.serialize(), peer))

    def find_invite_for_cancel(self, cancel: SipRequest, peer: Peer) -> ServerKey | None:
        """RFC 3261 §9.2: the INVITE a CANCEL refers to has the same branch, sent-by and CSeq."""
        via, cseq = _via_cseq(cancel)
        key = _server_key(cancel, via, cseq.seq, "INVITE")
        txn = self._server.get(key)
        return key if txn is not None and txn.kind is Kind.INVITE_SERVER else None

    # --- client side ---------------------------------------------------------------------
    def send_request(self, request: SipRequest, peer: Peer, now: float) -> ClientKey:
        via, cseq = _via_cseq(request)
        branch = via.branch
        if request.method == "ACK":
            raise TransactionError("ACK is not a transaction: use send_stateless")
        if not branch or branch[:7].lower() != MAGIC_COOKIE:
            raise TransactionError(f"client request needs an RFC 3261 branch, got {branch!r}")
        key = ClientKey(branch, request.method)
        if key in self._client:
            raise TransactionError(f"duplicate client transaction {key}")
        invite = request.method == "INVITE"
        kind = Kind.INVITE_CLIENT if invite else Kind.NON_INVITE_CLIENT
        state = S.CALLING if invite else S.TRYING
        txn = _Txn(kind, key, state, request, peer, cseq.seq, request.call_id)
        self._client[key] = txn
        self._counts[kind] += 1
        txn.out = request.serialize()
        self._out.append((txn.out, peer))
        if not peer.reliable:  # §17.1.1.2 Timer A, §17.1.2.2 Timer E
            self._retx(txn, In.TIMER_A if invite else In.TIMER_E, self._t1, now)
        self._end(txn, In.TIMER_B if invite else In.TIMER_F, self._t64, now)
        return key

    def receive_response(self, response: SipResponse, peer: Peer, now: float) -> None:
        """Raises ``SipParseError`` when the top Via or CSeq is unusable (drop and count)."""
        via, cseq = _via_cseq(response)
        txn = self._client.get(ClientKey(via.branch or "", cseq.method))
        if txn is None:
            self._events.append(StrayResponse(response, peer))
            return
        status = response.status
        inp = In.RECV_1XX if status < 200 else In.RECV_2XX if status < 300 else In.RECV_ERR
        old = self._step(txn, inp)
        key = txn.key
        assert isinstance(key, ClientKey)
        if old is S.COMPLETED or (old is S.ACCEPTED and inp is not In.RECV_2XX):
            if txn.kind is Kind.INVITE_CLIENT and old is S.COMPLETED and inp is In.RECV_ERR:
                assert txn.out is not None
                self._out.append((txn.out, txn.peer))  # §17.1.1.2: resend the ACK
            return
        if old is S.ACCEPTED:  # RFC 6026 §7.2: every 2xx goes up so the TU can re-ACK
            tag = tag_param(response.headers.get("To") or "")
            self._events.append(ResponseReceived(key, response, tag in txn.tags))
            txn.tags.add(tag)
            return
        self._events.append(ResponseReceived(key, response))
        if inp is In.RECV_1XX:
            if txn.kind is Kind.INVITE_CLIENT:
                txn.retx_at = txn.end_at = None  # Timers A and B only act in Calling
            return
        txn.retx_at = None
        udp = not txn.peer.reliable
        if txn.kind is Kind.NON_INVITE_CLIENT:
            self._end(txn, In.TIMER_K, self._t4 if udp else 0.0, now)  # §17.1.2.2 Timer K
        elif inp is In.RECV_2XX:
            txn.tags.add(tag_param(response.headers.get("To") or ""))
            self._end(txn, In.TIMER_M, self._t64, now)  # RFC 6026 Timer M
        else:
            txn.out = make_error_ack(txn.request, response).serialize()
            self._out.append((txn.out, txn.peer))
            self._end(txn, In.TIMER_D, self._timer_d if udp else 0.0, now)  # §17.1.1.2 Timer D

    def cancel_client(self, key: ClientKey) -> None:
        """Forget a client transaction, e.g. 64*T1 after a CANCEL got no final (§9.1)."""
        txn = self._client.get(key)
        if txn is not None:
            self._terminate(txn)

    # --- outputs, timers, lookups --------------------------------------------------------
    def messages_to_send(self) -> list[tuple[bytes, Peer]]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> TransactionEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        heap = self._heap
        while heap:
            at, _, txn, is_end = heap[0]
            if txn.state is not S.TERMINATED and at == (txn.end_at if is_end else txn.retx_at):
                return at
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, txn, is_end = heapq.heappop(heap)
            if txn.state is S.TERMINATED or at != (txn.end_at if is_end else txn.retx_at):
                continue
            self._fire(txn, txn.end_input if is_end else txn.retx_input, now)

    def _fire(self, txn: _Txn, inp: Input, now: float) -> None:
        old = self._step(txn, inp)
        if inp in RETX_INPUTS:
            assert txn.out is not None
            self._out.append((txn.out, txn.peer))
            if inp is In.TIMER_A:  # §17.1.1.2: doubles without a cap
                interval = 2 * txn.retx_interval
            elif inp is In.TIMER_E and old is S.PROCEEDING:  # §17.1.2.2: T2 once provisional
                interval = self._t2
            else:
                interval = min(2 * txn.retx_interval, self._t2)
            self._retx(txn, inp, interval, now)
            return
        if inp in TIMEOUT_INPUTS or (inp is In.TIMER_L and not txn.acked):
            side: Literal["client", "server"] = (
                "client" if isinstance(txn.key, ClientKey) else "server"
            )
            self._events.append(TransactionTimedOut(txn.key, txn.request.method, side))
        self._terminate(txn)

    def state(self, key: ServerKey | ClientKey) -> State | None:
        txn = self._client.get(key) if isinstance(key, ClientKey) else self._server.get(key)
        return None if txn is None else txn.state

    def request_of(self, key: ServerKey | ClientKey) -> SipRequest | None:
        txn = self._client.get(key) if isinstance(key, ClientKey) else self._server.get(key)
        return None if txn is None else txn.request

    def stats(self) -> dict[str, int]:
        return {kind.value: n for kind, n in self._counts.items()}

    # --- internals -----------------------------------------------------------------------
    def _step(self, txn: _Txn, inp: Input) -> State:
        old, txn.state = txn.state, transition(txn.kind, txn.state, inp)
        return old

    def _retx(self, txn: _Txn, inp: Input, interval: float, now: float) -> None:
        txn.retx_input, txn.retx_interval = inp, interval
        txn.retx_at = at = now + interval
        heapq.heappush(self._heap, (at, next(self._order), txn, False))

    def _end(self, txn: _Txn, inp: Input, delay: float, now: float) -> None:
        if delay <= 0:  # reliable transports: D, I, J and K are zero (§17.1.1.2, §17.2.1)
            self._terminate(txn)
            return
        txn.end_input = inp
        txn.end_at = at = now + delay
        heapq.heappush(self._heap, (at, next(self._order), txn, True))

    def _terminate(self, txn: _Txn) -> None:
        txn.state = S.TERMINATED
        if isinstance(txn.key, ClientKey):
            del self._client[txn.key]
        else:
            del self._server[txn.key]
            if self._accepted.get((txn.call_id, txn.seq)) is txn:
                del self._accepted[(txn.call_id, txn.seq)]
        self._counts[txn.kind] -= 1


def _via_cseq(message: SipMessage) -> tuple[Via, CSeq]:
    headers = message.headers
    return parse_via(headers.get("Via") or ""), parse_cseq(headers.get("CSeq") or "")


def _server_key(request: SipRequest, via: Via, seq: int, method: str) -> ServerKey:
    if method == "ACK":
        method = "INVITE"
    port = via.port or (5061 if via.transport == "TLS" else 5060)
    branch = via.branch
    if branch is None or branch[:7].lower() != MAGIC_COOKIE:
        # RFC 3261 §17.2.3 last paragraph (RFC 2543 peers). The INVITE's To has no tag
        # while its ACK carries ours, so the To tag only counts for non-INVITE requests.
        headers = request.headers
        to_tag = "" if method == "INVITE" else tag_param(headers.get("To") or "") or ""
        from_tag = tag_param(headers.get("From") or "") or ""
        fields = ("2543", request.uri, from_tag, to_tag, request.call_id, branch or "")
        branch = "\x1f".join(fields)
    return ServerKey(branch, via.host, port, method, seq)


def tag_param(value: str) -> str | None:
    """The ``tag`` parameter of a From/To value, without a full name-addr parse."""
    gt = value.rfind(">")
    tail = value[gt + 1 :] if gt >= 0 else value.partition(";")[2]
    if "tag" not in tail.lower():
        return None
    return parse_params(tail).get("tag")


def make_error_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """RFC 3261 §17.1.1.3: the ACK a client transaction sends for a 300-699 final."""
    return _derived_request(invite, "ACK", response.headers.get("To") or "")


def make_cancel(invite: SipRequest) -> SipRequest:
    """RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number; top Via; Routes."""
    return _derived_request(invite, "CANCEL", None)


def _derived_request(invite: SipRequest, method: str, to: str | None) -> SipRequest:
    """The shape §9.1 and §17.1.1.3 share: the INVITE's Request-URI, only its top Via, its
    Route, From, Call-ID and CSeq number; To from the INVITE (CANCEL) or the response (ACK)."""
    items: list[tuple[str, str]] = []
    seen_via = False
    for name, value in invite.headers:
        if name == "Via":
            if not seen_via:
                items.append((name, value))
            seen_via = True
        elif name in ("Route", "From", "Call-ID"):
            items.append((name, value))
        elif name == "To":
            items.append((name, value if to is None else to))
        elif name == "CSeq":
            items.append((name, f"{value.split()[0]} {method}"))
    items.append(("Max-Forwards", "70"))
    return SipRequest(method, invite.uri, Headers.from_canonical(items))


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> SipResponse:
    """RFC 3261 §8.2.6.2: Via (all, in order), From, To (+tag), Call-ID, CSeq copied. Record-Route
    is copied too on 101-299 (§12.1.1: responses that may establish a dialog)."""
    items: list[tuple[str, str]] = []
    for name, value in request.headers:
        if name in ("Via", "From", "Call-ID", "CSeq"):
            items.append((name, value))
        elif name == "To":
            if to_tag is not None and status != 100 and tag_param(value) is None:
                value = f"{value};tag={to_tag}"
            items.append((name, value))
        elif name == "Record-Route" and 100 < status < 300:
            items.append((name, value))
    headers = Headers.from_canonical(items)
    for name, value in extra_headers:
        headers.add(name, value)
    return SipResponse(status, reason or reason_phrase(status), headers)
