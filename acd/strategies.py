"""ACD strategies: each is a sort key over an agent snapshot; the lowest key gets the call.

A strategy only matters when several agents are ready for one call; when an agent frees up
and calls wait, the agent takes the best waiting call (see ``acd.distributor``). Keys are
tuples ending in the agent's configuration ``order``, so ties are broken the same way every
time. Agents lacking a required skill level never reach a key function.

``indexable`` strategies read nothing but the agent's own counters, which only change while
the agent is not ready: a queue keeps its ready agents in a heap by such a key. The others
(round robin, random, equalized, skills based) depend on the call or the moment and are
computed over the queue's ready agents when a call needs one.

Equalized (load levelling by performance). For each agent::

    answer_rate = (offers_answered + 1) / (offers + 1)        # Laplace-smoothed, new -> 1.0
    relative_aht = clamp(agent_aht / queue_aht, 0.5, 2.0)      # 1.0 without history
    load = calls_handled * relative_aht / max(answer_rate, 0.25)
    key = (load, idle_since, order)

``calls_handled * relative_aht`` estimates the time the agent has already worked in units of
the queue's average call, so a slow agent is not handed as many calls as a fast one (which
is what fewest_calls does, keeping the slow agent permanently on the phone). Dividing by the
answer rate charges an agent for the offers they let ring: an agent who misses half their
offers already received twice the rings their answered calls show, so they are offered
fewer. The floor and the clamp stop one bad hour from excluding an agent entirely. Ties fall
back to longest idle.
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
RELATIVE_AHT_BOUNDS: Final = (0.5, 2.0)
_MASK: Final = (1 << 64) - 1


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
    indexable: bool = False  # the key ignores the context: kept in a per-queue heap
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
    """A fresh permutation per decision: splitmix64 of the order salted with the draw."""
    return (_splitmix64(agent.order ^ ctx.draw), agent.order)


def equalized(agent: AgentView, ctx: RouteContext) -> SortKey:
    answer_rate = (agent.offers_answered + 1) / (agent.offers + 1)
    relative = 1.0
    if agent.calls_handled and ctx.aht > 0:
        low, high = RELATIVE_AHT_BOUNDS
        relative = min(max(agent.handle_time / agent.calls_handled / ctx.aht, low), high)
    load = agent.calls_handled * relative / max(answer_rate, ANSWER_RATE_FLOOR)
    return (load, agent.idle_since, agent.order)


def skills_based(agent: AgentView, ctx: RouteContext) -> SortKey:
    """Highest total level in the skills the call needs first, then longest idle."""
    skills = agent.skills
    level = sum(skills.get(skill, 0) for skill in ctx.required)
    return (-level, agent.idle_since, agent.order)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


STRATEGIES: Final[dict[str, Strategy]] = {
    s.name: s
    for s in (
        Strategy("longest_idle", longest_idle, "the agent ready the longest", indexable=True),
        Strategy("fewest_calls", fewest_calls, "fewest calls handled", indexable=True),
        Strategy("least_talk_time", least_talk_time, "least talk time", indexable=True),
        Strategy("linear", linear, "always in configuration order", indexable=True),
        Strategy("round_robin", round_robin, "the next agent after the last one offered"),
        Strategy("random", random_order, "a random ready agent", uses_draw=True),
        Strategy(
            "ring_all",
            longest_idle,
            "up to ring_all_limit agents at once, longest idle first",
            indexable=True,
            ring_all=True,
        ),
        Strategy("equalized", equalized, "levels the load by handle time and answer rate"),
        Strategy("skills_based", skills_based, "highest matching skill level, then idle"),
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
