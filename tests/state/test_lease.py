"""The pure lease logic on a fake clock: cadence, demotion before the lease can move, stale
answers, and a two-node simulation (random delays and losses) that never sees two leaders."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from cti_server.state import (
    Acquire,
    Demoted,
    IllegalLeaseTransition,
    InMemoryBackend,
    LeaseInput,
    LeaseKeeper,
    LeaseState,
    Promoted,
    Release,
    Renew,
)

TTL = 3.0
T0 = 1000.0


def leader(now: float = T0, token: int = 7) -> LeaseKeeper:
    keeper = LeaseKeeper("a", TTL)
    assert keeper.start(now) == [Acquire(1)]
    assert keeper.acquired(1, token, now + 0.01) == [Promoted(token)]
    return keeper


def test_a_standby_asks_at_once_and_is_promoted_with_the_token() -> None:
    keeper = leader()
    assert keeper.is_leader and keeper.token == 7
    assert keeper.state is LeaseState.LEADER
    assert keeper.next_deadline() == pytest.approx(T0 + TTL / 3)


def test_a_leader_renews_every_third_of_the_ttl() -> None:
    keeper = leader()
    assert keeper.on_timer(T0 + 0.5) == []  # not yet
    assert keeper.on_timer(T0 + 1.0) == [Renew(2, 7)]
    assert keeper.state is LeaseState.RENEWING
    assert keeper.renewed(2, True, T0 + 1.02) == []
    assert keeper.is_leader and keeper.next_deadline() == pytest.approx(T0 + 2.0)
    assert keeper.on_timer(T0 + 2.0) == [Renew(3, 7)]


def test_a_refused_acquire_retries_after_an_interval() -> None:
    keeper = LeaseKeeper("b", TTL)
    assert keeper.start(T0) == [Acquire(1)]
    assert keeper.acquired(1, None, T0 + 0.01) == []
    assert keeper.state is LeaseState.STANDBY and not keeper.is_leader
    assert keeper.next_deadline() == pytest.approx(T0 + 1.0)
    assert keeper.on_timer(T0 + 1.0) == [Acquire(2)]


def test_a_refused_renewal_demotes_at_once_without_releasing() -> None:
    keeper = leader()
    keeper.on_timer(T0 + 1.0)
    assert keeper.renewed(2, False, T0 + 1.01) == [Demoted(7, "lost")]
    assert not keeper.is_leader and keeper.token is None
    assert keeper.next_deadline() == pytest.approx(T0 + 2.01)  # then it asks again


def test_an_unreachable_backend_demotes_before_the_lease_could_move() -> None:
    keeper = leader()  # the grant was sent at T0: the backend holds it until T0 + ttl at least
    now, failures = T0, 0
    while keeper.is_leader:
        now = keeper.next_deadline() or now
        step = keeper.on_timer(now)
        for action in step:
            if isinstance(action, Renew):
                failures += 1
                assert keeper.failed(action.request, now + 0.2) == []
    assert failures >= 2  # it retried before giving up
    assert step == [Demoted(7, "expired"), Release(7)]
    assert now == pytest.approx(T0 + TTL - keeper.margin) and now < T0 + TTL


def hang_until_demoted(keeper: LeaseKeeper, now: float) -> tuple[float, list[Any], int]:
    """Walk the timers, never answering a request: when the keeper gives up, with what."""
    sent = 0
    while keeper.is_leader:
        now = keeper.next_deadline() or now
        step = keeper.on_timer(now)
        sent += sum(isinstance(a, Renew) for a in step)
    return now, step, sent


def test_an_unanswered_renewal_is_sent_again_and_its_late_answer_is_ignored() -> None:
    keeper = leader()
    assert keeper.on_timer(T0 + 1.0) == [Renew(2, 7)]
    assert keeper.next_deadline() == pytest.approx(T0 + 2.0)  # the request's own timeout
    assert keeper.on_timer(T0 + 2.0) == [Renew(4, 7)]  # request 2 failed (3): a fresh one
    assert keeper.renewed(2, True, T0 + 2.1) == []  # stale: it proves nothing after 2.0
    assert keeper.state is LeaseState.RENEWING
    assert keeper.next_deadline() == pytest.approx(T0 + TTL - keeper.margin)
    now, step, _ = hang_until_demoted(keeper, T0 + 2.1)
    assert step == [Demoted(7, "expired"), Release(7)]
    assert now == pytest.approx(T0 + TTL - keeper.margin)


def test_validity_counts_from_when_the_renewal_was_sent() -> None:
    keeper = leader()
    keeper.on_timer(T0 + 1.0)
    keeper.renewed(2, True, T0 + 1.9)  # a slow answer: the lease runs from T0 + 1.0 at best
    now, step, sent = hang_until_demoted(keeper, T0 + 1.9)
    assert step == [Demoted(7, "expired"), Release(7)]
    assert now == pytest.approx(T0 + 1.0 + TTL - keeper.margin)
    assert sent >= 2


def test_a_grant_that_comes_after_a_timeout_is_released() -> None:
    keeper = LeaseKeeper("b", TTL)
    keeper.start(T0)
    assert keeper.next_deadline() == pytest.approx(T0 + TTL / 3)
    assert keeper.on_timer(T0 + TTL / 3) == [Acquire(3)]  # 1 timed out: asked again
    assert keeper.acquired(1, 5, T0 + 1.5) == [Release(5)]
    assert keeper.acquired(3, None, T0 + 1.6) == []
    assert not keeper.is_leader


def test_a_grant_too_late_to_be_useful_is_released() -> None:
    keeper = LeaseKeeper("b", TTL)
    keeper.start(T0)
    late = T0 + TTL - keeper.margin + 0.01
    assert keeper.acquired(1, 5, late) == [Release(5)]
    assert keeper.state is LeaseState.STANDBY


def test_a_fenced_write_and_a_resignation_demote() -> None:
    keeper = leader()
    assert keeper.fenced(6, T0 + 0.1) == []  # not our token: nothing to do
    assert keeper.fenced(7, T0 + 0.1) == [Demoted(7, "lost")]
    again = leader(token=9)
    assert again.resign(9, T0 + 0.1) == [Demoted(9, "resigned"), Release(9)]
    assert again.resign(9, T0 + 0.2) == []


def test_stop_releases_a_held_lease_and_ends_the_timers() -> None:
    keeper = leader()
    assert keeper.stop(T0 + 0.5) == [Demoted(7, "stopped"), Release(7)]
    assert keeper.state is LeaseState.STOPPED and keeper.next_deadline() is None
    assert keeper.stop(T0 + 0.6) == []
    standby = LeaseKeeper("b", TTL)
    standby.start(T0)
    assert standby.stop(T0) == []
    assert standby.acquired(1, 3, T0 + 0.1) == [Release(3)]  # the grant nobody will use


def test_an_illegal_transition_names_state_and_event() -> None:
    keeper = LeaseKeeper("a", TTL)
    with pytest.raises(IllegalLeaseTransition, match=r"standby.*granted") as info:
        keeper._go(LeaseInput.GRANTED)
    assert info.value.state is LeaseState.STANDBY


def test_bad_timing_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        LeaseKeeper("a", 0)
    with pytest.raises(ValueError, match="margin"):
        LeaseKeeper("a", 3.0, margin=2.5)


# --- two nodes, one backend, an unreliable network ------------------------------------------


def done(coro: Coroutine[Any, Any, Any]) -> Any:
    """The in-memory backend never suspends: run its coroutine to the end."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("suspended")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Network:
    """Two keepers and a backend; every request and answer is delayed, some are lost."""

    def __init__(self, rng: random.Random, loss: float, max_delay: float) -> None:
        self.rng = rng
        self.loss = loss
        self.max_delay = max_delay
        self.clock = Clock()
        self.backend = InMemoryBackend(self.clock)
        self.nodes = {name: LeaseKeeper(name, TTL) for name in ("a", "b")}
        self.dead: set[str] = set()
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.promotions: list[tuple[float, str, int]] = []
        self.down_until = 0.0  # backend outage: everything sent before this is lost

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (self.clock.now + delay, self.seq, fn))

    def hop(self, fn: Callable[[], None]) -> None:
        if self.rng.random() < self.loss or self.clock.now < self.down_until:
            return
        self.later(self.rng.uniform(0, self.max_delay), fn)

    def execute(self, name: str, actions: list[Any]) -> None:
        backend = self.backend
        for action in actions:
            match action:
                case Acquire(request=r):
                    self.hop(lambda r=r: self.answer(name, done(backend.acquire(name, TTL)), r))
                case Renew(request=r, token=t):
                    self.hop(
                        lambda r=r, t=t: self.answer(name, done(backend.renew(name, t, TTL)), r)
                    )
                case Release(token=t):
                    self.hop(lambda t=t: done(backend.release(name, t)))
                case Promoted(token=t):
                    self.promotions.append((self.clock.now, name, t))
                case Demoted():
                    pass

    def answer(self, name: str, value: Any, request: int) -> None:
        def deliver() -> None:
            if name in self.dead:
                return
            keeper = self.nodes[name]
            if isinstance(value, bool):
                self.execute(name, keeper.renewed(request, value, self.clock.now))
            else:
                self.execute(name, keeper.acquired(request, value, self.clock.now))

        self.hop(deliver)

    def check(self) -> None:
        leaders = [k for n, k in self.nodes.items() if k.is_leader and n not in self.dead]
        assert len(leaders) <= 1, f"two leaders at {self.clock.now}"
        for keeper in leaders:  # whoever believes it leads really holds the lease
            assert done(self.backend.holder()) == (keeper.node_id, keeper.token)

    def run(self, until: float, kill: tuple[float, str] | None = None) -> None:
        for name, keeper in self.nodes.items():
            self.execute(name, keeper.start(self.clock.now))
        while self.clock.now < until:
            due = [
                (d, n)
                for n, k in self.nodes.items()
                if n not in self.dead and (d := k.next_deadline()) is not None
            ]
            when = min([d for d, _ in due] + ([self.queue[0][0]] if self.queue else []))
            self.clock.now = max(self.clock.now, when)
            if kill is not None and self.clock.now >= kill[0]:
                self.dead.add(kill[1])
                kill = None
            while self.queue and self.queue[0][0] <= self.clock.now:
                heapq.heappop(self.queue)[2]()
                self.check()
            for d, name in due:
                if d <= self.clock.now and name not in self.dead:
                    self.execute(name, self.nodes[name].on_timer(self.clock.now))
                    self.check()


