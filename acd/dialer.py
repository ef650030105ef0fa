"""The dialer: callbacks and campaign leads, dialled when agents are free (sans-IO).

``handle(input, now)`` applies one input (``acd.dialer_protocol``), runs a decision pass and
returns the actions for the host, in order; events come out of ``drain_events()``. Items
coming due, reservation and answer timeouts, lost dials and re-checks while blocked are
deadlines (``next_deadline()`` / ``on_timer(now)``). ``now`` is POSIX seconds (calling hours
are wall-clock local times).

A decision pass, per queue with work ready (due, inside calling hours):
1. Virtual hold: a first-attempt callback requested before the longest-waiting inbound
   caller of its queue arrived is ahead of them all and takes a free agent first.
   Blending: otherwise nothing while an inbound caller of the queue has waited longer than
   ``protection.max_inbound_wait`` or the queue's service level is under target; otherwise
   the free agents, less the inbound callers waiting, are the outbound budget.
2. Callbacks first (oldest due first), then agent-first campaigns: one ``ReserveAgent`` per
   free agent. The customer is dialled only once the agent is on the line.
3. Customer-first campaigns share what is left by the pacing rule (``acd.pacing``), taking
   turns one lead at a time.
Every dial is re-checked against the DNC list and the customer's calling hours at the moment
it goes out, so a window that closes while an agent is being reserved stops it.

Decisions on the ambiguous cases:
- ``rejected`` (the number does not exist) gives up at once: ``GiveUp(invalid_number)``.
- Agent-first, no agent found: back to waiting, no attempt counted, retried after
  ``reserve_retry`` seconds (in memory: the store still says pending, which is true).
- A live answer abandoned counts as an attempt and waits ``retry.abandoned`` (72 h).
- The call is ``Complete`` as soon as the customer talks to an agent, not when it ends, so a
  crash mid-conversation never redials someone who was served.
- An item re-sent while in flight is ignored; while waiting it is refreshed from the store.
  Ids that ended lately (complete, given up, cancelled) are remembered and not taken again.
- A stopped campaign forgets its waiting leads (they stay pending in the store: reload them
  with ``LeadsLoaded`` after ``start``); its calls in progress finish.
"""

from __future__ import annotations

from typing import Any

from acd.dialer_model import ItemState, Step, Tracked, UnknownCampaignError
from acd.dialer_outcomes import DialerOutcomes
from acd.dialer_protocol import (
    AgentPool,
    AgentReserved,
    AgentsChanged,
    CallbackDue,
    CallEnded,
    CampaignCommand,
    CampaignDefined,
    DialerAction,
    DialerInput,
    DialResult,
    DncUpdated,
    ItemCancelled,
    ItemKind,
    LeadsLoaded,
    Recovered,
    ReserveAgent,
    WorkItem,
)
from acd.dialer_settings import DialerSettings, DialPolicy
from acd.pacing import PacingView, lines_to_dial
from cti_server import events as ev
from cti_server.ids import RandomSource


