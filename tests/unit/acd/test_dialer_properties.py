"""Property tests: a random host (agents coming and going, inbound waits, every kind of dial
outcome, late and lost reports, cancellations, DNC additions, campaign commands, restarts)
never makes the dialer break its promises:

- a ``MarkDialing`` precedes every ``Dial`` of its attempt, in the same action list;
- no item has two customer legs at once, and an ended item is never dialled again;
- nothing is dialled outside the customer's calling hours or to a number on the DNC list;
- an item recovered in ``dialing`` after a restart is not dialled before its failure backoff;
- once the host keeps answering (or keeps failing), every item ends ``Complete`` or ``GiveUp``.

The calling-hours oracle here is written independently of ``acd.calling_hours``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from acd.dialer import Dialer
from acd.dialer_model import IllegalCampaignCommand
from acd.dialer_protocol import (
    AgentReserved,
    AgentsChanged,
    CallbackDue,
    CallEnded,
    CampaignCommand,
    Complete,
    Dial,
    DialerAction,
    DialerInput,
    DialOutcome,
    DialResult,
    DncUpdated,
    GiveUp,
    HangUpCustomer,
    ItemCancelled,
    LeadsLoaded,
    MarkDialing,
    Recovered,
    ReleaseAgent,
    Reschedule,
    ReserveAgent,
    WorkItem,
)
from acd.dialer_settings import DialerSettings
from ivr_flows.auth import normalize_number
from tests.unit.acd.dialer_rig import TUESDAY_10, FakePool, check_order

CONFIG = DialerSettings.model_validate(
    {
        "queues": [{"name": "sales", "max_attempts": 4}],
        "campaigns": [
            {"name": "promo", "queue": "sales", "pacing": {"ratio": 3.0}, "autostart": True},
            {"name": "survey", "queue": "support", "customer_first": False},
        ],
        "dnc": ["010-9999-0000"],
    }
)
NUMBERS = ["01011110000", "+82 10-2222-0000", "010-3333-0000", "01099990000", "112", "0212345678"]
ZONES = [None, "America/New_York", "Europe/London", "Not/AZone"]
OUTCOMES: list[DialOutcome] = ["answered", "busy", "no_answer", "failed", "rejected", "abandoned"]
MIN_FAILED_BACKOFF = 600.0
TERMINAL = {"done", "failed", "cancelled"}


def open_now(now: float, tz_name: str | None) -> bool:
    """Weekdays 09:00-20:00, weekends 10:00-18:00, on the customer's clock."""
    try:
        tz = ZoneInfo(tz_name or "Asia/Seoul")
    except (KeyError, ValueError):
        tz = ZoneInfo("Asia/Seoul")
    local = datetime.fromtimestamp(now, tz)
    minutes = local.hour * 60 + local.minute
    start, end = (540, 1200) if local.weekday() < 5 else (600, 1080)
    return start <= minutes < end