@pytest.mark.parametrize("seed", range(30))
def test_never_two_leaders_whatever_the_network_does(seed: int) -> None:
    rng = random.Random(seed)
    net = Network(rng, loss=0.15, max_delay=0.4)
    net.down_until = T0 + 20 + rng.uniform(0, 10)  # and an outage early on
    net.run(T0 + 120)
    assert net.promotions, "someone must lead once the network behaves"
    tokens = [t for _, _, t in net.promotions]
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)


def test_a_steady_leader_keeps_the_lease_and_the_standby_stays_standby() -> None:
    net = Network(random.Random(1), loss=0.0, max_delay=0.05)
    net.run(T0 + 60)
    assert len(net.promotions) == 1


def test_the_standby_takes_over_within_ttl_plus_an_interval_of_a_crash() -> None:
    net = Network(random.Random(2), loss=0.0, max_delay=0.05)
    net.run(T0 + 10)
    (_, first, token), *_ = net.promotions
    crash = net.clock.now
    net.run(T0 + 30, kill=(crash, first))
    later = [p for p in net.promotions if p[1] != first]
    assert later, "the standby never took over"
    at, _, new_token = later[0]
    assert new_token > token
    assert at - crash <= TTL + TTL / 3 + 0.2  # lease runs out, then the next attempt


def test_the_lease_logic_imports_no_io() -> None:
    """lease.py is a sans-IO core (DESIGN.md rule 2) though it lives beside the backends."""
    import ast
    from pathlib import Path

    import cti_server.state.lease as module

    banned = {"time", "random", "socket", "threading", "twisted", "redis", "asyncio"}
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not imported & banned
