"""Who may see an event on the desktop push channel (API_CONTRACT.md "Live events").

Supervisors and admins see everything. An agent sees its own events (``agent_id`` is its
id), every event of a call it is on, and queue-level events (a call joined, left or was
abandoned in a queue), never another agent's personal events (their state, their offers).

"A call it is on" is learnt from the events themselves, in feed order: an offer, an agent
leg, an answer or a dial naming the agent puts it on the call; a ring-no-answer, a refused
offer or a failed leg takes it off; ``CallCleared`` ends the call. The verdict is computed
once per event as a ``Scope``, so deciding for one viewer is a set lookup (O(1) per client
per event). The call table is bounded (least recently joined calls go first) so calls whose
end was never seen cannot grow it for ever.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cti_server.events import (
    AgentBusy,
    AgentReserved,
    CallAbandoned,
    CallAlerting,
    CallCleared,
    CallDequeued,
    CallEstablished,
    CallFailed,
    CallOffered,
    CallOriginated,
    CallOverflowed,
    CallQueued,
    OfferDeclined,
    OfferTimedOut,
)

STAFF_ROLES: Final = frozenset({"supervisor", "admin"})
QUEUE_EVENTS: Final = frozenset(
    {CallQueued.name, CallDequeued.name, CallAbandoned.name, CallOverflowed.name}
)
QUEUE_PREFIX: Final = "queue_"  # queue statistics events (queue_stats, ...) are queue-level
# "call_dialed" is the dialer's agent-first call (cti_server/events/dialer.py); wire names
# are stable, so the literal is safe where the class may not be importable yet.
JOINS: Final = frozenset(
    {
        CallOffered.name,
        CallOriginated.name,
        CallAlerting.name,
        CallEstablished.name,
        CallDequeued.name,
        AgentReserved.name,
        AgentBusy.name,
        "call_dialed",
    }
)
LEAVES: Final = frozenset({OfferTimedOut.name, OfferDeclined.name, CallFailed.name})
ENDS: Final = frozenset({CallCleared.name})
DEFAULT_MAX_CALLS: Final = 10_000


class Viewer(Protocol):
    """Whoever holds the connection: the auth package's Principal fits (role, agent_id)."""

    @property
    def role(self) -> str: ...

    @property
    def agent_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """Which agents may see one event; staff always may."""

    everyone: bool = False
    agents: frozenset[str] = frozenset()


STAFF_ONLY: Final = Scope()
EVERYONE: Final = Scope(everyone=True)


def can_see(viewer: Viewer, scope: Scope) -> bool:
    role = viewer.role
    if role in STAFF_ROLES:
        return True
    if role != "agent" or viewer.agent_id is None:
        return False  # an unknown role sees nothing rather than everything
    return scope.everyone or viewer.agent_id in scope.agents


class CallAudience:
    """Feed it every event in order; it answers each event's ``Scope``."""

    def __init__(self, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        self._calls: OrderedDict[str, set[str]] = OrderedDict()
        self._max_calls = max_calls

    def agents_on(self, call_id: str) -> frozenset[str]:
        return frozenset(self._calls.get(call_id, ()))

    def scope(self, name: str, data: Mapping[str, Any]) -> Scope:
        agent = data.get("agent_id") or None
        call = data.get("call_id") or None
        if call is not None and agent is not None and name in JOINS:
            self._join(str(call), str(agent))
        if name.startswith("monitor_"):  # a silent listen must not show on the agent's desk
            scope = STAFF_ONLY
        elif name in QUEUE_EVENTS or name.startswith(QUEUE_PREFIX):
            scope = EVERYONE
        else:
            members = self._calls.get(str(call), ()) if call is not None else ()
            agents = frozenset(members) | ({str(agent)} if agent is not None else set())
            scope = Scope(agents=agents) if agents else STAFF_ONLY
        if call is not None:  # after the verdict: the leaving agent still hears why
            if name in ENDS:
                self._calls.pop(str(call), None)
            elif agent is not None and name in LEAVES:
                self._leave(str(call), str(agent))
        return scope

    def _join(self, call: str, agent: str) -> None:
        members = self._calls.get(call)
        if members is None:
            members = self._calls[call] = set()
            while len(self._calls) > self._max_calls:
                self._calls.popitem(last=False)
        else:
            self._calls.move_to_end(call)
        members.add(agent)

    def _leave(self, call: str, agent: str) -> None:
        members = self._calls.get(call)
        if members is not None:
            members.discard(agent)
            if not members:
                del self._calls[call]