@dataclass
class Host:
    """The store and the telephony, as the dialer's host would run them."""

    seed: int
    now: float = TUESDAY_10
    pool: FakePool = field(default_factory=FakePool)
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    reserves: dict[str, ReserveAgent] = field(default_factory=dict)
    ringing: dict[str, Dial] = field(default_factory=dict)
    answering: dict[str, Dial] = field(default_factory=dict)  # live answer, agent sought
    connected: dict[str, Dial] = field(default_factory=dict)
    ended: list[str] = field(default_factory=list)  # attempt ids, for late reports
    legs: dict[str, str] = field(default_factory=dict)  # item id -> attempt with a live leg
    dnc: set[str] = field(default_factory=lambda: {"01099990000"})
    not_before: dict[str, float] = field(default_factory=dict)  # recovered item -> earliest dial

    def __post_init__(self) -> None:
        self.d = Dialer(CONFIG, self.pool, random.Random(self.seed))

    # --- feeding ------------------------------------------------------------------------

    def feed(self, item: DialerInput) -> None:
        self.execute(self.d.handle(item, self.now))

    def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while (due := self.d.next_deadline()) is not None and due <= until:
            self.now = max(self.now, due)
            self.execute(self.d.on_timer(self.now))
        self.now = until

    def execute(self, actions: list[DialerAction]) -> None:
        check_order(actions)
        problems = self.d.audit()
        assert not problems, problems
        for action in actions:
            self.apply(action)

    def apply(self, action: DialerAction) -> None:
        match action:
            case MarkDialing():
                row = self.store[action.item_id]
                assert row["status"] not in TERMINAL, (action, row)
                assert action.attempts <= 4
                row.update(status="dialing", attempts=action.attempts)
            case Dial():
                row = self.store[action.item_id]
                assert row["status"] == "dialing"
                assert action.item_id not in self.legs, f"dialled twice at once: {action}"
                assert open_now(self.now, row["item"].time_zone), f"outside hours: {action}"
                assert normalize_number(action.number) not in self.dnc, f"DNC: {action}"
                assert self.now >= self.not_before.get(action.item_id, 0.0), "recovered too soon"
                self.legs[action.item_id] = action.attempt_id
                self.ringing[action.attempt_id] = action
            case ReserveAgent():
                self.reserves[action.attempt_id] = action
            case ReleaseAgent():
                self.reserves.pop(action.attempt_id, None)
            case HangUpCustomer():
                self._leg_ended(action.attempt_id)
            case Reschedule():
                row = self.store[action.item_id]
                assert row["status"] not in TERMINAL, (action, row)
                row.update(status="pending", due_at=action.due_at, attempts=action.attempts)
            case Complete() | GiveUp():
                row = self.store[action.item_id]
                assert row["status"] not in {"done", "failed"}, (action, row)
                if row["status"] != "cancelled":
                    row["status"] = "done" if isinstance(action, Complete) else "failed"

    def _leg_ended(self, attempt_id: str) -> None:
        self.ended.append(attempt_id)
        self.ringing.pop(attempt_id, None)
        self.answering.pop(attempt_id, None)
        self.connected.pop(attempt_id, None)
        for item_id, live in list(self.legs.items()):
            if live == attempt_id:
                del self.legs[item_id]

    # --- the host's side of a call ------------------------------------------------------

    def answer_reserve(self, attempt_id: str, ok: bool) -> None:
        self.reserves.pop(attempt_id, None)
        if ok and attempt_id in self.answering:
            self.connected[attempt_id] = self.answering.pop(attempt_id)
        if not ok:
            self.ended.append(attempt_id)
        self.feed(AgentReserved(attempt_id=attempt_id, ok=ok, agent_id="a1" if ok else None))

    def dial_result(self, attempt_id: str, outcome: DialOutcome) -> None:
        dial = self.ringing[attempt_id]
        if outcome != "answered":
            self._leg_ended(attempt_id)
        elif dial.customer_first:
            self.answering[attempt_id] = self.ringing.pop(attempt_id)
        else:
            self.connected[attempt_id] = self.ringing.pop(attempt_id)
        self.feed(DialResult(attempt_id=attempt_id, outcome=outcome))

    def end_call(self, attempt_id: str) -> None:
        """The conversation ends, or a live answer hangs up before an agent came."""
        self._leg_ended(attempt_id)
        self.feed(CallEnded(attempt_id=attempt_id, disposition="done"))

    def late_report(self, attempt_id: str, outcome: DialOutcome, ok: bool) -> None:
        """A report about an attempt that is over: ignored, a reserved agent released."""
        if self.d.attempt(attempt_id) is not None:
            return
        before = len(self.reserves)
        report: DialerInput = (
            AgentReserved(attempt_id=attempt_id, ok=ok, agent_id="a9")
            if outcome in ("answered", "busy")
            else DialResult(attempt_id=attempt_id, outcome=outcome)
        )
        actions = self.d.handle(report, self.now)
        late = [a for a in actions if getattr(a, "attempt_id", None) == attempt_id]
        released = (
            [ReleaseAgent(attempt_id=attempt_id)] if ok and outcome in ("answered", "busy") else []
        )
        assert late == released, (report, actions)
        self.execute(actions)
        assert len(self.reserves) >= before

    # --- work ---------------------------------------------------------------------------

    def load(self, work: WorkItem) -> None:
        row = self.store.get(work.id)
        if row is not None and row["status"] in TERMINAL:
            return  # the host only reads pending requests
        if row is None:
            self.store[work.id] = {"status": "pending", "item": work, "attempts": 0}
        else:
            work = replace(row["item"], due_at=row.get("due_at", work.due_at))
            work = replace(work, attempts=row["attempts"])
        self.feed(CallbackDue(item=work) if work.kind == "callback" else LeadsLoaded(items=(work,)))

    def pending(self, campaign: str | None = None) -> list[WorkItem]:
        out = []
        for row in self.store.values():
            work: WorkItem = row["item"]
            if row["status"] == "pending" and (campaign is None or work.campaign == campaign):
                out.append(
                    replace(work, due_at=row.get("due_at", work.due_at), attempts=row["attempts"])
                )
        return out

    def restart(self) -> None:
        """The process dies: calls are gone; a new core recovers from the store."""
        self.reserves.clear()
        self.ringing.clear()
        self.answering.clear()
        self.connected.clear()
        self.legs.clear()
        self.d = Dialer(CONFIG, self.pool, random.Random(self.seed + 1))
        self.feed(DncUpdated(add=tuple(sorted(self.dnc))))
        dialing = [
            replace(row["item"], attempts=row["attempts"])
            for row in self.store.values()
            if row["status"] == "dialing"
        ]
        for work in dialing:
            self.not_before[work.id] = self.now + MIN_FAILED_BACKOFF
        self.feed(Recovered(items=tuple(dialing)))
        for work in self.pending():
            self.load(work)

    def start_everything(self) -> None:
        for name in ("promo", "survey"):
            state = self.d.campaign_state(name)
            if state != "running":
                self.feed(
                    CampaignCommand(
                        campaign=name, command="resume" if state == "paused" else "start"
                    )
                )
                for work in self.pending(name):
                    self.load(work)


