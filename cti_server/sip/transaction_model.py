"""The vocabulary of the transaction layer: the four RFC 3261 §17 machines as tables, keys,
events and errors. ``sip.transaction`` drives these tables and re-exports everything here.

Each table maps (state, input) to the next state. Network inputs that the RFC says to absorb
are listed as self-loops, so a peer can never make the layer raise; a TU input missing from a
table is a TU bug and raises ``TransactionStateError`` naming the machine, state and input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, NamedTuple

from cti_server.sip.message import SipRequest, SipResponse
from cti_server.sip.peer import Peer

MAGIC_COOKIE = "z9hg4bk"  # RFC 3261 §8.1.1.7, compared case-insensitively


class Kind(Enum):
    INVITE_CLIENT = "invite_client"
    NON_INVITE_CLIENT = "non_invite_client"
    INVITE_SERVER = "invite_server"
    NON_INVITE_SERVER = "non_invite_server"


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026 §7.1 (server) and §7.2 (client)
    TERMINATED = "Terminated"


class Input(Enum):
    RECV_1XX = "recv 1xx"
    RECV_2XX = "recv 2xx"
    RECV_ERR = "recv 300-699"
    REQUEST = "request retransmission"
    ACK = "ACK"
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_ERR = "send 300-699"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_2XX = "2xx retransmission"  # RFC 3261 §13.3.1.4, done here instead of in the TU


S, In = State, Input
_Table = dict[tuple[State, Input], State]
# RFC 3261 §17.1.1 figure 5 with RFC 6026 §7.2 (2xx -> Accepted, Timer M).
_ICT: _Table = {
    (S.CALLING, In.TIMER_A): S.CALLING,
    (S.CALLING, In.TIMER_B): S.TERMINATED,
    **{(s, In.RECV_1XX): S.PROCEEDING for s in (S.CALLING, S.PROCEEDING)},
    **{(s, In.RECV_2XX): S.ACCEPTED for s in (S.CALLING, S.PROCEEDING)},
    **{(s, In.RECV_ERR): S.COMPLETED for s in (S.CALLING, S.PROCEEDING)},
    **{(S.COMPLETED, i): S.COMPLETED for i in (In.RECV_1XX, In.RECV_2XX, In.RECV_ERR)},
    (S.COMPLETED, In.TIMER_D): S.TERMINATED,
    **{(S.ACCEPTED, i): S.ACCEPTED for i in (In.RECV_1XX, In.RECV_2XX, In.RECV_ERR)},
    (S.ACCEPTED, In.TIMER_M): S.TERMINATED,
}
# RFC 3261 §17.1.2 figure 6.
_NICT: _Table = {
    **{(s, In.RECV_1XX): S.PROCEEDING for s in (S.TRYING, S.PROCEEDING)},
    **{(s, i): S.COMPLETED for s in (S.TRYING, S.PROCEEDING) for i in (In.RECV_2XX, In.RECV_ERR)},
    **{(s, In.TIMER_E): s for s in (S.TRYING, S.PROCEEDING)},
    **{(s, In.TIMER_F): S.TERMINATED for s in (S.TRYING, S.PROCEEDING)},
    **{(S.COMPLETED, i): S.COMPLETED for i in (In.RECV_1XX, In.RECV_2XX, In.RECV_ERR)},
    (S.COMPLETED, In.TIMER_K): S.TERMINATED,
}
# RFC 3261 §17.2.1 figure 7 with RFC 6026 §7.1 (2xx -> Accepted, Timer L).
_IST: _Table = {
    (S.PROCEEDING, In.REQUEST): S.PROCEEDING,
    (S.PROCEEDING, In.ACK): S.PROCEEDING,  # an ACK before any final: absorbed
    (S.PROCEEDING, In.SEND_1XX): S.PROCEEDING,
    (S.PROCEEDING, In.SEND_2XX): S.ACCEPTED,
    (S.PROCEEDING, In.SEND_ERR): S.COMPLETED,
    (S.COMPLETED, In.REQUEST): S.COMPLETED,
    (S.COMPLETED, In.ACK): S.CONFIRMED,
    (S.COMPLETED, In.TIMER_G): S.COMPLETED,
    (S.COMPLETED, In.TIMER_H): S.TERMINATED,
    (S.CONFIRMED, In.REQUEST): S.CONFIRMED,
    (S.CONFIRMED, In.ACK): S.CONFIRMED,
    (S.CONFIRMED, In.TIMER_I): S.TERMINATED,
    (S.ACCEPTED, In.REQUEST): S.ACCEPTED,
    (S.ACCEPTED, In.ACK): S.ACCEPTED,
    (S.ACCEPTED, In.SEND_2XX): S.ACCEPTED,  # RFC 6026 §8.5: the TU may pass 2xx retransmissions
    (S.ACCEPTED, In.TIMER_2XX): S.ACCEPTED,
    (S.ACCEPTED, In.TIMER_L): S.TERMINATED,
}
# RFC 3261 §17.2.2 figure 8.
_NIST: _Table = {
    (S.TRYING, In.REQUEST): S.TRYING,
    (S.TRYING, In.SEND_1XX): S.PROCEEDING,
    **{(s, i): S.COMPLETED for s in (S.TRYING, S.PROCEEDING) for i in (In.SEND_2XX, In.SEND_ERR)},
    (S.PROCEEDING, In.REQUEST): S.PROCEEDING,
    (S.PROCEEDING, In.SEND_1XX): S.PROCEEDING,
    (S.COMPLETED, In.REQUEST): S.COMPLETED,
    # "Any other final responses passed by the TU ... MUST be discarded" (§17.2.2).
    **{(S.COMPLETED, i): S.COMPLETED for i in (In.SEND_2XX, In.SEND_ERR)},
    (S.COMPLETED, In.TIMER_J): S.TERMINATED,
}
TABLES: dict[Kind, _Table] = {
    Kind.INVITE_CLIENT: _ICT,
    Kind.NON_INVITE_CLIENT: _NICT,
    Kind.INVITE_SERVER: _IST,
    Kind.NON_INVITE_SERVER: _NIST,
}
RETX_INPUTS = {In.TIMER_A, In.TIMER_E, In.TIMER_G, In.TIMER_2XX}
TIMEOUT_INPUTS = {In.TIMER_B, In.TIMER_F, In.TIMER_H}


class TransactionError(Exception):
    """The TU used the layer wrongly (unknown key, duplicate branch, ACK as a transaction)."""


class TransactionStateError(TransactionError):
    def __init__(self, kind: Kind, state: State, event: Input) -> None:
        super().__init__(
            f"{kind.value} transaction in state {state.value} cannot take {event.value}"
        )
        self.kind = kind
        self.state = state
        self.event = event


def transition(kind: Kind, state: State, event: Input) -> State:
    """The next state, or ``TransactionStateError`` when the table has no such transition."""
    new = TABLES[kind].get((state, event))
    if new is None:
        raise TransactionStateError(kind, state, event)
    return new


class ServerKey(NamedTuple):
    """RFC 3261 §17.2.3 match key. ``seq`` is extra: pyVoIP re-sends an INVITE after a 401
    with the same branch and CSeq+1, which must be a new transaction."""

    branch: str  # the RFC 3261 branch, or the RFC 2543 matching fields joined
    host: str
    port: int
    method: str  # ACK is folded into INVITE
    seq: int


class ClientKey(NamedTuple):
    """RFC 3261 §17.1.3: the branch we generated plus the CSeq method."""

    branch: str
    method: str


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new server transaction, or an ACK (``key`` is the INVITE's transaction when it
    acknowledges one of our 2xx still in Accepted, None when it matches nothing)."""

    key: ServerKey | None
    request: SipRequest
    peer: Peer
    overloaded: bool = False  # no state was created: answer 503 with ``send_stateless``


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    key: ClientKey
    response: SipResponse
    retransmission: bool = False  # a 2xx seen again in Accepted: the TU resends its ACK


@dataclass(frozen=True, slots=True)
class StrayResponse:
    response: SipResponse
    peer: Peer


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    key: ServerKey | ClientKey
    method: str
    kind: Literal["client", "server"]


TransactionEvent = RequestReceived | ResponseReceived | StrayResponse | TransactionTimedOut
