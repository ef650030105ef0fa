"""The dialer's records: a work item's state table, the campaign state table, and backoff.

Theory of operation. An item is WAITING until it is due, inside its calling hours, and an
agent of its queue is free. Agent-first (callbacks, agent-first campaigns): RESERVE ->
RESERVING while the host finds and rings an agent; AGENT_READY -> DIALING once the agent is
on the line (the customer is dialled only then); RELEASE -> WAITING when no agent came (no
attempt counted: the customer was never called); the customer's answer is BRIDGE ->
CONNECTED. Customer-first (campaign leads): DIAL -> DIALING at once; the answer is
ANSWER -> CONNECTING, where an agent must come within the grace (AGENT_READY -> CONNECTED)
or the call is abandoned (ABANDON -> WAITING, for a later attempt). A busy, unanswered or
failed dial is RETRY -> WAITING. Completion, giving up and cancellation remove the item from
any state, so they are not in the table. Anything else raises ``IllegalDialTransition``
naming the state and the step: the host broke the protocol (``AgentReserved`` while the
customer rings, a second answer), which is not a race: races carry stale attempt ids and
are ignored before the table is consulted.

Campaigns: STOPPED -start-> RUNNING -pause-> PAUSED -resume-> RUNNING; stop from RUNNING or
PAUSED. Another command raises ``IllegalCampaignCommand``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from acd.dialer_protocol import DialOutcome, WorkItem
from acd.dialer_settings import DialPolicy, RetrySettings
from acd.errors import AcdError


class ItemState(enum.Enum):
    WAITING = "waiting"
    RESERVING = "reserving"
    DIALING = "dialing"
    CONNECTING = "connecting"
    CONNECTED = "connected"


class Step(enum.Enum):
    RESERVE = "reserve"
    DIAL = "dial"
    AGENT_READY = "agent_ready"
    RELEASE = "release"
    ANSWER = "answer"
    BRIDGE = "bridge"
    ABANDON = "abandon"
    RETRY = "retry"


S, T = ItemState, Step
ITEM_TRANSITIONS: Final[dict[ItemState, dict[Step, ItemState]]] = {
    S.WAITING: {T.RESERVE: S.RESERVING, T.DIAL: S.DIALING},
    S.RESERVING: {T.AGENT_READY: S.DIALING, T.RELEASE: S.WAITING},
    S.DIALING: {
        T.ANSWER: S.CONNECTING,
        T.BRIDGE: S.CONNECTED,
        T.ABANDON: S.WAITING,
        T.RETRY: S.WAITING,
    },
    S.CONNECTING: {T.AGENT_READY: S.CONNECTED, T.ABANDON: S.WAITING},
    S.CONNECTED: {},  # the call's end removes the item
}
ACTIVE: Final = frozenset({S.RESERVING, S.DIALING, S.CONNECTING, S.CONNECTED})
LINES: Final = frozenset({S.DIALING, S.CONNECTING})  # a customer leg is up
del S, T


class CampaignState(enum.Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


CAMPAIGN_TRANSITIONS: Final[dict[CampaignState, dict[str, CampaignState]]] = {
    CampaignState.STOPPED: {"start": CampaignState.RUNNING},
    CampaignState.RUNNING: {"pause": CampaignState.PAUSED, "stop": CampaignState.STOPPED},
    CampaignState.PAUSED: {"resume": CampaignState.RUNNING, "stop": CampaignState.STOPPED},
}


class IllegalDialTransition(AcdError, RuntimeError):
    def __init__(self, item_id: str, state: ItemState, step: Step) -> None:
        super().__init__(f"dialer item {item_id}: {step.value!r} is not allowed in {state.value!r}")
        self.item_id = item_id
        self.state = state
        self.step = step


class IllegalCampaignCommand(AcdError, RuntimeError):
    def __init__(self, campaign: str, state: CampaignState, command: str) -> None:
        super().__init__(f"campaign {campaign}: {command!r} is not allowed when {state.value!r}")
        self.campaign = campaign
        self.state = state
        self.command = command


class UnknownCampaignError(AcdError, LookupError):
    def __init__(self, campaign: str) -> None:
        super().__init__(f"no dialer campaign {campaign!r}")
        self.campaign = campaign


@dataclass(slots=True)
class Tracked:
    """One item the dialer holds: the stored ``item`` plus what it is doing with it."""

    item: WorkItem
    number: str  # normalized
    target: str  # "queue:NAME" (callbacks) or "campaign:NAME" (leads)
    queue: str
    campaign: str
    policy: DialPolicy
    customer_first: bool
    seq: int
    attempts: int
    due_at: float
    state: ItemState = ItemState.WAITING
    attempt_id: str | None = None
    agent_id: str | None = None
    answered_at: float = 0.0
    hold_until: float = 0.0  # no new reservation before (after no agent was found)
    ready: bool = False  # in its target's ready line

    def apply(self, step: Step) -> None:
        target = ITEM_TRANSITIONS[self.state].get(step)
        if target is None:
            raise IllegalDialTransition(self.item.id, self.state, step)
        self.state = target


def campaign_next(campaign: str, state: CampaignState, command: str) -> CampaignState:
    target = CAMPAIGN_TRANSITIONS[state].get(command)
    if target is None:
        raise IllegalCampaignCommand(campaign, state, command)
    return target


def retry_delay(retry: RetrySettings, outcome: DialOutcome, attempts: int) -> float:
    """Seconds before the next attempt after the ``attempts``-th ended with ``outcome``."""
    base = {
        "busy": retry.busy,
        "no_answer": retry.no_answer,
        "abandoned": retry.abandoned,
    }.get(outcome, retry.failed)
    grown = base * retry.factor ** max(0, attempts - 1)
    return max(base, min(grown, retry.max_delay))