def work_item(source: str, index: int, number: int, zone: int, due: float) -> WorkItem:
    """``source``: ``callback`` (queue sales) or a campaign name."""
    callback = source == "callback"
    return WorkItem(
        id=f"{source[:2]}{index}",
        kind="callback" if callback else "lead",
        number=NUMBERS[number],
        due_at=TUESDAY_10 + due,
        queue="sales" if callback else "",
        campaign="" if callback else source,
        time_zone=ZONES[zone],
    )


LOAD = st.tuples(
    st.just("load"),
    st.sampled_from(["promo", "callback", "survey"]),
    st.integers(0, 7),
    st.integers(0, len(NUMBERS) - 1),
    st.integers(0, len(ZONES) - 1),
    st.sampled_from([-3600.0, 0.0, 120.0, 11 * 3600.0]),
)
AGENTS = st.tuples(st.just("agents"), st.sampled_from(["sales", "support"]), st.integers(0, 3))
ADVANCE = st.tuples(st.just("advance"), st.sampled_from([700.0, 0.5, 2.5, 31.0, 95.0, 3 * 3600.0]))
RESPOND = st.tuples(
    st.just("respond"), st.integers(0, 50), st.sampled_from(OUTCOMES), st.booleans()
)
ops = st.one_of(  # repeated strategies weigh more
    LOAD,
    LOAD,
    AGENTS,
    AGENTS,
    ADVANCE,
    ADVANCE,
    RESPOND,
    RESPOND,
    RESPOND,
    st.tuples(st.just("late"), st.integers(0, 50), st.sampled_from(OUTCOMES), st.booleans()),
    st.tuples(st.just("inbound"), st.integers(0, 2), st.sampled_from([0.0, 5.0, 30.0])),
    st.tuples(st.just("cancel"), st.sampled_from(["pr", "ca", "su"]), st.integers(0, 7)),
    st.tuples(st.just("dnc"), st.integers(0, len(NUMBERS) - 1)),
    st.tuples(
        st.just("command"),
        st.sampled_from(["promo", "survey"]),
        st.sampled_from(["start", "pause", "resume", "stop"]),
    ),
    st.tuples(st.just("restart")),
)


