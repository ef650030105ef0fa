"""Property tests: random input sequences never break the distributor's invariants, every
call ends once agents keep answering, and no queue starves behind a heavier one."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd import AcdError, Distributor
from acd.protocol import (
    AcdAction,
    AcdInput,
    AgentCallEnded,
    AgentLogin,
    AgentLogout,
    CallerLeft,
    ChangeAgentState,
    Offer,
    OfferAnswered,
    OfferFailed,
    Overflow,
    QueueCall,
    WithdrawOffer,
    WrapUpDone,
)
from acd.settings import AcdSettings
from cti_server import events as ev

CONFIG = AcdSettings.model_validate(
    {
        "queues": [
            {"name": "q1", "wrap_up": 3, "announce_every": 20, "designated_wait": 10},
            {
                "name": "q2",
                "strategy": "ring_all",
                "ring_all_limit": 2,
                "weight": 2,
                "skills": {"ko": 1},
            },
            {
                "name": "q3",
                "strategy": "round_robin",
                "leave_when_empty": True,
                "max_length": 3,
                "overflow": "queue:q1",
                "no_answer_not_ready": False,
                "wrap_up": 0,
            },
            {"name": "q4", "strategy": "equalized", "max_wait": 60, "overflow": "callback"},
            {"name": "q5", "strategy": "random", "offer_timeout": 5},
        ],
        "agents": [
            {"id": "a0", "queues": ["q1", "q2", "q3"], "skills": {"ko": 2, "en": 1}},
            {"id": "a1", "queues": ["q1", "q2"], "skills": {"ko": 1, "en": 1}},
            {"id": "a2", "queues": ["q3", "q4", "q5"], "skills": {"en": 2}},
            {"id": "a3", "queues": ["q4", "q5", "q1"], "skills": {"en": 1}},
            {"id": "a4", "queues": ["q2", "q5"], "skills": {"ko": 3, "en": 1}},
        ],
    }
)
AGENTS = [a.id for a in CONFIG.agents]
QUEUES = [q.name for q in CONFIG.queues]
RING_ALL = {"q2"}
TERMINAL = (ev.CallDequeued, ev.CallAbandoned)
Op = tuple[Any, ...]

agent_ix = st.integers(0, len(AGENTS) - 1)
new_call = st.tuples(
    st.just("call"),
    st.integers(0, len(QUEUES) - 1),
    st.integers(0, 2),
    st.one_of(st.none(), st.none(), agent_ix),
    st.booleans(),
)
pick = st.integers(0, 50)
ops = st.one_of(  # calls and answers drawn more often than the rest
    new_call,
    new_call,
    st.tuples(st.just("answer"), pick),
    st.tuples(st.just("answer"), pick),
    st.tuples(st.just("end"), pick),
    st.tuples(st.just("end"), pick),
    st.tuples(st.just("fail"), pick),
    st.tuples(st.just("left"), pick),
    st.tuples(st.just("wait"), st.floats(0, 30)),
    st.tuples(st.just("wait"), st.floats(0, 5)),
    st.tuples(st.just("login"), agent_ix, st.booleans()),
    st.tuples(st.just("logout"), agent_ix),
    st.tuples(st.just("change"), agent_ix, st.sampled_from(["ready", "not_ready", "away"])),
    st.tuples(st.just("wrap_done"), agent_ix),
)
readiness = st.lists(st.booleans(), min_size=len(AGENTS), max_size=len(AGENTS))


@dataclass
class World:
    """The host's view: what rings, who talks, which calls were queued."""

    d: Distributor
    now: float = 0.0
    ringing: set[tuple[str, str]] = field(default_factory=set)
    talking: set[tuple[str, str]] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    outcome: dict[str, str] = field(default_factory=dict)  # call -> last lifecycle event
    log: list[AcdAction] = field(default_factory=list)

    def run(self, actions: list[AcdAction]) -> None:
        self.log += actions
        for action in actions:
            if isinstance(action, Offer):
                assert (action.call_id, action.agent_id) not in self.ringing
                self.ringing.add((action.call_id, action.agent_id))
            elif isinstance(action, WithdrawOffer):
                self.ringing.discard((action.call_id, action.agent_id))
            elif isinstance(action, Overflow):
                assert not any(c == action.call_id for c, _ in self.ringing)
        for event in self.d.drain_events():
            if isinstance(event, ev.AgentReserved):
                assert event.previous == "ready", event  # only ready agents are offered calls
            if isinstance(event, (ev.CallQueued, ev.CallOverflowed, *TERMINAL)):
                self.outcome[event.call_id] = event.name
                if isinstance(event, ev.CallOverflowed) and not event.target.startswith("queue:"):
                    self.outcome[event.call_id] = "gone"
        problems = self.d.audit()
        assert not problems, problems
        agents = [a for _, a in self.ringing]
        assert len(agents) == len(set(agents)), "an agent holds two offers"
        per_call: dict[str, int] = {}
        for call, _ in self.ringing:
            per_call[call] = per_call.get(call, 0) + 1
        for call, n in per_call.items():
            queue = self.d.calls[call].queue
            assert n == 1 or queue in RING_ALL, (call, n)

    def feed(self, item: AcdInput) -> None:
        try:
            self.run(self.d.handle(item, self.now))
        except AcdError:
            self.run([])  # refused: nothing may have changed half-way

    def wait(self, seconds: float) -> None:
        until = self.now + seconds
        while (due := self.d.next_deadline()) is not None and due <= until:
            self.now = max(self.now, due)
            self.run(self.d.on_timer(self.now))
        self.now = until

    def login(self, ready: list[bool]) -> None:
        for agent, flag in zip(AGENTS, ready, strict=True):
            self.feed(AgentLogin(agent_id=agent, ready=flag))

    def pick(self, pairs: set[tuple[str, str]], i: int) -> tuple[str, str] | None:
        ordered = sorted(pairs)
        return ordered[i % len(ordered)] if ordered else None

    def step(self, op: Op) -> None:
        kind = op[0]
        if kind == "login":
            self.feed(AgentLogin(agent_id=AGENTS[op[1]], ready=bool(op[2])))
        elif kind == "logout":
            self.feed(AgentLogout(agent_id=AGENTS[op[1]]))
        elif kind == "change":
            agent, state = AGENTS[op[1]], op[2]
            self.feed(ChangeAgentState(agent_id=agent, state=state, reason=""))
        elif kind == "wrap_done":
            self.feed(WrapUpDone(agent_id=AGENTS[op[1]]))
        elif kind == "call":
            _, q, priority, designated, en = op
            call_id = f"c{len(self.calls)}"
            self.calls.append(call_id)
            self.feed(
                QueueCall(
                    call_id=call_id,
                    queue=QUEUES[q],
                    priority=priority,
                    designated_agent=None if designated is None else AGENTS[designated],
                    skills={"en": 1} if en else {},
                )
            )
        elif kind == "left" and self.calls:
            self.feed(CallerLeft(call_id=self.calls[op[1] % len(self.calls)]))
        elif kind in ("answer", "fail"):
            pair = self.pick(self.ringing, op[1])
            if pair is not None:
                call, agent = pair
                self.ringing.discard(pair)
                if kind == "answer":
                    self.feed(OfferAnswered(call_id=call, agent_id=agent))
                    if self.d.agent_state(agent) == "busy":
                        self.talking.add(pair)
                else:
                    self.feed(OfferFailed(call_id=call, agent_id=agent))
        elif kind == "end":
            pair = self.pick(self.talking, op[1])
            if pair is not None:
                self.talking.discard(pair)
                self.feed(AgentCallEnded(call_id=pair[0], agent_id=pair[1]))
        elif kind == "wait":
            self.wait(float(op[1]))

    def serve_everything(self) -> None:
        """Every agent becomes ready and answers at once: the queues must empty."""
        for agent in AGENTS:
            if self.d.agent_state(agent) == "logged_out":
                self.feed(AgentLogin(agent_id=agent))
        for _ in range(400):
            for agent in AGENTS:
                if self.d.agent_state(agent) in ("not_ready", "away", "busy", "reserved"):
                    self.feed(ChangeAgentState(agent_id=agent, state="ready"))
                if self.d.agent_state(agent) == "wrap_up":
                    self.feed(WrapUpDone(agent_id=agent))
            for pair in sorted(self.talking):
                self.talking.discard(pair)
                self.feed(AgentCallEnded(call_id=pair[0], agent_id=pair[1]))
            for call, agent in sorted(self.ringing):
                if (call, agent) in self.ringing:
                    self.ringing.discard((call, agent))
                    self.feed(OfferAnswered(call_id=call, agent_id=agent))
                    if self.d.agent_state(agent) == "busy":
                        self.talking.add((call, agent))
            if not self.d.calls and not self.ringing:
                return
            self.wait(1.0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(readiness, st.lists(ops, min_size=30, max_size=100), st.integers(0, 2**32))
def test_random_inputs_keep_invariants_and_every_call_ends(
    ready: list[bool], steps: list[Op], seed: int
) -> None:
    world = World(Distributor(CONFIG, random.Random(seed)), now=1000.0)
    world.login(ready)
    for op in steps:
        world.step(op)
    world.serve_everything()
    assert not world.d.calls, world.d.snapshot()["calls"]
    for call in world.calls:
        assert world.outcome.get(call, "gone") in ("gone", "call_dequeued", "call_abandoned"), (
            call,
            world.outcome.get(call),
        )


@settings(max_examples=200, deadline=None)
@given(readiness, st.lists(ops, min_size=20, max_size=60), st.integers(0, 2**32), st.floats(0, 20))
def test_snapshot_restore_mid_sequence_keeps_invariants(
    ready: list[bool], steps: list[Op], seed: int, later: float
) -> None:
    world = World(Distributor(CONFIG, random.Random(seed)), now=1000.0)
    world.login(ready)
    for op in steps:
        world.step(op)
    snapshot = world.d.snapshot()
    world.d = Distributor.restore(CONFIG, random.Random(seed + 1), snapshot, world.now + later)
    assert world.d.audit() == []
    world.now += later
    world.ringing.clear()  # the old node's ringing legs are gone with it
    world.run(world.d.on_timer(world.now))
    world.serve_everything()
    assert not world.d.calls


@settings(max_examples=200, deadline=None)
@given(
    weight=st.floats(1.0, 10.0),
    talk=st.floats(5.0, 60.0),
    backlog=st.integers(1, 5),
)
def test_no_queue_starves(weight: float, talk: float, backlog: int) -> None:
    """One agent serves a heavy queue that always has ``backlog`` calls waiting and a light
    queue with one call: the light call is served within a bounded time."""
    config = AcdSettings.model_validate(
        {
            "queues": [
                {"name": "heavy", "weight": weight, "wrap_up": 0, "announce_every": None},
                {"name": "light", "weight": 1.0, "wrap_up": 0, "announce_every": None},
            ],
            "agents": [{"id": "a", "queues": ["heavy", "light"]}],
        }
    )
    d = Distributor(config, random.Random(0))
    now = 0.0
    d.handle(AgentLogin(agent_id="a", ready=False), now)
    d.handle(QueueCall(call_id="light", queue="light"), now)
    n = 0
    for n in range(backlog):
        d.handle(QueueCall(call_id=f"h{n}", queue="heavy"), now)
    actions = d.handle(ChangeAgentState(agent_id="a", state="ready"), now)
    bound = weight * (backlog + 1) * (talk + 1) + 2 * (talk + 1)
    while now <= bound:
        [offer] = [x for x in actions if isinstance(x, Offer)]
        if offer.call_id == "light":
            return
        n += 1
        d.handle(QueueCall(call_id=f"h{n}", queue="heavy"), now)  # the backlog stays
        now += 1
        d.handle(OfferAnswered(call_id=offer.call_id, agent_id="a"), now)
        now += talk
        actions = d.handle(AgentCallEnded(call_id=offer.call_id, agent_id="a"), now)
    raise AssertionError(f"the light queue's call still waits after {now:.0f} s")


@settings(max_examples=50, deadline=None)
@given(readiness, st.lists(ops, min_size=20, max_size=60), st.integers(0, 2**32))
def test_same_inputs_and_seed_give_the_same_decisions(
    ready: list[bool], steps: list[Op], seed: int
) -> None:
    """A standby replaying the same inputs must reach the same decisions."""
    runs: list[tuple[list[AcdAction], dict[str, object]]] = []
    for _ in range(2):
        world = World(Distributor(CONFIG, random.Random(seed)), now=1000.0)
        world.login(ready)
        for op in steps:
            world.step(op)
        runs.append((world.log, world.d.snapshot()))
    assert runs[0] == runs[1]
