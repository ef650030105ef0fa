"""What the calls did, as the dialer's inputs: the attempts in flight and their phases.

The host places an attempt's call (``cti_server.call.dial_out``) and learns how it goes from
the bus: ``DialAgentConnected`` (agent first: the agent took it), ``DialCustomerAnswered``
(customer first: the customer answered), ``CallFailed`` (a leg's final SIP status),
``CallEstablished`` (both parties bridged) and ``CallCleared``. ``Attempts.report`` turns each
into the dialer input it means, once, following the attempt's phase:

    agent first:    ringing_agent -> agent_on_line -> dialing -> answered -> done
    customer first: dialing -> customer_waiting -> connecting -> answered -> done

Pure: no I/O, no time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acd.dialer_protocol import (
    AgentReserved,
    CallEnded,
    DialerInput,
    DialOutcome,
    DialResult,
)
from cti_server import events as ev

_BUSY = {486, 600, 603}
_NO_ANSWER = {408, 480, 487}
_INVALID = {404, 410, 484, 604}


def outcome_of(status: int) -> DialOutcome:
    """The customer leg's final SIP status -> the dialer's outcome (487: we cancelled it
    at the ring timeout, so nobody answered)."""
    if status in _BUSY:
        return "busy"
    if status in _NO_ANSWER:
        return "no_answer"
    if status in _INVALID:
        return "rejected"
    return "failed"


@dataclass(slots=True)
class Attempt:
    attempt_id: str
    call_id: str
    agent_id: str
    # agent first: ringing_agent -> agent_on_line -> dialing -> answered -> done
    # customer first: dialing -> customer_waiting -> connecting -> answered -> done
    phase: str = "ringing_agent"


class AcdAgentPool:
    """``AgentPool`` over the live ACD (the holder is swapped on fail-over)."""

    def __init__(self, acd: Any) -> None:
        self._acd = acd

    def free_agents(self, queue: str) -> list[str]:
        rows = [r for r in self._acd.agents() if r["state"] == "ready" and queue in r["queues"]]
        rows.sort(key=lambda r: r.get("idle_since", 0.0))  # longest idle first
        return [r["id"] for r in rows]

    def inbound_waiting(self, queue: str) -> tuple[int, float]:
        stats = self._acd.queue_stats(queue)
        return stats["waiting"], stats["longest_wait"]

    def service_level(self, queue: str) -> float | None:
        return None


class Attempts:
    """Attempts in flight, by attempt id and by call id."""

    def __init__(self) -> None:
        self.by_id: dict[str, Attempt] = {}
        self.by_call: dict[str, Attempt] = {}

    def add(self, attempt: Attempt) -> None:
        self.by_id[attempt.attempt_id] = attempt
        self.by_call[attempt.call_id] = attempt

    def get(self, attempt_id: str) -> Attempt | None:
        return self.by_id.get(attempt_id)

    def on_event(self, event: ev.Event) -> DialerInput | None:
        """The dialer input ``event`` means for one of our attempts, if any."""
        call_id = getattr(event, "call_id", None)
        attempt = self.by_call.get(call_id) if isinstance(call_id, str) else None
        return None if attempt is None else self._report(attempt, event)

    def _report(self, attempt: Attempt, event: ev.Event) -> DialerInput | None:
        aid = attempt.attempt_id
        if isinstance(event, ev.DialAgentConnected):
            attempt.phase = "agent_on_line"
            return AgentReserved(attempt_id=aid, ok=True, agent_id=attempt.agent_id)
        if isinstance(event, ev.CallFailed) and attempt.phase == "dialing" and not event.agent_id:
            attempt.phase = "done"
            return DialResult(attempt_id=aid, outcome=outcome_of(event.status))
        if isinstance(event, ev.CallEstablished) and attempt.phase == "dialing":
            attempt.phase = "answered"
            return DialResult(attempt_id=aid, outcome="answered")
        if isinstance(event, ev.DialCustomerAnswered) and attempt.phase == "dialing":
            attempt.phase = "customer_waiting"
            return DialResult(attempt_id=aid, outcome="answered")
        if isinstance(event, ev.CallEstablished) and attempt.phase == "connecting":
            attempt.phase = "answered"
            return AgentReserved(attempt_id=aid, ok=True, agent_id=event.agent_id)
        if isinstance(event, ev.CallFailed) and attempt.phase == "connecting" and event.agent_id:
            attempt.phase = "customer_waiting"  # the dialer abandons it (message, hang-up)
            return AgentReserved(attempt_id=aid, ok=False)
        if not isinstance(event, ev.CallCleared):
            return None
        self.by_call.pop(attempt.call_id, None)
        self.by_id.pop(aid, None)
        phase, attempt.phase = attempt.phase, "done"
        if phase == "ringing_agent":
            return AgentReserved(attempt_id=aid, ok=False)
        if phase == "answered":
            return CallEnded(attempt_id=aid)
        if phase in ("agent_on_line", "dialing", "customer_waiting", "connecting"):
            return DialResult(attempt_id=aid, outcome="failed")  # hung up before the bridge
        return None
