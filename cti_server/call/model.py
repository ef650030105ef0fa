"""Call and Leg, and the leg state table.

Theory of operation: a Call is what a person sees (one conversation); a Leg is one SIP
dialog the B2BUA terminates on behalf of the call: the INBOUND leg from the caller, and one
or more OUTBOUND legs towards an agent, extension or trunk. A leg only moves forward through
the table below; any other (state, event) pair is a bug and raises ``IllegalLegTransition``
naming both. The controller keeps at most one "active peer" leg per call at a time; a blind
transfer swaps it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final, Protocol


class LegDirection(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class LegState(enum.Enum):
    INITIAL = "initial"  # INVITE received (inbound) or about to be sent (outbound)
    EARLY = "early"  # 1xx seen: ringing / session progress
    ANSWERED = "answered"  # 2xx sent or received, not yet confirmed by ACK
    CONFIRMED = "confirmed"  # ACK exchanged: the dialog is up
    TERMINATING = "terminating"  # CANCEL or BYE sent, waiting for the far end
    TERMINATED = "terminated"


class LegInput(enum.Enum):
    PROGRESS = "progress"
    ANSWER = "answer"
    ACK = "ack"
    HANGUP = "hangup"  # we started tearing down (CANCEL/BYE sent)
    ENDED = "ended"  # the leg is gone (BYE/CANCEL received, failure, timeout, BYE answered)


S, I = LegState, LegInput  # noqa: E741 - table shorthand
TRANSITIONS: Final[dict[LegState, dict[LegInput, LegState]]] = {
    S.INITIAL: {
        I.PROGRESS: S.EARLY,
        I.ANSWER: S.ANSWERED,
        I.HANGUP: S.TERMINATING,
        I.ENDED: S.TERMINATED,
    },
    S.EARLY: {
        I.PROGRESS: S.EARLY,
        I.ANSWER: S.ANSWERED,
        I.HANGUP: S.TERMINATING,
        I.ENDED: S.TERMINATED,
    },
    S.ANSWERED: {I.ACK: S.CONFIRMED, I.HANGUP: S.TERMINATING, I.ENDED: S.TERMINATED},
    S.CONFIRMED: {I.ACK: S.CONFIRMED, I.HANGUP: S.TERMINATING, I.ENDED: S.TERMINATED},
    S.TERMINATING: {
        I.ANSWER: S.TERMINATING,
        I.ACK: S.TERMINATING,
        I.HANGUP: S.TERMINATING,
        I.PROGRESS: S.TERMINATING,
        I.ENDED: S.TERMINATED,
    },
    S.TERMINATED: {I.ENDED: S.TERMINATED, I.HANGUP: S.TERMINATED},
}
del S, I


class IllegalLegTransition(RuntimeError):
    def __init__(self, leg_id: str, state: LegState, event: LegInput) -> None:
        super().__init__(f"leg {leg_id}: {event.value!r} is not allowed in state {state.value!r}")
        self.state = state
        self.event = event


@dataclass(slots=True)
class Leg:
    leg_id: str
    call_id: str
    direction: LegDirection
    target: str = ""
    agent_id: str | None = None
    state: LegState = LegState.INITIAL
    sdp: bytes = b""  # the last session description this leg's peer sent us
    created_at: float = 0.0
    answered_at: float | None = None
    ended_at: float | None = None
    ring_deadline: float | None = None
    contacts_left: list[str] = field(default_factory=list)  # further contacts to hunt
    offer_queue: str | None = None  # an ACD offer: ringing an agent for this queue

    def apply(self, event: LegInput, now: float) -> LegState:
        try:
            new = TRANSITIONS[self.state][event]
        except KeyError:
            raise IllegalLegTransition(self.leg_id, self.state, event) from None
        if new is LegState.ANSWERED and self.answered_at is None:
            self.answered_at = now
        if new is LegState.TERMINATED and self.ended_at is None:
            self.ended_at = now
        self.state = new
        return new

    @property
    def alive(self) -> bool:
        return self.state not in (LegState.TERMINATING, LegState.TERMINATED)

    @property
    def up(self) -> bool:
        return self.state in (LegState.ANSWERED, LegState.CONFIRMED)


@dataclass(frozen=True, slots=True)
class NextHop:
    """An origination decided but deferred (after an announcement)."""

    uris: tuple[str, ...]
    caller: str
    display: str | None
    max_forwards: int
    agent: str | None
    codec: str | None


class TimedRun(Protocol):
    """What the controller needs of a running IVR flow to file its deadline."""

    def next_deadline(self) -> float | None: ...


class CallPhase(enum.Enum):
    ROUTING = "routing"
    ANNOUNCING = "announcing"  # answered by us, a prompt plays, the target rings afterwards
    IVR = "ivr"  # answered by us, an IVR flow talks to the caller
    QUEUED = "queued"  # waiting in an ACD queue (music on hold, offers ringing agents)
    VOICEMAIL = "voicemail"  # the caller is leaving a message for an agent
    ALERTING = "alerting"
    CONNECTED = "connected"
    TRANSFERRING = "transferring"
    CLEARED = "cleared"


@dataclass(slots=True)
class Call:
    call_id: str
    inbound: Leg
    caller: str
    called: str
    trunk: str | None = None
    phase: CallPhase = CallPhase.ROUTING
    peer: Leg | None = None  # the outbound leg currently connected or being tried
    transfer_leg: Leg | None = None  # the new leg of a blind transfer in progress
    transferor: Leg | None = None  # the leg that sent REFER
    transfer_silent: bool = False  # a transfer from the desktop: no REFER, so no NOTIFYs
    created_at: float = 0.0
    last_activity: float = 0.0
    probe_due: float | None = None
    held: bool = False
    pending_reinvite: tuple[str, str] | None = None  # (from leg, to leg) of a relayed re-INVITE
    next_hop: NextHop | None = None  # where to go once the announcement has played
    announcement: str | None = None
    voicemail_agent: str | None = None  # the route allows voice mail for this agent
    voicemail_language: str | None = None
    voicemail_for: str | None = None  # set once the caller is in voice mail
    voicemail_queue: str = ""  # a message for a queue (overflow, after hours)
    voicemail_deadline: float | None = None
    ivr: Any = None  # the IVR run (ivr_flows.engine.IvrRun) while the flow has the call
    ivr_waiting_service: bool = False  # a lookup/PIN check/callback commit is in flight
    ivr_playing: bool = False  # a Play of the run is on the caller's leg, owed its end
    secure_input: bool = False  # the IVR collects a PIN: digits are masked in events
    language: str | None = None  # chosen in the IVR; prompts after it use it
    queue: str | None = None  # the ACD queue the call waits in / was answered from
    acd_agent: str | None = None  # the agent the ACD connected (until their leg ends)
    queued_as: Any = None  # acd.protocol.QueueCall it joined the queue with (cluster reports)
    offers: dict[str, Leg] = field(default_factory=dict)  # agent id -> ringing offer leg
    customer_id: str | None = None
    auth_method: str | None = None
    screen_pop: dict[str, Any] | None = None  # assembled off the reactor, attached here
    after_prompt: str | None = None  # what to do when the current prompt ends (queued calls)
    dial: Any = None  # call.dial_out.DialOut: a call the server placed (callback, lead, click)

    def legs(self) -> list[Leg]:
        out = [self.inbound]
        for leg in (self.peer, self.transfer_leg, *self.offers.values()):
            if leg is not None and leg not in out:
                out.append(leg)
        return out

    def deadlines(self) -> list[float]:
        """When something is due: a ring timeout, the next probe, the voice-message limit,
        an IVR timeout."""
        out = [
            leg.ring_deadline for leg in self.legs() if leg.ring_deadline is not None and leg.alive
        ]
        out += [t for t in (self.probe_due, self.voicemail_deadline) if t is not None]
        if self.ivr is not None:
            run: TimedRun = self.ivr
            due = run.next_deadline()
            if due is not None:
                out.append(due)
        return out

    def other(self, leg: Leg) -> Leg | None:
        """The leg media and signalling are relayed to from ``leg``."""
        if leg is self.inbound:
            return self.peer
        if leg is self.peer:
            return self.inbound
        return None


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    ring_timeout: float = 60.0
    session_expires: float = 1800.0
    language: str = "ko"
    voice_message_max: float = 120.0
