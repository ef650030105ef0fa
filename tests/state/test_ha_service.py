"""HaService on ``task.Clock`` with the in-memory backend: promotion with the snapshot,
coalesced fenced saves, the event stream, self-demotion when the backend goes away, and
take-over by the standby. ``Flaky`` cuts one node off the shared store (a partition) or
makes its renewals lie (to reach the fencing path)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.web.test.requesthelper import DummyRequest

from cti_server.adapters.ha_service import HaService, HaSettings, build_ha, run_now
from cti_server.api.ha import HaResource
from cti_server.bus import EventBus
from cti_server.config import Config
from cti_server.events import AgentReady, from_json
from cti_server.state import (
    InMemoryBackend,
    LeaseKeeper,
    RedisBackend,
    StateBackend,
    StateUnavailable,
)
from cti_server.storage.bridge import run_in_loop
from tests.state.conftest import Harness, OwnRedis, redis_url

TTL = 3.0


class Flaky:
    """A node's view of the shared store: ``cut`` makes every call fail as Redis would."""

    def __init__(self, inner: StateBackend) -> None:
        self.inner = inner
        self.cut = False
        self.lie_renew = False  # renewals "succeed" without touching the store

    def _check(self) -> None:
        if self.cut:
            raise StateUnavailable("partitioned")

    async def acquire(self, node_id: str, ttl: float) -> int | None:
        self._check()
        return await self.inner.acquire(node_id, ttl)

    async def renew(self, node_id: str, token: int, ttl: float) -> bool:
        self._check()
        return True if self.lie_renew else await self.inner.renew(node_id, token, ttl)

    async def release(self, node_id: str, token: int) -> None:
        self._check()
        await self.inner.release(node_id, token)

    async def holder(self) -> tuple[str, int] | None:
        self._check()
        return await self.inner.holder()

    async def save_snapshot(self, token: int, data: str) -> bool:
        self._check()
        return await self.inner.save_snapshot(token, data)

    async def load_snapshot(self) -> tuple[int, str] | None:
        self._check()
        return await self.inner.load_snapshot()

    async def append_event(self, json_text: str) -> str:
        self._check()
        return await self.inner.append_event(json_text)

    async def append_events(self, texts: Sequence[str]) -> list[str]:
        self._check()
        return await self.inner.append_events(texts)

    async def read_events(self, after: str, count: int) -> list[tuple[str, str]]:
        self._check()
        return await self.inner.read_events(after, count)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Node:
    """One server's HA side: the service and what the application saw."""

    service: HaService
    backend: Flaky
    bus: EventBus
    state: dict[str, Any] = field(default_factory=dict)  # the "distributor" snapshot
    promoted: list[tuple[float, dict[str, Any] | None, int]] = field(default_factory=list)
    demoted: list[float] = field(default_factory=list)


def node(
    name: str, clock: Any, store: StateBackend, *, ttl: float = TTL, run: Any = run_now, **kw: Any
) -> Node:
    backend = Flaky(store)
    bus = EventBus()
    holder: list[Node] = []

    def promoted(snapshot: dict[str, Any] | None, token: int) -> None:
        holder[0].promoted.append((clock.seconds(), snapshot, token))
        if snapshot is not None:
            holder[0].state = dict(snapshot)

    service = HaService(
        backend,
        LeaseKeeper(name, ttl),
        clock,
        snapshot=lambda: holder[0].state,
        on_promoted=kw.pop("on_promoted", promoted),
        on_demoted=lambda: holder[0].demoted.append(clock.seconds()),
        run=run,
        **kw,
    )
    bus.subscribe(service.on_event)
    holder.append(Node(service, backend, bus))
    return holder[0]


def value(coro: Coroutine[Any, Any, Any]) -> Any:
    """What an in-memory backend call returns (it never suspends)."""
    return run_now(coro).result


def ready(agent: str, at: float) -> AgentReady:
    return AgentReady(at=at, agent_id=agent, state="ready", previous="not_ready")


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(1_700_000_000)
    return c


@pytest.fixture
def store(clock: task.Clock) -> InMemoryBackend:
    return InMemoryBackend(clock.seconds)


def run_for(clock: task.Clock, seconds: float, step: float = 0.05) -> None:
    for _ in range(round(seconds / step)):
        clock.advance(step)


