"""ACD strategies: each is a sort key over an agent snapshot; the lowest key gets the call.

A strategy only matters when several agents are ready for one call; when an agent frees up
and calls wait, the agent takes the best waiting call (see ``acd.distributor``). Keys are
tuples ending in the agent's configuration ``order``, so ties are broken the same way every
time. Agents lacking a required skill level never reach a key function.

``indexable`` strategies read nothing but the agent's own counters (and the queue's own skill
minimums), which only change while the agent is not ready: a queue keeps its ready agents in
a heap by such a key and picks in O(log n). Round robin walks a by-order index from the
rotation point. Only random (a fresh draw per decision), and skills based for a call that
needs skills beyond its queue's, are computed over the queue's ready agents per call.

Equalized (load levelling by performance). For each agent::

    answer_rate = (offers_answered + 1) / (offers + 1)        # Laplace-smoothed, new -> 1.0
    relative_aht = agent_aht / queue_aht                       # 1.0 without history
    load = calls_handled * relative_aht / max(answer_rate, 0.25)
    key = (load, idle_since, order)

``calls_handled * relative_aht`` is the time the agent has already worked in units of the
queue's average call, so a slow agent is not handed as many calls as a fast one (which is
what fewest_calls does, keeping the slow agent permanently on the phone). Dividing by the
answer rate charges an agent for the offers they let ring: an agent who misses half their
offers has already had twice the rings their answered calls show, so they are offered fewer.
The floor stops a bad spell from excluding an agent entirely. ``queue_aht`` is the same for
every candidate of one decision, so the key computes ``handle_time / max(answer_rate, 0.25)``
(seconds), which depends on the agent alone: equalized is indexable. Ties: longest idle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from acd.errors import AcdError
from acd.model import AgentView
from acd.protocol import QueueCall
from acd.settings import AcdSettings, QueueSettings

SortKey = tuple[float, ...]
ANSWER_RATE_FLOOR: Final = 0.25
_MASK: Final = (1 << 64) - 1
_GOLDEN: Final = 0x9E3779B97F4A7C15  # odd: multiplying by it permutes 64-bit integers


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What a key may know besides the agent: the queue, the call and the moment."""

    queue: QueueSettings
    call: QueueCall
    required: Mapping[str, int]  # skill minimums of the call in this queue
    now: float
    rotation: int  # order of the agent this queue offered last (-1: none yet)
    population: int  # number of configured agents (orders are 0..population-1)
    draw: int  # 64 random bits, drawn per decision from the injected Random
    aht: float  # the queue's average handle time


KeyFunction = Callable[[AgentView, RouteContext], SortKey]


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    key: KeyFunction
    summary: str
    indexable: bool = False  # the key reads only the agent and the queue: per-queue heap
    reads_skills: bool = False  # indexable only for calls needing just the queue's skills
    rotating: bool = False  # round robin: served from a by-order index
    ring_all: bool = False  # offer to up to ring_all_limit agents at once
    uses_draw: bool = False


class UnknownStrategyError(AcdError, ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        known = ", ".join(sorted(STRATEGIES))
        parts = [f"queue {queue!r}: unknown strategy {name!r}" for queue, name in problems]
        super().__init__(f"{'; '.join(parts)} (known strategies: {known})")
        self.problems = problems


def longest_idle(agent: AgentView, ctx: RouteContext) -> SortKey:
    return (agent.idle_since, agent.order)


def fewest_calls(agent: AgentView, ctx: RouteContext) -> SortKey:
    return (agent.calls_handled, agent.idle_since, agent.order)


def least_talk_time(agent: AgentView, ctx: RouteContext) -> SortKey:
    return (agent.talk_time, agent.idle_since, agent.order)


def linear(agent: AgentView, ctx: RouteContext) -> SortKey:
    return (agent.order,)


def round_robin(agent: AgentView, ctx: RouteContext) -> SortKey:
    """The first agent after the one this queue offered last, in configuration order."""
    return ((agent.order - ctx.rotation - 1) % ctx.population,)


def random_order(agent: AgentView, ctx: RouteContext) -> SortKey:
    """A fresh permutation per decision: multiplicative hash of the order salted with the
    draw (xor then multiply by an odd constant is a bijection; the high bits decide)."""
    return (((agent.order ^ ctx.draw) * _GOLDEN) & _MASK, agent.order)


def equalized(agent: AgentView, ctx: RouteContext) -> SortKey:
    """Worked seconds, inflated by missed offers (see the module docstring)."""
    answer_rate = (agent.offers_answered + 1) / (agent.offers + 1)
    load = agent.handle_time / max(answer_rate, ANSWER_RATE_FLOOR)
    return (load, agent.idle_since, agent.order)


def skills_based(agent: AgentView, ctx: RouteContext) -> SortKey:
    """Highest total level in the skills the call needs first, then longest idle."""
    skills = agent.skills
    level = sum(skills.get(skill, 0) for skill in ctx.required)
    return (-level, agent.idle_since, agent.order)


STRATEGIES: Final[dict[str, Strategy]] = {
    s.name: s
    for s in (
        Strategy("longest_idle", longest_idle, "the agent ready the longest", indexable=True),
        Strategy("fewest_calls", fewest_calls, "fewest calls handled", indexable=True),
        Strategy("least_talk_time", least_talk_time, "least talk time", indexable=True),
        Strategy("linear", linear, "always in configuration order", indexable=True),
        Strategy(
            "round_robin", round_robin, "the next agent after the last one offered", rotating=True
        ),
        Strategy("random", random_order, "a random ready agent", uses_draw=True),
        Strategy(
            "ring_all",
            longest_idle,
            "up to ring_all_limit agents at once, longest idle first",
            indexable=True,
            ring_all=True,
        ),
        Strategy(
            "equalized",
            equalized,
            "levels the load by handle time and answer rate",
            indexable=True,
        ),
        Strategy(
            "skills_based",
            skills_based,
            "highest matching skill level, then idle",
            indexable=True,
            reads_skills=True,
        ),
    )
}


def strategy_for(queue: QueueSettings) -> Strategy:
    found = STRATEGIES.get(queue.strategy)
    if found is None:
        raise UnknownStrategyError([(queue.name, queue.strategy)])
    return found


def validate_strategies(settings: AcdSettings) -> None:
    """Call at config load: every queue names a known strategy, or one error lists them all."""
    problems = [(q.name, q.strategy) for q in settings.queues if q.strategy not in STRATEGIES]
    if problems:
        raise UnknownStrategyError(problems)
