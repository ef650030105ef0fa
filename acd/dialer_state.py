"""The dialer's bookkeeping: the items it holds, their ready lines, attempts and deadlines.

Each target (a queue's callbacks, ``queue:NAME``, or a campaign's leads, ``campaign:NAME``)
has a *ready line*: a heap of the waiting items that are due and inside their calling hours,
soonest due first, then first loaded. Entries go stale when an item moves (rescheduled,
reserved, cancelled) and are skipped when they surface, so nothing searches the heaps.
Items not yet due wait on a ``("due", item_id)`` deadline instead.

Numbers are compared in the store's normalized form (``ivr_flows.auth.normalize_number``,
Korean national digits); a number with fewer than 8 or more than 15 digits is not dialled
(E.164 allows 15; 8 keeps short codes such as 112 and 119 out of an automatic dialer).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from acd.calling_hours import next_open, zone
from acd.deadlines import Deadlines
from acd.dialer_model import LINES, CampaignState, ItemState, Tracked, UnknownCampaignError
from acd.dialer_model import retry_delay as backoff
from acd.dialer_protocol import (
    DialerAction,
    DialOutcome,
    GiveUp,
    GiveUpReason,
    Reschedule,
    RescheduleReason,
)
from acd.dialer_settings import CampaignSettings, DialerSettings
from acd.pacing import Pacer
from cti_server import events as ev
from cti_server.events import dialer as dev
from cti_server.ids import RandomSource
from ivr_flows.auth import normalize_number

FINISHED_MEMORY = 10_000  # ended item ids remembered, against a store read that lags
LOST_DIAL_GRACE = 60.0  # a dial with no result this long after its ring timeout failed
MIN_DIGITS, MAX_DIGITS = 8, 15
ATTEMPT_DEADLINES = ("reserve", "dial", "grace")


@dataclass(slots=True)
class CampaignRun:
    settings: CampaignSettings
    state: CampaignState
    pacer: Pacer

    @property
    def running(self) -> bool:
        return self.state is CampaignState.RUNNING

    @property
    def stopped(self) -> bool:
        return self.state is CampaignState.STOPPED


class DialerState:
    def __init__(self, settings: DialerSettings, rng: RandomSource) -> None:
        self.settings = settings
        self._rng = rng
        self.items: dict[str, Tracked] = {}
        self.attempts: dict[str, str] = {}  # attempt id -> item id, for attempts in flight
        self.deadlines = Deadlines()
        self.ready: dict[str, list[tuple[float, int, str]]] = {}
        self.campaigns = {
            c.name: CampaignRun(
                c, CampaignState.RUNNING if c.autostart else CampaignState.STOPPED, Pacer(c.pacing)
            )
            for c in settings.campaigns
        }
        self.dnc = {normalize_number(n) for n in settings.dnc} - {""}
        self.finished: dict[str, None] = {}
        self.events: list[ev.Event] = []
        self.actions: list[DialerAction] = []
        self.seq = 0
        self.turn = 0

    # --- small helpers ------------------------------------------------------------------

    @staticmethod
    def normalize(number: str) -> str:
        return normalize_number(number)

    @staticmethod
    def valid_number(number: str) -> bool:
        return MIN_DIGITS <= len(number) <= MAX_DIGITS

    def run(self, campaign: str) -> CampaignRun:
        found = self.campaigns.get(campaign)
        if found is None:
            raise UnknownCampaignError(campaign)
        return found

    def define(self, campaign: CampaignSettings) -> None:
        run = self.campaigns.get(campaign.name)
        if run is None:
            self.campaigns[campaign.name] = CampaignRun(
                campaign, CampaignState.STOPPED, Pacer(campaign.pacing)
            )
        else:
            run.settings = campaign

    def may_dial(self, tracked: Tracked) -> bool:
        run = self.campaigns.get(tracked.campaign)
        return run is None or run.running

    def take_actions(self) -> list[DialerAction]:
        out, self.actions = self.actions, []
        return out

    def rotate(self, targets: Sequence[str]) -> list[str]:
        """Targets in turn order, shifted every pass so no campaign always goes first."""
        if not targets:
            return []
        self.turn += 1
        shift = self.turn % len(targets)
        return [*targets[shift:], *targets[:shift]]

    def lines(self, queue: str) -> tuple[int, dict[str, int]]:
        """Customer-first legs up for ``queue``: in total and by campaign."""
        total, by_campaign = 0, dict[str, int]()
        for item_id in self.attempts.values():
            tracked = self.items[item_id]
            if tracked.customer_first and tracked.queue == queue and tracked.state in LINES:
                total += 1
                by_campaign[tracked.campaign] = by_campaign.get(tracked.campaign, 0) + 1
        return total, by_campaign

    # --- attempts -----------------------------------------------------------------------

    def new_attempt(self, tracked: Tracked) -> str:
        """A fresh id per attempt (and per reservation), so late reports are recognised."""
        attempt_id = f"{tracked.item.id}.{tracked.attempts + 1}.{self._rng.getrandbits(32):08x}"
        tracked.attempt_id = attempt_id
        self.attempts[attempt_id] = tracked.item.id
        return attempt_id

    def attempt(self, attempt_id: str) -> Tracked | None:
        item_id = self.attempts.get(attempt_id)
        return None if item_id is None else self.items[item_id]

    def forget_attempt(self, tracked: Tracked) -> None:
        if tracked.attempt_id is not None:
            self.attempts.pop(tracked.attempt_id, None)
            for kind in ATTEMPT_DEADLINES:
                self.deadlines.clear(kind, tracked.attempt_id)
        tracked.attempt_id = None
        tracked.agent_id = None
        tracked.answered_at = 0.0

    def forget(self, tracked: Tracked) -> None:
        """The item leaves the dialer (ended, or durable and not ours to keep)."""
        self.forget_attempt(tracked)
        item_id = tracked.item.id
        self.items.pop(item_id, None)
        self.deadlines.clear("due", item_id)
        tracked.ready = False

    def audit(self) -> list[str]:
        """Broken invariants, for tests and debugging (empty when all is well)."""
        problems = []
        for attempt_id, item_id in self.attempts.items():
            tracked = self.items.get(item_id)
            if tracked is None or tracked.attempt_id != attempt_id:
                problems.append(f"attempt {attempt_id} points at {item_id}, which is not on it")
        for item_id, tracked in self.items.items():
            active = tracked.state is not ItemState.WAITING
            if active != (tracked.attempt_id is not None):
                problems.append(f"item {item_id} is {tracked.state.value}, {tracked.attempt_id}")
            if tracked.ready and tracked.state is not ItemState.WAITING:
                problems.append(f"item {item_id} is in a ready line while {tracked.state.value}")
        return problems

    def remember_finished(self, item_id: str) -> None:
        self.finished[item_id] = None
        if len(self.finished) > FINISHED_MEMORY:
            del self.finished[next(iter(self.finished))]

    # --- ready lines --------------------------------------------------------------------

    def schedule(self, tracked: Tracked, due: float, now: float) -> None:
        tracked.due_at = due
        tracked.ready = False
        if due <= now:
            self.deadlines.clear("due", tracked.item.id)
            self.make_ready(tracked, now)
        else:
            self.deadlines.set("due", tracked.item.id, due)

    def make_ready(self, tracked: Tracked, now: float) -> None:
        """Due now: into the ready line, or rescheduled to its next calling window."""
        opens = self.opens(tracked, now)
        if opens > now:
            self.reschedule(tracked, opens, "calling_hours", now)
            return
        tracked.ready = True
        entry = (tracked.due_at, tracked.seq, tracked.item.id)
        heapq.heappush(self.ready.setdefault(tracked.target, []), entry)

    def opens(self, tracked: Tracked, now: float) -> float:
        tz = zone(tracked.item.time_zone, self.settings.time_zone)
        return next_open(tracked.policy.calling_hours, now, tz)

    def peek(self, target: str) -> Tracked | None:
        heap = self.ready.get(target)
        while heap:
            due, seq, item_id = heap[0]
            tracked = self.items.get(item_id)
            if (
                tracked is not None
                and tracked.ready
                and tracked.state is ItemState.WAITING
                and (tracked.due_at, tracked.seq) == (due, seq)
            ):
                return tracked
            heapq.heappop(heap)
        return None

    def take_ready(self, target: str, now: float) -> Tracked | None:
        """The next item to dial, checked against the DNC list and the calling hours now."""
        while (tracked := self.peek(target)) is not None:
            heapq.heappop(self.ready[target])
            tracked.ready = False
            if tracked.number in self.dnc:
                self.give_up(tracked, "dnc", now)
                continue
            opens = self.opens(tracked, now)
            if opens > now:
                self.reschedule(tracked, opens, "calling_hours", now)
                continue
            return tracked
        return None

    # --- the durable decisions ----------------------------------------------------------

    def retry_later(
        self, tracked: Tracked, outcome: DialOutcome, now: float, reason: RescheduleReason
    ) -> None:
        """After a failed attempt (``tracked`` is waiting again): reschedule, or give up."""
        self.forget_attempt(tracked)
        policy = tracked.policy
        if tracked.attempts >= policy.max_attempts:
            self.give_up(tracked, "max_attempts", now)
            return
        delay = backoff(policy.retry, outcome, tracked.attempts)
        self.reschedule(tracked, self.opens(tracked, now + delay), reason, now)
        run = self.campaigns.get(tracked.campaign)
        if run is not None and run.stopped:
            self.forget(tracked)  # it is durable; ``LeadsLoaded`` brings it back after a start

    def reschedule(
        self, tracked: Tracked, due: float, reason: RescheduleReason, now: float
    ) -> None:
        item = tracked.item
        attempts = tracked.attempts
        self.actions.append(
            Reschedule(
                item_id=item.id, kind=item.kind, due_at=due, attempts=attempts, reason=reason
            )
        )
        self.events.append(
            dev.DialRescheduled(
                at=now,
                item_id=item.id,
                kind=item.kind,
                reason=reason,
                due_at=due,
                attempts=attempts,
            )
        )
        self.schedule(tracked, due, now)

    def give_up(self, tracked: Tracked, reason: GiveUpReason, now: float) -> None:
        item = tracked.item
        attempts = tracked.attempts
        self.actions.append(
            GiveUp(item_id=item.id, kind=item.kind, reason=reason, attempts=attempts)
        )
        self.events.append(
            dev.DialGaveUp(
                at=now, item_id=item.id, kind=item.kind, reason=reason, attempts=attempts
            )
        )
        self.forget(tracked)
        self.remember_finished(item.id)