class Dialer(DialerOutcomes):
    def __init__(self, settings: DialerSettings, pool: AgentPool, rng: RandomSource) -> None:
        super().__init__(settings, rng)
        self.pool = pool

    # --- the sans-IO interface ----------------------------------------------------------

    def handle(self, item: DialerInput, now: float) -> list[DialerAction]:
        self.actions = []
        match item:
            case CallbackDue():
                self._check(item.item, "callback")
                self._load(item.item, now)
            case LeadsLoaded():
                for work in item.items:
                    self._check(work, "lead")
                for work in item.items:
                    self._load(work, now)
            case Recovered():
                for work in item.items:
                    self._check(work, work.kind)
                for work in item.items:
                    self._recover(work, now)
            case ItemCancelled():
                self.cancel(item.item_id)
            case AgentReserved():
                self.reserved(item, now)
            case DialResult():
                self.result(item, now)
            case CallEnded():
                self.ended(item, now)
            case CampaignCommand():
                self.command(item, now)
            case CampaignDefined():
                self.define(item.settings)
            case DncUpdated():
                self._dnc(item, now)
            case AgentsChanged():
                pass
            case _:
                raise TypeError(f"not a dialer input: {item!r}")
        self._pass(now)
        return self.take_actions()

    def next_deadline(self) -> float | None:
        return self.deadlines.next()

    def on_timer(self, now: float) -> list[DialerAction]:
        self.actions = []
        while (due := self.deadlines.pop_due(now)) is not None:
            kind, key = due
            if kind == "due":
                tracked = self.items.get(key)
                if tracked is not None and tracked.state is ItemState.WAITING:
                    self.make_ready(tracked, now)
            elif kind != "poll":
                self.attempt_timed_out(kind, key, now)
        self._pass(now)
        return self.take_actions()

    def drain_events(self) -> list[ev.Event]:
        out = list(self.events)
        self.events.clear()
        return out

    # --- work coming in -------------------------------------------------------------------

    def _check(self, work: WorkItem, kind: ItemKind) -> None:
        """Refuse a bad batch before any of it is taken (nothing half-applied)."""
        if work.kind != kind:
            raise ValueError(f"item {work.id!r} is a {work.kind}, not a {kind}")
        if kind == "lead" and work.campaign not in self.campaigns:
            raise UnknownCampaignError(work.campaign)
        if kind == "callback" and not work.queue:
            raise ValueError(f"callback {work.id!r} has no queue")

    def _load(self, work: WorkItem, now: float) -> None:
        if work.id in self.finished:
            return
        tracked = self.items.get(work.id)
        if tracked is not None:
            if tracked.state is not ItemState.WAITING:
                return  # in flight: never dialled twice
            # Waiting: the store is the truth, except for our hold after no agent was found.
            tracked.item = work
            tracked.number = self.normalize(work.number)
            tracked.attempts = max(tracked.attempts, work.attempts)
        else:
            tracked = self._track(work)
        if not self._refused(tracked, now):
            self.schedule(tracked, max(work.due_at, tracked.hold_until), now)

    def _recover(self, work: WorkItem, now: float) -> None:
        """An attempt cut short by a restart: failed, rescheduled after its backoff."""
        if work.id in self.items:
            return
        tracked = self._track(work)
        tracked.attempts = max(1, work.attempts)
        if not self._refused(tracked, now):
            self.retry_later(tracked, "failed", now, "recovered")

    def _track(self, work: WorkItem) -> Tracked:
        policy: DialPolicy
        if work.kind == "lead":
            campaign = self.run(work.campaign).settings
            target, queue, policy = f"campaign:{campaign.name}", campaign.queue, campaign
            customer_first = campaign.customer_first
        else:
            target, queue = f"queue:{work.queue}", work.queue
            policy = self.settings.queue_policy(work.queue)
            customer_first = False
        self.seq += 1
        tracked = Tracked(
            item=work,
            number=self.normalize(work.number),
            target=target,
            queue=queue,
            campaign=work.campaign if work.kind == "lead" else "",
            policy=policy,
            customer_first=customer_first,
            seq=self.seq,
            attempts=work.attempts,
            due_at=work.due_at,
        )
        self.items[work.id] = tracked
        return tracked

    def _refused(self, tracked: Tracked, now: float) -> bool:
        """Give up at once on what must never be dialled (or has had its attempts)."""
        if not self.valid_number(tracked.number):
            self.give_up(tracked, "invalid_number", now)
        elif tracked.number in self.dnc:
            self.give_up(tracked, "dnc", now)
        elif tracked.attempts >= tracked.policy.max_attempts:
            self.give_up(tracked, "max_attempts", now)
        else:
            return False
        return True

    def _dnc(self, update: DncUpdated, now: float) -> None:
        self.dnc -= {self.normalize(n) for n in update.remove}
        self.dnc |= {self.normalize(n) for n in update.add}
        for tracked in list(self.items.values()):
            if tracked.state is ItemState.WAITING and tracked.number in self.dnc:
                self.give_up(tracked, "dnc", now)

    # --- the decision pass ----------------------------------------------------------------

    def _pass(self, now: float) -> None:
        self.pace(now)
        agent_first: dict[str, list[str]] = {}
        customer_first: dict[str, list[str]] = {}
        for target in sorted(self.ready):
            head = self.peek(target)
            if head is None or not self.may_dial(head):
                continue
            groups = customer_first if head.customer_first else agent_first
            groups.setdefault(head.queue, []).append(target)
        blocked = False
        for queue in sorted(agent_first.keys() | customer_first.keys()):
            ahead = self._serve_ahead(queue, now) if queue in agent_first else 0
            budget = self._budget(queue)
            if budget is None:
                blocked = True
                continue
            budget -= ahead
            budget = self._serve_agent_first(agent_first.get(queue, []), budget, now)
            self._serve_customer_first(queue, customer_first.get(queue, []), budget, now)
            targets = agent_first.get(queue, []) + customer_first.get(queue, [])
            blocked = blocked or any(self.peek(t) is not None for t in targets)
        if blocked:
            self.deadlines.set("poll", "", now + self.settings.poll_interval)
        else:
            self.deadlines.clear("poll", "")

    def _serve_ahead(self, queue: str, now: float) -> int:
        """Virtual hold: a callback requested before the longest-waiting inbound caller of
        its queue arrived is ahead of every caller waiting, so it takes a free agent first,
        whatever the inbound protection says. Only first attempts: a customer who did not
        answer has lost their place. Returns the agents taken."""
        waiting, longest = self.pool.inbound_waiting(queue)
        if not waiting:
            return 0
        free, taken, target = len(self.pool.free_agents(queue)), 0, f"queue:{queue}"
        while taken < free:
            head = self.peek(target)
            if head is None or head.attempts or head.due_at > now - longest:
                break
            tracked = self.take_ready(target, now)
            if tracked is None:
                break
            self._reserve(tracked, now)
            taken += 1
        return taken

    def _budget(self, queue: str) -> int | None:
        """Agents free for outbound work in ``queue``; None while inbound needs protecting."""
        protection = self.settings.protection
        waiting, longest = self.pool.inbound_waiting(queue)
        if waiting and longest > protection.max_inbound_wait:
            return None
        target = protection.service_level_target
        level = self.pool.service_level(queue)
        if target is not None and level is not None and level < target:
            return None
        return len(self.pool.free_agents(queue)) - waiting

    def _serve_agent_first(self, targets: list[str], budget: int, now: float) -> int:
        """Callbacks first, then agent-first campaigns in turn: one agent each."""
        callbacks = [t for t in targets if t.startswith("queue:")]
        turns = self.rotate([t for t in targets if t not in callbacks])
        for group in (callbacks, turns):
            active = list(group)
            while budget > 0 and active:
                for target in list(active):
                    tracked = self.take_ready(target, now) if budget > 0 else None
                    if tracked is None:
                        active.remove(target)
                        continue
                    self._reserve(tracked, now)
                    budget -= 1
        return budget

    def _serve_customer_first(
        self, queue: str, targets: list[str], budget: int, now: float
    ) -> None:
        in_progress, per_campaign = self.lines(queue)
        active = self.rotate(targets)
        while active:
            for target in list(active):
                run = self.campaigns[target.removeprefix("campaign:")]
                level = run.pacer.effective_level(now)
                full = per_campaign.get(run.settings.name, 0) >= run.settings.pacing.max_lines
                room = lines_to_dial(level, budget, in_progress)
                tracked = None if full or room <= 0 else self.take_ready(target, now)
                if tracked is None:
                    active.remove(target)
                    continue
                self.dial(tracked, now, agent_id=None)
                in_progress += 1
                per_campaign[run.settings.name] = per_campaign.get(run.settings.name, 0) + 1

    def _reserve(self, tracked: Tracked, now: float) -> None:
        attempt_id = self.new_attempt(tracked)
        tracked.apply(Step.RESERVE)
        timeout = tracked.policy.reserve_timeout
        self.actions.append(
            ReserveAgent(
                attempt_id=attempt_id,
                queue=tracked.queue,
                item=tracked.item,
                customer_first=False,
                timeout=timeout,
            )
        )
        self.deadlines.set("reserve", attempt_id, now + timeout)

    # --- queries --------------------------------------------------------------------------

    def item_state(self, item_id: str) -> str | None:
        tracked = self.items.get(item_id)
        return None if tracked is None else tracked.state.value

    def campaign_state(self, campaign: str) -> str:
        return self.run(campaign).state.value

    def pacing(self, campaign: str, now: float) -> PacingView:
        return self.run(campaign).pacer.view(now)

    def counts(self) -> dict[str, int]:
        out = {state.value: 0 for state in ItemState}
        for tracked in self.items.values():
            out[tracked.state.value] += 1
        return out

    def in_flight(self) -> list[dict[str, Any]]:
        """Items being dialled or talking, for the supervisor view."""
        return [
            {
                "item_id": t.item.id,
                "kind": t.item.kind,
                "state": t.state.value,
                "attempt_id": t.attempt_id,
                "attempts": t.attempts,
                "agent_id": t.agent_id,
                "queue": t.queue,
                "campaign": t.campaign,
            }
            for t in self.items.values()
            if t.state is not ItemState.WAITING
        ]
