"""The dialer's domain events, for metrics and the desktop push.

Frozen, keyword-only ``cti_server.events.Event`` subclasses with a stable wire ``name``, so
``to_json``/``from_json`` already handle them; numbers are not in them (the item
ids lead to the store, which has them), except in ``CallDialed``, which opens the call's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cti_server.events.base import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDialed(Event):
    """The server placed a call for the dialer: a callback or a campaign lead (it opens the
    call record, as ``CallDelivered`` does for an inbound call). Agent-first: ``agent_id``'s
    phone rings first, then ``number``."""

    name: ClassVar[str] = "call_dialed"
    call_id: str
    number: str
    queue: str
    kind: str  # callback | lead
    item_id: str
    attempt_id: str
    agent_id: str | None = None
    customer_id: str | None = None
    campaign: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DialAgentConnected(Event):
    """Agent-first: the agent answered their phone for the attempt; the customer is next."""

    name: ClassVar[str] = "dial_agent_connected"
    call_id: str
    attempt_id: str
    agent_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialCustomerAnswered(Event):
    """Customer first: the customer answered; an agent must take them within the grace."""

    name: ClassVar[str] = "dial_customer_answered"
    call_id: str
    attempt_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackDialed(Event):
    name: ClassVar[str] = "callback_dialed"
    callback_id: str
    attempt_id: str
    queue: str
    attempt: int
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadDialed(Event):
    name: ClassVar[str] = "lead_dialed"
    lead_id: str
    attempt_id: str
    campaign: str
    queue: str
    attempt: int
    level: float
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackCompleted(Event):
    """The customer answered and talks to ``agent_id``: the request is done."""

    name: ClassVar[str] = "callback_completed"
    callback_id: str
    attempt_id: str
    queue: str
    attempts: int
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadCompleted(Event):
    name: ClassVar[str] = "lead_completed"
    lead_id: str
    attempt_id: str
    campaign: str
    attempts: int
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundCallEnded(Event):
    """A dialer call that reached an agent ended, with the agent's disposition."""

    name: ClassVar[str] = "outbound_call_ended"
    attempt_id: str
    item_id: str
    kind: str
    disposition: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialRescheduled(Event):
    name: ClassVar[str] = "dial_rescheduled"
    item_id: str
    kind: str
    reason: str
    due_at: float
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DialGaveUp(Event):
    name: ClassVar[str] = "dial_gave_up"
    item_id: str
    kind: str
    reason: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DialAbandoned(Event):
    """A live answer got no agent within the grace (a drop, counted in the abandon rate)."""

    name: ClassVar[str] = "dial_abandoned"
    attempt_id: str
    item_id: str
    campaign: str
    queue: str
    waited: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingChanged(Event):
    name: ClassVar[str] = "pacing_changed"
    campaign: str
    level: float
    previous: float
    abandon_rate: float | None
    live: int
    abandoned: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStateChanged(Event):
    name: ClassVar[str] = "campaign_state_changed"
    campaign: str
    state: str
    previous: str
    by: str = ""
