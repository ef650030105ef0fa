"""What the dialer does with the host's reports: reservations, dial results, call ends,
cancellations, campaign commands, and the timeouts that stand in for reports that never came.

Every report names an attempt; one that is no longer current (the attempt ended, timed out
or was cancelled) is a race and is ignored, except that an agent reserved for it is released.
A current attempt in a state the report does not fit is a protocol error
(``IllegalDialTransition`` from the state table).
"""

from __future__ import annotations

from acd.dialer_model import ItemState, Step, Tracked, campaign_next
from acd.dialer_protocol import (
    AgentReserved,
    CallEnded,
    CampaignCommand,
    Complete,
    Dial,
    DialResult,
    HangUpCustomer,
    MarkDialing,
    ReleaseAgent,
    ReserveAgent,
)
from acd.dialer_state import LOST_DIAL_GRACE, CampaignRun, DialerState
from cti_server.events import dialer as dev


class DialerOutcomes(DialerState):
    def dial(self, tracked: Tracked, now: float, agent_id: str | None) -> None:
        """MarkDialing, then Dial: the host commits the first before it sends the second."""
        if tracked.state is ItemState.WAITING:
            self.new_attempt(tracked)
            tracked.apply(Step.DIAL)
        else:
            tracked.apply(Step.AGENT_READY)
        attempt_id = tracked.attempt_id
        assert attempt_id is not None
        tracked.attempts += 1
        tracked.agent_id = agent_id
        item, policy = tracked.item, tracked.policy
        self.actions.append(
            MarkDialing(
                attempt_id=attempt_id, item_id=item.id, kind=item.kind, attempts=tracked.attempts
            )
        )
        self.actions.append(
            Dial(
                attempt_id=attempt_id,
                item_id=item.id,
                kind=item.kind,
                number=tracked.number,
                caller_id=policy.caller_id or self.settings.caller_id,
                queue=tracked.queue,
                campaign=tracked.campaign,
                customer_first=tracked.customer_first,
                agent_id=agent_id,
                timeout=policy.ring_timeout,
                customer_id=item.customer_id,
            )
        )
        self.deadlines.set("dial", attempt_id, now + policy.ring_timeout + LOST_DIAL_GRACE)
        run = self.campaigns.get(tracked.campaign)
        if run is None:
            self.events.append(
                dev.CallbackDialed(
                    at=now,
                    callback_id=item.id,
                    attempt_id=attempt_id,
                    queue=tracked.queue,
                    attempt=tracked.attempts,
                    agent_id=agent_id,
                )
            )
        else:
            level = run.pacer.effective_level(now) if tracked.customer_first else 1.0
            self.events.append(
                dev.LeadDialed(
                    at=now,
                    lead_id=item.id,
                    attempt_id=attempt_id,
                    campaign=run.settings.name,
                    queue=tracked.queue,
                    attempt=tracked.attempts,
                    level=level,
                    agent_id=agent_id,
                )
            )

    # --- reports ------------------------------------------------------------------------

    def reserved(self, report: AgentReserved, now: float) -> None:
        tracked = self.attempt(report.attempt_id)
        if tracked is None:
            if report.ok:  # too late: we no longer need them
                self.actions.append(ReleaseAgent(attempt_id=report.attempt_id))
            return
        if tracked.state is ItemState.CONNECTING:
            if report.ok:
                self._connect(tracked, now, report.agent_id)
            else:
                self._abandon(tracked, now, hang_up=True)
            return
        if tracked.state is not ItemState.RESERVING:
            tracked.apply(Step.AGENT_READY if report.ok else Step.RELEASE)  # raises
            return
        if not report.ok:
            self._unreserve(tracked, now, release=False)
        elif tracked.number in self.dnc:
            self.actions.append(ReleaseAgent(attempt_id=report.attempt_id))
            self.give_up(tracked, "dnc", now)
        elif not self.may_dial(tracked) or self.opens(tracked, now) > now:
            self._unreserve(tracked, now, release=True)  # paused, or the window just closed
        else:
            self.dial(tracked, now, report.agent_id)

    def result(self, report: DialResult, now: float) -> None:
        tracked = self.attempt(report.attempt_id)
        if tracked is None:
            return
        outcome = report.outcome
        if tracked.state is ItemState.CONNECTING and outcome != "answered":
            self._abandon(tracked, now, hang_up=False)  # the customer left before an agent came
        elif outcome == "answered" and tracked.customer_first:
            tracked.apply(Step.ANSWER)
            self.deadlines.clear("dial", report.attempt_id)
            tracked.answered_at = now
            grace = self.run(tracked.campaign).settings.pacing.answer_grace
            self.actions.append(
                ReserveAgent(
                    attempt_id=report.attempt_id,
                    queue=tracked.queue,
                    item=tracked.item,
                    customer_first=True,
                    timeout=grace,
                )
            )
            self.deadlines.set("grace", report.attempt_id, now + grace)
        elif outcome == "answered":
            self._connect(tracked, now, tracked.agent_id)
        elif outcome == "abandoned":
            tracked.answered_at = tracked.answered_at or now
            self._abandon(tracked, now, hang_up=False)
        else:
            tracked.apply(Step.RETRY)
            if not tracked.customer_first:
                self.actions.append(ReleaseAgent(attempt_id=report.attempt_id))
            if outcome == "rejected":
                self.give_up(tracked, "invalid_number", now)
            else:
                self.retry_later(tracked, outcome, now, outcome)

    def ended(self, report: CallEnded, now: float) -> None:
        tracked = self.attempt(report.attempt_id)
        if tracked is None:
            return
        if tracked.state is ItemState.CONNECTED:
            self.events.append(
                dev.OutboundCallEnded(
                    at=now,
                    attempt_id=report.attempt_id,
                    item_id=tracked.item.id,
                    kind=tracked.item.kind,
                    disposition=report.disposition,
                )
            )
            self.forget(tracked)
        elif tracked.state is ItemState.CONNECTING:
            self._abandon(tracked, now, hang_up=False)
        elif tracked.state is ItemState.RESERVING:  # the agent's leg ended before the dial
            self._unreserve(tracked, now, release=False)
        else:  # DIALING: a leg went away before a result; end the other one too
            self._fail(
                tracked, now, HangUpCustomer(attempt_id=report.attempt_id, reason="cancelled")
            )

    def cancel(self, item_id: str) -> None:
        self.remember_finished(item_id)
        tracked = self.items.get(item_id)
        if tracked is None or tracked.state is ItemState.CONNECTED:
            return  # unknown, or already talking to an agent: nothing to stop
        attempt_id = tracked.attempt_id
        if attempt_id is not None:
            if tracked.state is not ItemState.RESERVING:
                self.actions.append(HangUpCustomer(attempt_id=attempt_id, reason="cancelled"))
            self.actions.append(ReleaseAgent(attempt_id=attempt_id))
        self.forget(tracked)

    def attempt_timed_out(self, kind: str, attempt_id: str, now: float) -> None:
        tracked = self.attempt(attempt_id)
        if tracked is None:
            return
        if kind == "reserve" and tracked.state is ItemState.RESERVING:
            self._unreserve(tracked, now, release=True)
        elif kind == "grace" and tracked.state is ItemState.CONNECTING:
            self._abandon(tracked, now, hang_up=True)
        elif kind == "dial" and tracked.state is ItemState.DIALING:  # the host lost the call
            self._fail(tracked, now, HangUpCustomer(attempt_id=attempt_id, reason="timeout"))

    # --- campaigns ----------------------------------------------------------------------

    def command(self, command: CampaignCommand, now: float) -> None:
        run = self.run(command.campaign)
        previous = run.state
        run.state = campaign_next(command.campaign, previous, command.command)
        self.events.append(
            dev.CampaignStateChanged(
                at=now,
                campaign=command.campaign,
                state=run.state.value,
                previous=previous.value,
                by=command.by,
            )
        )
        run.pacer.adjusted_at = None  # a paused or stopped spell does not count
        if run.stopped:
            for tracked in list(self.items.values()):
                if tracked.campaign == command.campaign and tracked.state is ItemState.WAITING:
                    self.forget(tracked)

    def pace(self, now: float) -> None:
        """Pacing adjustments due for the running campaigns (at every decision pass)."""
        for run in self.campaigns.values():
            previous = run.pacer.level
            if run.running and run.pacer.tick(now):
                self._paced(run, previous, now)

    # --- the ways an attempt ends -------------------------------------------------------

    def _connect(self, tracked: Tracked, now: float, agent_id: str | None) -> None:
        step = Step.AGENT_READY if tracked.state is ItemState.CONNECTING else Step.BRIDGE
        tracked.apply(step)
        tracked.agent_id = agent_id or tracked.agent_id
        attempt_id = tracked.attempt_id or ""
        for kind in ("dial", "grace"):
            self.deadlines.clear(kind, attempt_id)
        item = tracked.item
        self.actions.append(Complete(item_id=item.id, kind=item.kind))
        self.remember_finished(item.id)
        if item.kind == "callback":
            self.events.append(
                dev.CallbackCompleted(
                    at=now,
                    callback_id=item.id,
                    attempt_id=attempt_id,
                    queue=tracked.queue,
                    attempts=tracked.attempts,
                    agent_id=tracked.agent_id,
                )
            )
        else:
            self.events.append(
                dev.LeadCompleted(
                    at=now,
                    lead_id=item.id,
                    attempt_id=attempt_id,
                    campaign=tracked.campaign,
                    attempts=tracked.attempts,
                    agent_id=tracked.agent_id,
                )
            )
        if tracked.customer_first:
            self._record(tracked, now, abandoned=False)

    def _abandon(self, tracked: Tracked, now: float, *, hang_up: bool) -> None:
        """A live answer with no agent in time: drop it politely, count it, retry later."""
        attempt_id = tracked.attempt_id or ""
        tracked.apply(Step.ABANDON)
        if hang_up:
            self.actions.append(HangUpCustomer(attempt_id=attempt_id, reason="abandoned"))
        self.actions.append(ReleaseAgent(attempt_id=attempt_id))
        self.events.append(
            dev.DialAbandoned(
                at=now,
                attempt_id=attempt_id,
                item_id=tracked.item.id,
                campaign=tracked.campaign,
                queue=tracked.queue,
                waited=now - tracked.answered_at if tracked.answered_at else 0.0,
            )
        )
        if tracked.customer_first:
            self._record(tracked, now, abandoned=True)
        self.retry_later(tracked, "abandoned", now, "abandoned")

    def _fail(self, tracked: Tracked, now: float, hang_up: HangUpCustomer) -> None:
        tracked.apply(Step.RETRY)
        self.actions.append(hang_up)
        self.actions.append(ReleaseAgent(attempt_id=hang_up.attempt_id))
        self.retry_later(tracked, "failed", now, "failed")

    def _unreserve(self, tracked: Tracked, now: float, *, release: bool) -> None:
        """No agent (or no longer allowed to dial): back to waiting, no attempt counted."""
        tracked.apply(Step.RELEASE)
        if release and tracked.attempt_id is not None:
            self.actions.append(ReleaseAgent(attempt_id=tracked.attempt_id))
        self.forget_attempt(tracked)
        run = self.campaigns.get(tracked.campaign)
        if run is not None and run.stopped:
            self.forget(tracked)
            return
        tracked.hold_until = now + tracked.policy.reserve_retry
        self.schedule(tracked, max(tracked.due_at, tracked.hold_until), now)

    def _record(self, tracked: Tracked, now: float, *, abandoned: bool) -> None:
        run = self.run(tracked.campaign)
        previous = run.pacer.level
        if run.pacer.record(now, abandoned):
            self._paced(run, previous, now)

    def _paced(self, run: CampaignRun, previous: float, now: float) -> None:
        view = run.pacer.view(now)
        self.events.append(
            dev.PacingChanged(
                at=now,
                campaign=run.settings.name,
                level=run.pacer.level,
                previous=previous,
                abandon_rate=view.rate,
                live=view.live,
                abandoned=view.abandoned,
            )
        )
