"""Each strategy picks the agent it promises, over the distributor on a fake clock."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import STRATEGIES, Distributor, UnknownStrategyError, validate_strategies
from acd.agent_state import AgentState
from acd.model import Agent, AgentView, WaitingCall, required_skills
from acd.protocol import (
    AcdInput,
    AgentCallEnded,
    AgentLogin,
    Offer,
    OfferAnswered,
    QueueCall,
)
from acd.queue import QueueState
from acd.settings import QueueSettings
from acd.strategies import RouteContext, equalized
from cti_server import events as ev
from tests.unit.acd.harness import Acd
from tests.unit.acd.harness import settings as acd_settings


def team(strategy: str, n: int = 4, **queue: object) -> Acd:
    q = {"name": "q", "strategy": strategy, "wrap_up": 0, "announce_every": None, **queue}
    return Acd(acd_settings([q], [{"id": f"a{i}", "queues": ["q"]} for i in range(n)]))


def login(a: Acd, *agents: str, gap: float = 1.0) -> None:
    for agent in agents:
        a.feed(AgentLogin(agent_id=agent), after=gap)


def serve(a: Acd, call_id: str, talk: float = 30.0) -> str:
    """Queue a call, let the offered agent answer and finish it; return that agent."""
    a.feed(QueueCall(call_id=call_id, queue="q"), after=1)
    [(_, agent)] = a.offers()
    a.feed(OfferAnswered(call_id=call_id, agent_id=agent), after=1)
    a.feed(AgentCallEnded(call_id=call_id, agent_id=agent), after=talk)
    return agent


def offered(a: Acd, call_id: str) -> list[str]:
    a.feed(QueueCall(call_id=call_id, queue="q"), after=1)
    return [agent for _, agent in a.offers()]


def test_registry_names() -> None:
    assert set(STRATEGIES) == {
        "longest_idle",
        "fewest_calls",
        "least_talk_time",
        "round_robin",
        "random",
        "linear",
        "ring_all",
        "equalized",
        "skills_based",
    }


def test_unknown_strategy_is_a_clear_error_naming_queue_and_known_ones() -> None:
    config = acd_settings(
        [
            {"name": "sales", "strategy": "longest-idle"},
            {"name": "ok"},
            {"name": "x", "strategy": "?"},
        ],
        [],
    )
    with pytest.raises(UnknownStrategyError) as info:
        validate_strategies(config)
    text = str(info.value)
    assert "queue 'sales': unknown strategy 'longest-idle'" in text
    assert "queue 'x': unknown strategy '?'" in text
    assert "longest_idle" in text and "ring_all" in text
    assert info.value.problems == [("sales", "longest-idle"), ("x", "?")]
    with pytest.raises(ValueError, match="longest-idle"):
        Distributor(config, random.Random(0))


def test_longest_idle() -> None:
    a = team("longest_idle")
    login(a, "a2", "a0", "a1")
    assert offered(a, "c1") == ["a2"]
    assert offered(a, "c2") == ["a0"]


def test_longest_idle_counts_from_the_end_of_the_last_call() -> None:
    a = team("longest_idle", n=2)
    login(a, "a0", "a1")
    assert serve(a, "c1") == "a0"  # a0 is ready again, but since later than a1
    assert serve(a, "c2") == "a1"
    assert serve(a, "c3") == "a0"


def test_fewest_calls() -> None:
    a = team("fewest_calls", n=3)
    login(a, "a0")
    serve(a, "c1")
    serve(a, "c2")
    login(a, "a1")
    serve(a, "c3")  # a1: fewer calls
    login(a, "a2")
    assert offered(a, "c4") == ["a2"]  # none handled, although the latest to log in


def test_least_talk_time() -> None:
    a = team("least_talk_time", n=2)
    login(a, "a0", "a1")
    assert serve(a, "c1", talk=300) == "a0"
    assert serve(a, "c2", talk=10) == "a1"
    assert serve(a, "c3", talk=10) == "a1"  # 20 s of talk is still less than 300
    assert serve(a, "c4", talk=400) == "a1"
    assert offered(a, "c5") == ["a0"]


def test_linear_always_starts_from_the_top() -> None:
    a = team("linear")
    login(a, "a3", "a2", "a1", "a0")
    assert [serve(a, f"c{i}") for i in range(3)] == ["a0", "a0", "a0"]
    assert offered(a, "x1") == ["a0"] and offered(a, "x2") == ["a1"]


def test_round_robin_remembers_where_it_left_off() -> None:
    a = team("round_robin")
    login(a, "a3", "a2", "a1", "a0")  # a3 idle longest: irrelevant to round robin
    assert [serve(a, f"c{i}") for i in range(6)] == ["a0", "a1", "a2", "a3", "a0", "a1"]
    a.feed(AgentCallEnded(call_id="none", agent_id="a2"))  # stale: ignored
    login(a)
    from acd.protocol import ChangeAgentState

    a.feed(ChangeAgentState(agent_id="a2", state="not_ready"))
    assert [serve(a, f"d{i}") for i in range(3)] == ["a3", "a0", "a1"]  # skips a2


def test_random_is_seeded_and_spreads_calls() -> None:
    def picks(seed: int) -> list[str]:
        a = Acd(team("random").config, seed=seed)
        login(a, "a0", "a1", "a2", "a3")
        return [serve(a, f"c{i}", talk=1) for i in range(400)]

    first = picks(5)
    assert first == picks(5)
    assert first != picks(6)
    counts = Counter(first)
    assert set(counts) == {"a0", "a1", "a2", "a3"}
    assert all(60 <= n <= 140 for n in counts.values()), counts


def test_skills_based_prefers_the_highest_level_and_never_an_unqualified_agent() -> None:
    q = {"name": "q", "strategy": "skills_based", "wrap_up": 0, "skills": {"ko": 2}}
    agents = [
        {"id": "a0", "queues": ["q"], "skills": {"ko": 5}},
        {"id": "a1", "queues": ["q"], "skills": {"ko": 8, "en": 1}},
        {"id": "a2", "queues": ["q"], "skills": {"ko": 1, "en": 9}},
        {"id": "a3", "queues": ["q"], "skills": {"ko": 8}},
    ]
    a = Acd(acd_settings([q], agents))
    login(a, "a2", "a3", "a1", "a0")
    assert offered(a, "c1") == ["a3"]  # ko 8, idle longer than a1
    assert offered(a, "c2") == ["a1"]
    assert offered(a, "c3") == ["a0"]
    assert offered(a, "c4") == []  # a2 lacks ko >= 2
    a.feed(QueueCall(call_id="c5", queue="q", skills={"en": 5}))
    assert a.offers() == []


def test_a_call_needing_a_skill_waits_for_a_qualified_agent() -> None:
    a = Acd(
        acd_settings(
            [{"name": "q", "wrap_up": 0}],
            [{"id": "a0", "queues": ["q"]}, {"id": "a1", "queues": ["q"], "skills": {"vip": 3}}],
        )
    )
    login(a, "a0")
    a.feed(QueueCall(call_id="c1", queue="q", skills={"vip": 2}))
    assert a.offers() == []
    a.feed(QueueCall(call_id="c2", queue="q"))
    assert a.offers() == [("c2", "a0")]  # the plain call behind it is not blocked
    login(a, "a1")
    assert a.offers() == [("c1", "a1")]


def test_ring_all_rings_up_to_the_limit_and_the_first_answer_wins() -> None:
    a = team("ring_all", n=4, ring_all_limit=3)
    login(a, "a3", "a2", "a1", "a0")
    a.feed(QueueCall(call_id="c1", queue="q"))
    assert a.offers() == [("c1", "a3"), ("c1", "a2"), ("c1", "a1")]
    assert {o.timeout for o in a.actions if isinstance(o, Offer)} == {15.0}
    a.feed(OfferAnswered(call_id="c1", agent_id="a2"), after=2)
    assert sorted(a.withdrawals()) == [
        ("c1", "a1", "answered_elsewhere"),
        ("c1", "a3", "answered_elsewhere"),
    ]
    assert [a.state(x) for x in ("a0", "a1", "a2", "a3")] == ["ready", "ready", "busy", "ready"]
    a.feed(OfferAnswered(call_id="c1", agent_id="a3"))  # too late: ignored
    assert a.state("a3") == "ready" and a.events == []
    [dq] = [e for e in a.all_events if isinstance(e, ev.CallDequeued)]
    assert dq.agent_id == "a2"


def test_ring_all_ring_out_keeps_agents_ready_and_rings_again_after_a_pause() -> None:
    a = team("ring_all", n=2)
    login(a, "a0", "a1")
    a.feed(QueueCall(call_id="c1", queue="q"))
    assert len(a.offers()) == 2
    a.advance(15)
    assert sorted(a.withdrawals()) == [("c1", "a0", "no_answer"), ("c1", "a1", "no_answer")]
    assert a.state("a0") == a.state("a1") == "ready" and a.offers() == []
    a.advance(5)
    assert sorted(a.offers()) == [("c1", "a0"), ("c1", "a1")]


def test_equalized_key_formula() -> None:
    ctx = RouteContext(
        queue=QueueSettings(name="q"),
        call=QueueCall(call_id="c", queue="q"),
        required={},
        now=0.0,
        rotation=-1,
        population=3,
        draw=0,
        aht=100.0,
    )
    base = AgentView(agent_id="x", order=0, skills={}, idle_since=5.0)
    assert equalized(base, ctx) == (0.0, 5.0, 0)
    steady = AgentView(
        agent_id="y",
        order=1,
        skills={},
        calls_handled=10,
        handle_time=1000,
        offers=10,
        offers_answered=10,
    )
    assert equalized(steady, ctx)[0] == pytest.approx(1000.0)  # 10 calls x AHT 100
    slow = AgentView(
        agent_id="z",
        order=2,
        skills={},
        calls_handled=10,
        handle_time=1500,
        offers=10,
        offers_answered=10,
    )
    assert equalized(slow, ctx)[0] == pytest.approx(1500.0)  # 1.5 x as long per call
    missing = AgentView(
        agent_id="w",
        order=3,
        skills={},
        calls_handled=10,
        handle_time=1000,
        offers=21,
        offers_answered=10,
    )
    assert equalized(missing, ctx)[0] == pytest.approx(2000.0)  # answers half: (10+1)/(21+1)
    awful = AgentView(
        agent_id="v",
        order=4,
        skills={},
        calls_handled=10,
        handle_time=99999,
        offers=99,
        offers_answered=0,
    )
    assert equalized(awful, ctx)[0] == pytest.approx(99999 / 0.25)  # the answer-rate floor


def gini(values: Sequence[float]) -> float:
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if total == 0:
        return 0.0
    return sum((2 * i - n + 1) * x for i, x in enumerate(xs)) / (n * total)


def simulate(strategy: str, calls: int = 500, agents: int = 10) -> tuple[list[int], list[float]]:
    """Random arrivals into one queue; agent i talks 60 + 5i s and answers 70-100 %."""
    a = team(strategy, n=agents, no_answer_not_ready=False)
    rng = random.Random(11)
    for i in range(agents):
        a.feed(AgentLogin(agent_id=f"a{i}"))
    todo: list[tuple[float, int, AcdInput]] = []
    t = a.now
    for k in range(calls):
        t += rng.expovariate(1 / 14)
        heapq.heappush(todo, (t, k, QueueCall(call_id=f"c{k}", queue="q")))
    seq = calls
    while todo:
        at, _, item = heapq.heappop(todo)
        a.feed(item, after=max(0.0, at - a.now))
        for call_id, agent in a.offers():
            i = int(agent[1:])
            if rng.random() < 1.0 - 0.03 * i:
                seq += 2
                ans = OfferAnswered(call_id=call_id, agent_id=agent)
                end = AgentCallEnded(call_id=call_id, agent_id=agent)
                heapq.heappush(todo, (a.now + 2, seq, ans))
                heapq.heappush(todo, (a.now + 62 + 5 * i, seq + 1, end))
    a.advance(3600)
    return [int(r["calls_handled"]) for r in a.d.agents()], [
        float(r["talk_time"]) for r in a.d.agents()
    ]


def test_equalized_spreads_the_load_more_evenly_than_linear() -> None:
    linear_counts, linear_talk = simulate("linear")
    equal_counts, equal_talk = simulate("equalized")
    assert sum(linear_counts) == sum(equal_counts) == 500
    # linear: 0.32 / 0.23; equalized: 0.15 / 0.05 (fewer calls to slow or missing agents)
    assert gini(equal_counts) < gini(linear_counts) / 2, (equal_counts, linear_counts)
    assert gini(equal_talk) < gini(linear_talk) / 4, (equal_talk, linear_talk)
    assert equal_counts[0] > equal_counts[-1]  # the fastest, most reliable agent gets most


def test_fewest_calls_evens_handled_counts_exactly() -> None:
    counts, _ = simulate("fewest_calls")
    assert counts == [50] * 10


agent_stats = st.tuples(
    st.integers(0, 30),  # calls handled
    st.floats(0, 5000),  # handle time
    st.integers(0, 40),  # offers beyond the answered ones
    st.floats(0, 100),  # idle since
    st.integers(0, 9),  # skill level
)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    stats=st.lists(agent_stats, min_size=1, max_size=25),
    leave=st.lists(st.integers(0, 24), max_size=10),
    rotation=st.integers(-1, 24),
    need=st.integers(0, 5),
    draw=st.integers(0, 2**64 - 1),
    count=st.integers(1, 4),
)
def test_every_index_picks_what_the_sort_key_says(
    name: str,
    stats: list[tuple[int, float, int, float, int]],
    leave: list[int],
    rotation: int,
    need: int,
    draw: int,
    count: int,
) -> None:
    """The heap, the by-order index and the scan all agree with the strategy's key."""
    strategy = STRATEGIES[name]
    queue_settings = QueueSettings(name="q", strategy=name, skills={"ko": 1} if need else {})
    queue = QueueState(queue_settings, strategy, [f"a{i}" for i in range(len(stats))], 25)
    agents = []
    for i, (calls, handle, extra, idle, level) in enumerate(stats):
        view = AgentView(
            agent_id=f"a{i}",
            order=i,
            skills={"ko": level},
            idle_since=idle,
            calls_handled=calls,
            talk_time=handle / 2,
            handle_time=handle if calls else 0.0,
            offers=calls + extra,
            offers_answered=calls,
        )
        agent = Agent(f"a{i}", "", ("q",), False, view, ready_epoch=1)
        agents.append(agent)
        queue.agent_moved(agent, AgentState.LOGGED_OUT, AgentState.READY)
    for i in leave:  # some leave and come back (stale heap entries), some stay away
        if i < len(agents) and agents[i].agent_id in queue.ready:
            queue.agent_moved(agents[i], AgentState.READY, AgentState.NOT_READY)
            if i % 2:
                agents[i].ready_epoch += 1
                queue.agent_moved(agents[i], AgentState.NOT_READY, AgentState.READY)
    queue.rotation = rotation
    info = QueueCall(call_id="c", queue="q", skills={"ko": need} if need > 1 else {})
    call = WaitingCall(info=info, seq=1, arrived_at=0.0, queue="q")
    call.required = required_skills(queue_settings.skills, info.skills)
    ctx = RouteContext(
        queue=queue_settings,
        call=info,
        required=call.required,
        now=0.0,
        rotation=rotation,
        population=25,
        draw=draw,
        aht=queue.aht(),
    )
    n = count if strategy.ring_all else 1
    picked = [a.agent_id for a in queue.pick(call, n, 0.0, draw)]
    ready = [a for a in queue.ready.values() if QueueState.can_take(a, call, 0.0)]
    expected = [a.agent_id for a in sorted(ready, key=lambda a: strategy.key(a.view, ctx))][:n]
    assert picked == expected
