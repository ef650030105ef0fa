"""The distributor's records: agents (with the statistics strategies sort on) and queued calls.

An ``Agent`` is mutable bookkeeping; its ``view`` is an immutable ``AgentView`` that is
replaced (never edited) whenever a statistic changes. Strategies only ever see views, so a
key computed for a ready agent stays valid for as long as the agent stays ready, which is
what lets a queue keep ready agents in a heap instead of re-scoring them per call.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from acd.agent_state import AgentState, Pending
from acd.protocol import QueueCall

CallKey = tuple[int, float, int, str]  # (-priority, arrived_at, seq, call_id): service order
ArrivalKey = tuple[float, int, str]  # (arrived_at, seq, call_id): the longest wait


@dataclass(frozen=True, slots=True)
class AgentView:
    """What a strategy may know about an agent: identity, skills and counters."""

    agent_id: str
    order: int  # position in the configuration (linear, round robin)
    skills: Mapping[str, int]
    idle_since: float = 0.0  # when they last became ready
    calls_handled: int = 0
    talk_time: float = 0.0
    handle_time: float = 0.0  # talk plus wrap-up, over all handled calls
    offers: int = 0
    offers_answered: int = 0
    last_offer_seq: int = 0  # the distributor-wide offer counter when last offered

    @property
    def answer_rate(self) -> float:
        return self.offers_answered / self.offers if self.offers else 1.0

    @property
    def average_handle_time(self) -> float | None:
        return self.handle_time / self.calls_handled if self.calls_handled else None


@dataclass(slots=True, eq=False)
class Agent:
    agent_id: str
    name: str
    queues: tuple[str, ...]
    remote: bool
    view: AgentView
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    by: str = ""
    since: float = 0.0
    call_id: str | None = None  # the call offered (reserved) or handled (busy, wrap-up)
    call_queue: str | None = None  # the queue that call came from: its wrap-up and AHT
    pending: Pending | None = None
    answered_at: float | None = None
    wrap_started: float | None = None
    last_talk: float = 0.0
    idle_before_offer: float = 0.0  # restored when an offer ends through no fault of theirs
    ready_epoch: int = 0  # bumped on every entry to READY: stale heap entries are skipped


class CallStatus(enum.Enum):
    WAITING = "waiting"  # the group may take it
    DESIGNATED = "designated"  # only the designated agent may, until designated_wait ends
    OFFERED = "offered"  # ringing one agent (several under ring-all)


@dataclass(slots=True, eq=False)
class WaitingCall:
    info: QueueCall
    seq: int
    arrived_at: float  # first arrival in the ACD: kept across overflows, for fairness
    queue: str = ""
    joined_at: float = 0.0  # arrival in the current queue: its max_wait counts from here
    required: dict[str, int] = field(default_factory=dict)  # queue and call skill minimums
    status: CallStatus = CallStatus.WAITING
    designated: str | None = None  # the agent it is reserved for (designated phase)
    offered_to: list[str] = field(default_factory=list)
    offered_at: float = 0.0
    excluded: dict[str, float] = field(default_factory=dict)  # agent -> retry after
    visited: list[str] = field(default_factory=list)

    @property
    def call_id(self) -> str:
        return self.info.call_id

    @property
    def key(self) -> CallKey:
        return (-self.info.priority, self.arrived_at, self.seq, self.info.call_id)

    @property
    def arrival_key(self) -> ArrivalKey:
        return (self.arrived_at, self.seq, self.info.call_id)


def required_skills(queue: Mapping[str, int], call: Mapping[str, int]) -> dict[str, int]:
    """The skill minimums a call needs in a queue: the stricter of the two per skill."""
    merged = dict(queue)
    for skill, level in call.items():
        merged[skill] = max(merged.get(skill, 0), level)
    return merged


def qualifies(skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in required.items())


K = TypeVar("K", bound=tuple[Any, ...])


class SortedKeys(Generic[K]):
    """A sorted list of unique tuple keys: O(log n) rank, insert/remove by memmove.

    Queues hold at most a few thousand calls, where a flat list beats a balanced tree."""

    __slots__ = ("_keys",)

    def __init__(self) -> None:
        self._keys: list[K] = []

    def add(self, key: K) -> None:
        insort(self._keys, key)

    def discard(self, key: K) -> None:
        keys = self._keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]

    def rank(self, key: K) -> int:
        return bisect_left(self._keys, key)

    def __getitem__(self, index: int) -> K:
        return self._keys[index]

    def first(self) -> K | None:
        return self._keys[0] if self._keys else None

    def __contains__(self, key: K) -> bool:
        i = bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)