def test_a_lone_node_leads_at_once_with_no_snapshot(clock: task.Clock, store: Any) -> None:
    a = node("a", clock, store)
    assert a.service.status() == {"node": "a", "role": "standby", "token": None}
    a.service.start()
    clock.advance(0)
    assert a.promoted == [(clock.seconds(), None, 1)]
    assert a.service.status() == {"node": "a", "role": "leader", "token": 1}
    run_for(clock, 30)
    assert a.service.role == "leader" and not a.demoted  # renewals keep it


def test_changes_are_saved_coalesced_fenced_and_only_when_the_text_changed(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    a = node("a", clock, store)
    a.service.start()
    clock.advance(0)
    start = clock.seconds()
    for i in range(20):  # a burst of events within 100 ms: one or two writes, not twenty
        a.state = {"agents": {"1001": "ready"}, "n": i}
        a.bus.publish(ready("1001", start))
        clock.advance(0.005)
    run_for(clock, 0.5)
    assert 1 <= a.service.snapshots_saved <= 2
    assert json.loads(value(store.load_snapshot())[1]) == a.state
    saved = a.service.snapshots_saved
    run_for(clock, 5)  # lease ticks mark it dirty, but the text is the same
    assert a.service.snapshots_saved == saved


def test_every_event_goes_to_the_stream_in_order(clock: task.Clock, store: Any) -> None:
    a = node("a", clock, store)
    events = [ready(f"10{i:02d}", clock.seconds() + i) for i in range(12)]
    for event in events:
        a.bus.publish(event)  # before start and whatever the role: facts are facts
    rows = value(store.read_events("0", 100))
    assert [from_json(text) for _, text in rows] == events


def test_events_wait_out_an_outage_and_go_in_order_when_it_ends(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    a = node("a", clock, store, max_pending_events=5)
    a.backend.cut = True
    events = [ready(str(i), clock.seconds()) for i in range(8)]
    for event in events:
        a.bus.publish(event)
    assert a.service.events_dropped == 3  # the queue is bounded: the oldest go
    assert value(store.read_events("0", 100)) == []
    a.backend.cut = False
    a.service.start()
    run_for(clock, 1.5)  # the next lease tick retries
    rows = value(store.read_events("0", 100))
    assert [from_json(text) for _, text in rows] == events[3:]


def test_the_standby_takes_over_with_the_snapshot_after_the_leader_is_cut_off(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    a, b = node("a", clock, store), node("b", clock, store)
    a.service.start()
    clock.advance(0)
    b.service.start()
    run_for(clock, 2)
    assert (a.service.role, b.service.role) == ("leader", "standby")
    a.state = {"agents": {"1001": "ready", "1002": "not_ready"}}
    a.bus.publish(ready("1001", clock.seconds()))
    run_for(clock, 0.5)
    cut_at = clock.seconds()
    a.backend.cut = True  # Redis is gone for A (or A is gone)
    run_for(clock, TTL + 2)
    assert a.demoted and a.service.role == "standby"
    assert b.service.role == "leader" and b.service.token == 2
    (promoted_at, snapshot, token), *_ = b.promoted
    assert snapshot == {"agents": {"1001": "ready", "1002": "not_ready"}} and token == 2
    assert a.demoted[0] < promoted_at  # A stopped before B started: never two leaders
    assert a.demoted[0] - cut_at < TTL
    assert promoted_at - cut_at <= TTL + TTL / 3 + 0.1
    a.backend.cut = False  # A comes back: it stays standby behind B
    run_for(clock, 5)
    assert (a.service.role, b.service.role) == ("standby", "leader")


def test_a_deposed_leaders_write_is_fenced_and_demotes_it(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    a, b = node("a", clock, store), node("b", clock, store)
    a.service.start()
    clock.advance(0)
    a.backend.lie_renew = True  # A believes its renewals; the store lets the lease lapse
    b.service.start()
    run_for(clock, TTL + 1.5)
    assert b.service.token == 2 and a.service.role == "leader"  # A does not know yet
    a.state = {"from": "a, too late"}
    a.bus.publish(ready("1001", clock.seconds()))
    run_for(clock, 0.3)
    assert a.demoted and a.service.role == "standby"
    assert value(store.load_snapshot()) != (1, json.dumps(a.state))


def test_stop_releases_the_lease_so_the_standby_need_not_wait(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    a, b = node("a", clock, store), node("b", clock, store)
    a.service.start()
    b.service.start()
    run_for(clock, 1)
    done = a.service.stop()
    assert done.called and a.demoted and value(store.holder()) is None
    run_for(clock, TTL / 3 + 0.1)
    assert b.service.role == "leader"
    a.bus.publish(ready("1001", clock.seconds()))  # a stopped service ignores the bus
    assert value(store.read_events("0", 10)) == []


def test_an_application_that_cannot_take_over_gives_the_lease_back(
    clock: task.Clock, store: InMemoryBackend
) -> None:
    def broken(snapshot: dict[str, Any] | None, token: int) -> None:
        raise RuntimeError("restore failed")

    a = node("a", clock, store, on_promoted=broken)
    a.service.start()
    clock.advance(0)
    assert a.service.role == "standby" and not a.demoted
    assert value(store.holder()) is None


def test_build_ha_without_a_url_is_a_single_node_in_memory(clock: task.Clock) -> None:
    bus = EventBus()
    seen: list[int] = []
    service = build_ha(
        Config(),
        clock,
        bus,
        snapshot=lambda: {"agents": []},
        on_promoted=lambda snapshot, token: seen.append(token),
        on_demoted=lambda: None,
    )
    assert isinstance(service.backend, InMemoryBackend)
    service.start()
    clock.advance(0)
    assert seen == [1] and service.role == "leader"
    bus.publish(ready("1001", clock.seconds()))
    assert len(value(service.backend.read_events("0", 10))) == 1
    assert service.keeper.ttl == 3.0


def test_settings_read_the_redis_section_with_defaults() -> None:
    @dataclass
    class Section:
        url: str = "redis://127.0.0.1:6379/0"
        node_id: str = "b"
        lease_ttl: float = 1.5

    settings = HaSettings.from_config(Section())
    assert (settings.url, settings.node_id, settings.lease_ttl) == (Section.url, "b", 1.5)
    assert settings.key_prefix == "cti:" and settings.stream_max_len == 100_000


def test_the_ha_resource_answers_with_the_status(clock: task.Clock, store: Any) -> None:
    a = node("a", clock, store)
    a.service.start()
    clock.advance(0)
    request = DummyRequest([])
    body = HaResource(a.service).render_GET(request)  # type: ignore[arg-type]
    assert json.loads(body) == {"node": "a", "role": "leader", "token": 1}
    assert request.responseCode == 200


# --- on Redis and the real reactor ----------------------------------------------------------

REAL_TTL = 0.9


def real_node(name: str, url: str, prefix: str) -> Node:
    from twisted.internet import reactor

    redis = RedisBackend.from_url(url, prefix=prefix, timeout=REAL_TTL / 3)
    return node(name, reactor, redis, ttl=REAL_TTL, run=run_in_loop)


async def sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await task.deferLater(reactor, seconds, lambda: None)


async def until(check: Callable[[], bool], timeout: float) -> bool:
    for _ in range(int(timeout / 0.05)):
        if check():
            return True
        await sleep(0.05)
    return check()


@pytest_twisted.ensureDeferred
async def test_on_redis_the_standby_takes_over_with_the_snapshot(
    redis_harness: Harness,
) -> None:
    url, prefix = redis_url(), redis_harness.prefix
    a, b = real_node("a", url, prefix), real_node("b", url, prefix)  # two processes' worth
    try:
        a.service.start()
        assert await until(lambda: a.service.role == "leader", 2)
        b.service.start()
        a.state = {"agents": {"1001": "ready"}}
        a.bus.publish(ready("1001", 1.0))
        await sleep(REAL_TTL)
        assert b.service.role == "standby"
        a.backend.cut = True
        assert await until(lambda: b.service.role == "leader", REAL_TTL * 2 + 1)
        assert a.demoted and a.demoted[0] < b.promoted[0][0]
        assert b.promoted[0][1:] == ({"agents": {"1001": "ready"}}, 2)
        rows = await run_in_loop(b.backend.read_events("0", 10))
        assert [from_json(text) for _, text in rows] == [ready("1001", 1.0)]
    finally:
        a.backend.cut = False
        await a.service.stop()
        await b.service.stop()


@pytest_twisted.ensureDeferred
async def test_a_leader_whose_redis_dies_demotes_itself_within_the_ttl(
    own_redis: OwnRedis,
) -> None:
    from twisted.internet import reactor

    a = real_node("a", own_redis.url, "cti-test:")
    try:
        a.service.start()
        assert await until(lambda: a.service.role == "leader", 2)
        own_redis.stop()
        stopped = reactor.seconds()
        assert await until(lambda: bool(a.demoted), REAL_TTL + 1)
        assert a.demoted[0] - stopped < REAL_TTL
    finally:
        await a.service.stop()
