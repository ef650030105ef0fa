"""What the dialer is fed and what it asks for: the contract between the dialer and its host.

The dialer (``acd.dialer.Dialer``) is sans-IO. The host feeds it work items (callbacks due,
campaign leads), call outcomes and agent reservations with ``now`` (POSIX seconds), executes
the actions it returns in order, and publishes the events of ``drain_events()``. It reads the
ACD through ``AgentPool`` at every decision pass and never owns agents.

Durability: ``MarkDialing`` always comes before the ``Dial`` of the same attempt in one
action list; the host commits it (status ``dialing``, ``attempts``) before the INVITE leaves.
At start-up the items the store still has in ``dialing`` come back as ``Recovered``: that
attempt counts as failed and the item is rescheduled after its backoff, never redialled at once.

Attempt ids are fresh per attempt (and per agent reservation), so a late report about an
old attempt is recognised and ignored; a late ``AgentReserved(ok=True)`` gets ``ReleaseAgent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from acd.dialer_settings import CampaignSettings

ItemKind = Literal["callback", "lead"]
DialOutcome = Literal["answered", "busy", "no_answer", "failed", "rejected", "abandoned"]
CampaignCommandName = Literal["start", "pause", "resume", "stop"]
RescheduleReason = Literal["busy", "no_answer", "failed", "abandoned", "recovered", "calling_hours"]
GiveUpReason = Literal["max_attempts", "dnc", "invalid_number"]
HangUpReason = Literal["abandoned", "cancelled", "timeout"]


class AgentPool(Protocol):
    """A read-only view of the ACD for one queue, read at every decision pass.

    ``free_agents``: agents ready for ``queue`` now (not ringing, talking or in wrap-up); an
    agent the host reserved for the dialer is no longer free. ``inbound_waiting``: (inbound
    callers waiting in the queue, the longest wait in seconds). ``service_level``: the
    queue's recent service level as a fraction, None when unknown (not checked).
    """

    def free_agents(self, queue: str) -> Sequence[str]: ...

    def inbound_waiting(self, queue: str) -> tuple[int, float]: ...

    def service_level(self, queue: str) -> float | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem:
    """A callback request or a campaign lead, as the store has it.

    ``attempts``: attempts already made (for a ``Recovered`` item, including the one that
    was interrupted: ``MarkDialing`` stored it). ``time_zone``: the customer's IANA zone.
    ``queue``: a callback's queue (a lead's queue comes from its campaign). ``note``: what the
    agent is told about the customer before the dial (agent-first).
    """

    id: str
    kind: ItemKind
    number: str
    due_at: float
    queue: str = ""
    campaign: str = ""
    attempts: int = 0
    time_zone: str | None = None
    customer_id: str | None = None
    note: str = ""


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackDue:
    """A pending callback request (due now or later): the dialer keeps it until it ends."""

    item: WorkItem


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadsLoaded:
    """Pending leads of campaigns (the host pages them in from the store)."""

    items: tuple[WorkItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemCancelled:
    """The request was cancelled (the customer called again, a supervisor removed it)."""

    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentsChanged:
    """The ACD's agents or waiting callers changed: run a decision pass now."""

    queue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentReserved:
    """The answer to ``ReserveAgent``: ``ok`` with the agent connected, or no agent."""

    attempt_id: str
    ok: bool
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DialResult:
    """How the customer leg ended up. Suggested SIP mapping: 200 answered; 486/600/603 busy;
    480/408/487 after ``timeout`` no_answer; 404/484/604 rejected (the number is invalid);
    other failures failed; ``abandoned``: the host dropped a live answer itself."""

    attempt_id: str
    outcome: DialOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded:
    """The conversation (or the customer leg) ended; ``disposition`` is the agent's wrap-up."""

    attempt_id: str
    disposition: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignCommand:
    campaign: str
    command: CampaignCommandName
    by: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignDefined:
    """A campaign created (or changed) at run time, e.g. from a CSV through the API or CLI.
    A new one starts stopped; a known one keeps its state, pacing level and calls."""

    settings: CampaignSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovered:
    """At start-up: items the store left in ``dialing`` (the process died mid-attempt)."""

    items: tuple[WorkItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DncUpdated:
    """Numbers added to or removed from the do-not-call list (any format)."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


DialerInput = (
    CallbackDue
    | LeadsLoaded
    | ItemCancelled
    | AgentsChanged
    | AgentReserved
    | DialResult
    | CallEnded
    | CampaignCommand
    | CampaignDefined
    | Recovered
    | DncUpdated
)

# --- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReserveAgent:
    """Find an agent of ``queue`` through the ACD and connect them to this attempt, then
    answer ``AgentReserved``. Agent-first (``customer_first`` False): ring the agent with
    the item shown (screen pop, whisper), within ``timeout``. Customer-first: the customer
    is already on the line; bridge them to a free agent within ``timeout`` (2 s)."""

    attempt_id: str
    queue: str
    item: WorkItem
    customer_first: bool
    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseAgent:
    """Free whatever agent is held or sought for this attempt (no-op when none)."""

    attempt_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkDialing:
    """Commit durably, before the ``Dial`` that follows: status ``dialing``, ``attempts``
    (including this one), last attempt at now."""

    attempt_id: str
    item_id: str
    kind: ItemKind
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial:
    """Call the customer (``number`` normalized) with ``caller_id`` ('' = the trunk's);
    give up ringing after ``timeout`` (then ``DialResult(no_answer)``). Agent-first: bridge
    to ``agent_id``'s leg when answered."""

    attempt_id: str
    item_id: str
    kind: ItemKind
    number: str
    caller_id: str
    queue: str
    campaign: str
    customer_first: bool
    agent_id: str | None
    timeout: float
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUpCustomer:
    """End the customer leg of the attempt. ``abandoned``: play the abandon message (who
    called and why) first, as Ofcom requires of a dropped call."""

    attempt_id: str
    reason: HangUpReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Reschedule:
    """Store: status ``pending``, ``due_at`` (POSIX seconds), ``attempts``."""

    item_id: str
    kind: ItemKind
    due_at: float
    attempts: int
    reason: RescheduleReason


@dataclass(frozen=True, slots=True, kw_only=True)
class Complete:
    """Store: status ``done`` (the customer is talking to an agent)."""

    item_id: str
    kind: ItemKind
    outcome: str = "answered"


@dataclass(frozen=True, slots=True, kw_only=True)
class GiveUp:
    """Store: status ``failed`` with ``reason``."""

    item_id: str
    kind: ItemKind
    reason: GiveUpReason
    attempts: int


DialerAction = (
    ReserveAgent
    | ReleaseAgent
    | MarkDialing
    | Dial
    | HangUpCustomer
    | Reschedule
    | Complete
    | GiveUp
)