def step(host: Host, op: tuple[Any, ...]) -> None:
    match op:
        case ("load", source, index, number, zone, due):
            host.load(work_item(source, index, number, zone, due))
        case ("agents", queue, count):
            host.pool.free[queue] = [f"{queue}{i}" for i in range(count)]
            host.feed(AgentsChanged(queue=queue))
        case ("inbound", count, longest):
            host.pool.waiting["sales"] = (count, longest if count else 0.0)
            host.feed(AgentsChanged(queue="sales"))
        case ("advance", seconds):
            host.advance(seconds)
        case ("respond", pick, outcome, ok):
            pending = [*sorted(host.reserves), *sorted(host.ringing)]
            pending += [*sorted(host.answering), *sorted(host.connected)]
            if not pending:
                return
            attempt_id = pending[pick % len(pending)]
            if attempt_id in host.reserves:
                host.answer_reserve(attempt_id, ok)
            elif attempt_id in host.ringing:
                host.dial_result(attempt_id, outcome)
            else:
                host.end_call(attempt_id)
        case ("late", pick, outcome, ok):
            if host.ended:
                host.late_report(host.ended[pick % len(host.ended)], outcome, ok)
        case ("cancel", prefix, index):
            item_id = f"{prefix}{index}"
            if item_id in host.store and host.store[item_id]["status"] not in TERMINAL:
                host.store[item_id]["status"] = "cancelled"
                host.feed(ItemCancelled(item_id=item_id))
        case ("dnc", number):
            host.dnc.add(normalize_number(NUMBERS[number]))
            host.feed(DncUpdated(add=(NUMBERS[number],)))
        case ("command", campaign, command):
            state = host.d.campaign_state(campaign)
            legal = {
                "stopped": {"start"},
                "running": {"pause", "stop"},
                "paused": {"resume", "stop"},
            }
            try:
                host.feed(CampaignCommand(campaign=campaign, command=command))
            except IllegalCampaignCommand:
                assert command not in legal[state]
            else:
                assert command in legal[state]
                if command == "start":
                    for work in host.pending(campaign):
                        host.load(work)
        case ("restart",):
            host.restart()


def settle(host: Host, outcome: str) -> None:
    """Agents everywhere, no inbound, and the host answers everything with ``outcome``."""
    host.pool.free = {"sales": ["a1", "a2", "a3"], "support": ["b1", "b2"]}
    host.pool.waiting.clear()
    host.start_everything()
    pick = random.Random(host.seed)
    for _ in range(5000):
        if host.reserves:
            host.answer_reserve(min(host.reserves), ok=True)
        elif host.ringing:
            chosen = outcome if outcome != "mixed" else pick.choice(OUTCOMES)
            host.dial_result(min(host.ringing), chosen)  # type: ignore[arg-type]
        elif host.connected:
            host.end_call(min(host.connected))
        elif host.answering:
            host.end_call(min(host.answering))  # the agent never came: the customer leaves
        elif (due := host.d.next_deadline()) is not None:
            host.advance(max(0.0, due - host.now))
        else:
            break
    live = {k: r["status"] for k, r in host.store.items() if r["status"] not in TERMINAL}
    assert not live, f"items never ended: {live}"
    assert host.d.counts() == dict.fromkeys(host.d.counts(), 0)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.lists(ops, min_size=5, max_size=50),
    st.sampled_from(["answered", "failed", "busy", "no_answer", "mixed"]),
    st.integers(0, 10),
    st.sampled_from([0.0, 9.9 * 3600, 81.95 * 3600]),  # Tuesday 10:00 and 19:54, Friday 19:57
)
@example(  # a lead waits for an agent in the ready line while its window closes
    [("load", "promo", 0, 0, 0, 0.0), ("advance", 700.0), ("agents", "sales", 1)],
    "answered",
    0,
    9.9 * 3600,
)
@example(  # the DNC list grows while an agent is being reserved
    [
        ("agents", "sales", 1),
        ("load", "callback", 0, 0, 0, 0.0),
        ("dnc", 0),
        ("respond", 0, "answered", True),
    ],
    "failed",
    0,
    0.0,
)
def test_random_hosts_never_break_the_dialers_promises(
    script: list[tuple[Any, ...]], outcome: str, seed: int, start: float
) -> None:
    host = Host(seed=seed, now=TUESDAY_10 + start)
    for op in script:
        step(host, op)
    settle(host, outcome)


def test_a_restart_mid_dial_never_redials_at_once() -> None:
    host = Host(seed=3)
    host.pool.free["sales"] = ["a1"]
    host.load(work_item("callback", 1, 0, 0, 0.0))
    host.answer_reserve(min(host.reserves), ok=True)
    assert host.store["ca1"]["status"] == "dialing"
    host.restart()
    assert not host.ringing and not host.reserves
    assert host.store["ca1"]["due_at"] == host.now + MIN_FAILED_BACKOFF
    host.advance(MIN_FAILED_BACKOFF)
    assert host.reserves  # now it may try again
    settle(host, "answered")
    assert host.store["ca1"]["status"] == "done"
