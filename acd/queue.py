"""One queue's indexes: its calls in service order, its ready agents, its handle-time history.

Service order is priority (higher first), then first arrival in the ACD (FIFO; a call that
overflowed here keeps its original arrival), then a sequence number. ``calls`` holds every
call in the queue (for position and length), ``available`` only those the group may take now
(not ringing, not reserved for a designated agent), ``arrivals`` orders them by age for the
longest wait.

Ready agents are a dict (iterated for scanning strategies) plus, for indexable strategies, a
lazy heap of ``(key, epoch, agent_id)``: an entry is live while the agent is still ready in
the same epoch; dead entries are dropped when they surface, and the heap is rebuilt when it
grows past twice the ready count. Round robin keeps the ready agents sorted by configuration
order instead and walks from the rotation point. So picking an agent is O(log n) (plus the
agents skipped for lacking skills) for all but random, and skills based for a call needing
more than the queue's skills, which score this queue's ready agents; nothing scans all agents.

Estimated wait (EWT) of a caller at ``position``: 0 when that many agents are ready, unknown
(None) when no agent of the queue is staffed (ready, reserved, busy or in wrap-up), else
``position * AHT / staffed``: every staffed agent frees up once per AHT on average. AHT is the
mean handle time (talk + wrap-up) of the queue's last ``AHT_WINDOW`` calls, ``DEFAULT_AHT``
seconds until there is a first one.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Final

from acd.agent_state import AgentState
from acd.model import Agent, ArrivalKey, CallKey, SortedKeys, WaitingCall
from acd.protocol import QueueCall
from acd.settings import QueueSettings
from acd.strategies import RouteContext, SortKey, Strategy

DEFAULT_AHT: Final = 180.0
AHT_WINDOW: Final = 100
_STAFFED: Final = (AgentState.READY, AgentState.RESERVED, AgentState.BUSY, AgentState.WRAP_UP)


class QueueState:
    def __init__(
        self, settings: QueueSettings, strategy: Strategy, members: list[str], population: int
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.strategy = strategy
        self.members = tuple(members)
        self.population = max(population, 1)
        self.counts: dict[AgentState, int] = dict.fromkeys(AgentState, 0)
        self.counts[AgentState.LOGGED_OUT] = len(members)
        self.ready: dict[str, Agent] = {}
        self._heap: list[tuple[SortKey, int, str]] = []
        self._by_order: SortedKeys[tuple[int, str]] = SortedKeys()  # round robin
        self._skills = dict(settings.skills)
        self.calls: SortedKeys[CallKey] = SortedKeys()
        self.available: SortedKeys[CallKey] = SortedKeys()
        self.arrivals: SortedKeys[ArrivalKey] = SortedKeys()
        self.rotation = -1
        self._handle_times: deque[float] = deque(maxlen=AHT_WINDOW)
        self._handle_sum = 0.0
        self._static = RouteContext(
            queue=settings,
            call=QueueCall(call_id="", queue=settings.name),
            required=self._skills,
            now=0.0,
            rotation=-1,
            population=self.population,
            draw=0,
            aht=DEFAULT_AHT,
        )

    # --- agents -------------------------------------------------------------------------

    @property
    def logged_in(self) -> int:
        return len(self.members) - self.counts[AgentState.LOGGED_OUT]

    @property
    def staffed(self) -> int:
        return sum(self.counts[s] for s in _STAFFED)

    def agent_moved(self, agent: Agent, old: AgentState, new: AgentState) -> None:
        """Keep counters and the ready index in step with one member's state change."""
        self.counts[old] -= 1
        self.counts[new] += 1
        if old is AgentState.READY and new is not AgentState.READY:
            del self.ready[agent.agent_id]
            if self.strategy.rotating:
                self._by_order.discard((agent.view.order, agent.agent_id))
            if len(self._heap) > 2 * len(self.ready) + 64:
                self._rebuild_heap()
        elif new is AgentState.READY and old is not AgentState.READY:
            self.ready[agent.agent_id] = agent
            if self.strategy.rotating:
                self._by_order.add((agent.view.order, agent.agent_id))
            if self.strategy.indexable:
                entry = (self.strategy.key(agent.view, self._static), agent.ready_epoch)
                heapq.heappush(self._heap, (*entry, agent.agent_id))

    def _rebuild_heap(self) -> None:
        if not self.strategy.indexable:
            return
        key, ctx = self.strategy.key, self._static
        self._heap = [(key(a.view, ctx), a.ready_epoch, a.agent_id) for a in self.ready.values()]
        heapq.heapify(self._heap)

    @staticmethod
    def can_take(agent: Agent, call: WaitingCall, now: float) -> bool:
        """Skills reach every minimum, and the agent is not in a retry pause for this call."""
        required = call.required
        if required:
            skills = agent.view.skills
            for skill, level in required.items():
                if skills.get(skill, 0) < level:
                    return False
        if call.excluded:
            until = call.excluded.get(agent.agent_id)
            if until is not None and until > now:
                return False
        return True

    def pick(self, call: WaitingCall, count: int, now: float, draw: int) -> list[Agent]:
        """Up to ``count`` ready agents for ``call``, best first by the queue's strategy."""
        if not self.ready:
            return []
        strategy = self.strategy
        if strategy.rotating:
            return self._pick_rotating(call, count, now)
        if strategy.indexable and (not strategy.reads_skills or call.required == self._skills):
            return self._pick_indexed(call, count, now)
        ctx = RouteContext(
            queue=self.settings,
            call=call.info,
            required=call.required,
            now=now,
            rotation=self.rotation,
            population=self.population,
            draw=draw,
            aht=self.aht(),
        )
        key, can_take = self.strategy.key, self.can_take
        if count == 1:
            best: Agent | None = None
            best_key: SortKey = ()
            for agent in self.ready.values():
                if can_take(agent, call, now):
                    k = key(agent.view, ctx)
                    if best is None or k < best_key:
                        best, best_key = agent, k
            return [] if best is None else [best]
        scored = [(key(a.view, ctx), a) for a in self.ready.values() if can_take(a, call, now)]
        return [a for _, a in heapq.nsmallest(count, scored, key=lambda pair: pair[0])]

    def _pick_indexed(self, call: WaitingCall, count: int, now: float) -> list[Agent]:
        heap, ready = self._heap, self.ready
        chosen: list[Agent] = []
        held: list[tuple[SortKey, int, str]] = []
        while heap and len(chosen) < count:
            entry = heapq.heappop(heap)
            agent = ready.get(entry[2])
            if agent is None or agent.ready_epoch != entry[1]:
                continue  # stale: the agent left READY since
            if self.can_take(agent, call, now):
                chosen.append(agent)  # about to be reserved: its entry stays popped
            else:
                held.append(entry)
        for entry in held:
            heapq.heappush(heap, entry)
        return chosen

    def _pick_rotating(self, call: WaitingCall, count: int, now: float) -> list[Agent]:
        """Round robin without scoring everyone: the first ready agents by configuration
        order after the last one offered, wrapping around (what ``round_robin`` sorts)."""
        index, ready = self._by_order, self.ready
        size = len(index)
        start = index.rank((self.rotation + 1, ""))
        chosen: list[Agent] = []
        for step in range(size):
            agent = ready[index[(start + step) % size][1]]
            if self.can_take(agent, call, now):
                chosen.append(agent)
                if len(chosen) == count:
                    break
        return chosen

    def first_call_for(
        self, agent: Agent, calls: dict[str, WaitingCall], now: float
    ) -> WaitingCall | None:
        """The first call in service order this agent may take."""
        for key in self.available:
            call = calls[key[3]]
            if self.can_take(agent, call, now):
                return call
        return None

    # --- calls --------------------------------------------------------------------------

    def add_call(self, call: WaitingCall) -> None:
        self.calls.add(call.key)
        self.arrivals.add(call.arrival_key)

    def remove_call(self, call: WaitingCall) -> None:
        key = call.key
        self.calls.discard(key)
        self.available.discard(key)
        self.arrivals.discard(call.arrival_key)

    def position(self, call: WaitingCall) -> int:
        return self.calls.rank(call.key) + 1

    def oldest_arrival(self) -> float | None:
        first = self.arrivals.first()
        return None if first is None else first[0]

    # --- handle time and estimated wait -------------------------------------------------

    def record_handle_time(self, seconds: float) -> None:
        times = self._handle_times
        if len(times) == times.maxlen:
            self._handle_sum -= times[0]
        times.append(seconds)
        self._handle_sum += seconds

    def handle_times(self) -> list[float]:
        return list(self._handle_times)

    def aht(self) -> float:
        times = self._handle_times
        return self._handle_sum / len(times) if times else DEFAULT_AHT

    def ewt(self, position: int) -> float | None:
        if position <= len(self.ready):
            return 0.0
        staffed = self.staffed
        if staffed == 0:
            return None
        return position * self.aht() / staffed
