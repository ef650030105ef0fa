"""A dialer on a fake clock with a fake ACD view: feed inputs, advance time, keep the output.

Every step checks that each ``Dial`` is preceded by the ``MarkDialing`` of its attempt in
the same action list, so every test also checks the durability rule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from acd.dialer import Dialer
from acd.dialer_protocol import (
    AgentReserved,
    CallbackDue,
    Dial,
    DialerAction,
    DialerInput,
    DialResult,
    LeadsLoaded,
    MarkDialing,
    ReserveAgent,
    WorkItem,
)
from acd.dialer_settings import DialerSettings
from cti_server import events as ev

SEOUL = ZoneInfo("Asia/Seoul")
NEW_YORK = ZoneInfo("America/New_York")
A = TypeVar("A")


def at(year: int, month: int, day: int, hour: int, minute: int = 0, tz: ZoneInfo = SEOUL) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


TUESDAY_10 = at(2025, 3, 4, 10)  # a Tuesday, 10:00 in Seoul


class FakePool:
    """The ACD as the dialer sees it; tests set it directly."""

    def __init__(self) -> None:
        self.free: dict[str, list[str]] = {}
        self.waiting: dict[str, tuple[int, float]] = {}
        self.level: dict[str, float | None] = {}

    def free_agents(self, queue: str) -> Sequence[str]:
        return list(self.free.get(queue, []))

    def inbound_waiting(self, queue: str) -> tuple[int, float]:
        return self.waiting.get(queue, (0, 0.0))

    def service_level(self, queue: str) -> float | None:
        return self.level.get(queue)


def check_order(actions: Sequence[DialerAction]) -> None:
    marked: set[str] = set()
    for action in actions:
        if isinstance(action, MarkDialing):
            marked.add(action.attempt_id)
        elif isinstance(action, Dial):
            assert action.attempt_id in marked, f"Dial before MarkDialing: {action}"


def item(
    item_id: str,
    *,
    kind: str = "callback",
    number: str = "010-1234-5678",
    due_at: float = TUESDAY_10,
    queue: str = "sales",
    campaign: str = "",
    attempts: int = 0,
    time_zone: str | None = None,
) -> WorkItem:
    return WorkItem(
        id=item_id,
        kind=kind,  # type: ignore[arg-type]
        number=number,
        due_at=due_at,
        queue=queue if kind == "callback" else "",
        campaign=campaign,
        attempts=attempts,
        time_zone=time_zone,
    )


def lead(item_id: str, campaign: str = "promo", **kw: Any) -> WorkItem:
    return item(item_id, kind="lead", campaign=campaign, **kw)


class Rig:
    def __init__(self, config: dict[str, Any], start: float = TUESDAY_10, seed: int = 0) -> None:
        self.settings = DialerSettings.model_validate(config)
        self.pool = FakePool()
        self.d = Dialer(self.settings, self.pool, random.Random(seed))
        self.now = start
        self.actions: list[DialerAction] = []
        self.events: list[ev.Event] = []
        self.all_actions: list[DialerAction] = []

    def _took(self, actions: list[DialerAction]) -> None:
        check_order(actions)
        problems = self.d.audit()
        assert not problems, problems
        self.actions += actions
        self.all_actions += actions
        self.events += self.d.drain_events()

    def feed(self, item: DialerInput, after: float = 0.0) -> list[DialerAction]:
        self.actions, self.events = [], []
        self._advance(self.now + after)
        self._took(self.d.handle(item, self.now))
        return self.actions

    def advance(self, seconds: float) -> list[DialerAction]:
        self.actions, self.events = [], []
        self._advance(self.now + seconds)
        return self.actions

    def advance_to(self, when: float) -> list[DialerAction]:
        return self.advance(when - self.now)

    def _advance(self, until: float) -> None:
        while (due := self.d.next_deadline()) is not None and due <= until:
            self.now = max(self.now, due)
            self._took(self.d.on_timer(self.now))
        self.now = until

    def of(self, kind: type[A], actions: Sequence[object] | None = None) -> list[A]:
        return [a for a in (self.actions if actions is None else actions) if isinstance(a, kind)]

    def one(self, kind: type[A]) -> A:
        found = self.of(kind)
        assert len(found) == 1, f"{kind.__name__}: {found} in {self.actions}"
        return found[0]

    # --- whole scenarios --------------------------------------------------------------------

    def callback(self, work: WorkItem) -> list[DialerAction]:
        return self.feed(CallbackDue(item=work))

    def leads(self, *works: WorkItem) -> list[DialerAction]:
        return self.feed(LeadsLoaded(items=works))

    def grant(self, reserve: ReserveAgent, agent: str = "a1") -> Dial:
        """The host found ``agent`` for an agent-first reservation: the dial goes out."""
        self.feed(AgentReserved(attempt_id=reserve.attempt_id, ok=True, agent_id=agent))
        return self.one(Dial)

    def connect(self, dial: Dial, agent: str = "a1") -> None:
        """A customer-first dial answered and connected to ``agent`` within the grace."""
        self.feed(DialResult(attempt_id=dial.attempt_id, outcome="answered"))
        self.feed(AgentReserved(attempt_id=dial.attempt_id, ok=True, agent_id=agent))
