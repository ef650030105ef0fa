"""The dialer's edge: feeds ``acd.dialer.Dialer`` from the store, the ACD and the calls, and
executes what it decides (agent-first dials through the call switch, store updates).

Durability (DESIGN.md §3, issue 8): store work runs on the thread pool but strictly one after
another, in the order the dialer asked for it; ``MarkDialing`` is committed before the
``Dial`` that follows it leaves (the customer's INVITE waits for the commit). At start the
attempts the store still has in ``dialing`` come back as ``Recovered``. Only the node whose
ACD is active (the leader) dials; a standby polls nothing.

Outcomes are read from the bus: ``DialAgentConnected`` (the agent took the attempt),
``CallFailed`` (the agent's or the customer's leg, with the SIP status), ``CallEstablished``
(the customer answered) and ``CallCleared``. Bus events are handled one reactor turn later,
so the dialer is never re-entered from inside a SIP flush.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool

from acd.dialer import Dialer
from acd.dialer_calls import AcdAgentPool, Attempt, Attempts
from acd.dialer_protocol import (
    AgentReserved,
    AgentsChanged,
    CallbackDue,
    CampaignCommand,
    CampaignDefined,
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
)
from acd.dialer_settings import DialerSettings
from cti_server import events as ev
from cti_server.adapters.timers import DeadlineTimer
from cti_server.call.dial_out import DialError, DialOut

log = logging.getLogger(__name__)
_DB_TO_DIALER = {"running": "running", "paused": "paused"}  # anything else: stopped


class DialerService:
    def __init__(
        self,
        settings: DialerSettings,
        dialer: Dialer,
        store: Any,  # cti_server.storage.dialer_store.DialerStore
        sip: Any,  # cti_server.adapters.sip_service.SipService
        acd: Any,
        reactor: Any,
        publish: Callable[[ev.Event], None],
    ) -> None:
        self.settings = settings
        self.dialer = dialer
        self._store = store
        self._sip = sip
        self._acd = acd
        self._reactor = reactor
        self._publish = publish
        self._timer = DeadlineTimer(reactor, self._on_timer)
        self._poller = LoopingCall(self.poll)
        self._poller.clock = reactor
        self._chain: Deferred[Any] = succeed(None)
        self._marked: Deferred[Any] = succeed(False)
        self._attempts = Attempts()
        self._recovered = False
        self._nudge: Any = None
        self.store_failures = 0

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._poller.start(self.settings.poll_interval, now=True)

    def stop(self) -> None:
        if self._poller.running:
            self._poller.stop()
        self._timer.stop()

    def _leader(self) -> bool:
        return bool(getattr(self._acd, "is_leader", True))

    def poll(self) -> Deferred[Any]:
        """Read what is due, the campaigns and the DNC list; feed what changed."""
        if not self._leader():
            return succeed(None)
        now = self._reactor.seconds()
        first = not self._recovered
        horizon = self.settings.poll_interval * 2

        def read() -> tuple[list[Any], list[Any], list[str], list[Any]]:
            recovered = self._store.recover_dialing() if first else []
            return (
                recovered,
                self._store.campaigns(),
                self._store.dnc_numbers(),
                self._store.due_items(now, horizon),
            )

        d = self._run_store(read)
        d.addCallback(self._polled, first)
        return d

    def _polled(self, found: Any, first: bool) -> None:
        if found is None:
            return
        recovered, campaigns, dnc, items = found
        if first:
            self._recovered = True
            if recovered:
                log.warning("dialer: %d attempts were in progress at the last stop", len(recovered))
                self.feed(Recovered(items=tuple(recovered)))
            if dnc:
                self.feed(DncUpdated(add=tuple(dnc)))
        for campaign in campaigns:
            self._sync_campaign(campaign)
        leads = tuple(i for i in items if i.kind == "lead" and i.campaign in self.dialer.campaigns)
        for item in items:
            if item.kind == "callback":
                self.feed(CallbackDue(item=item))
        if leads:
            self.feed(LeadsLoaded(items=leads))

    def _sync_campaign(self, campaign: Any) -> None:
        known = self.dialer.campaigns.get(campaign.name)
        self.feed(
            CampaignDefined(settings=campaign.settings(self.settings.campaign(campaign.name)))
        )
        wanted = _DB_TO_DIALER.get(campaign.status.value, "stopped")
        current = known.state.value if known is not None else "stopped"
        command = {
            ("stopped", "running"): "start",
            ("paused", "running"): "resume",
            ("running", "paused"): "pause",
            ("running", "stopped"): "stop",
            ("paused", "stopped"): "stop",
        }.get((current, wanted))
        if command is not None:
            self.feed(CampaignCommand(campaign=campaign.name, command=command, by="store"))

    # --- the core -----------------------------------------------------------------------

    def feed(self, item: DialerInput) -> None:
        now = self._reactor.seconds()
        try:
            actions = self.dialer.handle(item, now)
        except (ValueError, LookupError) as exc:
            log.warning("dialer refused %s: %s", type(item).__name__, exc)
            return
        self._after(actions)

    def _on_timer(self, now: float) -> None:
        self._after(self.dialer.on_timer(now))

    def _after(self, actions: list[DialerAction]) -> None:
        for event in self.dialer.drain_events():
            self._publish(event)
        for action in actions:
            self._execute(action)
        self._timer.rearm(self.dialer.next_deadline())

    def _execute(self, action: DialerAction) -> None:
        if isinstance(action, ReserveAgent):
            self._reserve(action)
        elif isinstance(action, MarkDialing):
            args = (action.item_id, action.kind, action.attempts, self._reactor.seconds())
            self._marked = self._run_store(self._store.mark_dialing, *args)
        elif isinstance(action, Dial):  # only once the MarkDialing just before it committed
            self._marked.addCallback(lambda applied, a=action: self._dial(a, applied))
        elif isinstance(action, HangUpCustomer | ReleaseAgent):
            attempt = self._attempts.get(action.attempt_id)
            if attempt is not None:
                cause = "abandoned" if isinstance(action, HangUpCustomer) else "released"
                self._later(self._sip.control, self._sip.switch.hang_up, attempt.call_id, cause)
        elif isinstance(action, Reschedule):
            args2 = (action.item_id, action.kind, action.due_at, action.attempts, action.reason)
            self._run_store(self._store.reschedule, *args2)
        elif isinstance(action, Complete):
            self._run_store(self._store.complete, action.item_id, action.kind, action.outcome)
        elif isinstance(action, GiveUp):
            args3 = (action.item_id, action.kind, action.reason, action.attempts)
            self._run_store(self._store.give_up, *args3)

    def _run_store(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """Store work, one at a time in order; a failure is logged and the chain goes on."""
        pool = self._reactor.getThreadPool()

        def step(_ignored: Any) -> Deferred[Any]:
            return deferToThreadPool(self._reactor, pool, fn, *args)

        def failed(failure: Any) -> None:
            self.store_failures += 1
            log.error("dialer store %s failed: %s", getattr(fn, "__name__", fn), failure.value)
            return None

        self._chain.addCallback(step)
        self._chain.addErrback(failed)
        result: Deferred[Any] = Deferred()
        self._chain.addCallback(lambda value: (result.callback(value), value)[1])
        return result

    def _later(self, fn: Callable[..., Any], *args: Any) -> None:
        self._reactor.callLater(0, self._guard, fn, *args)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except DialError as exc:
            log.info("dialer: %s", exc)

    # --- actions through the call switch ------------------------------------------------

    def _policy(self, kind: str, queue: str, campaign: str) -> Any:
        if kind == "callback":
            return self.settings.queue_policy(queue)
        return self.dialer.campaigns[campaign].settings

    def _reserve(self, action: ReserveAgent) -> None:
        free = AcdAgentPool(self._acd).free_agents(action.queue)
        if not free:
            self._later(self.feed, AgentReserved(attempt_id=action.attempt_id, ok=False))
            return
        if action.customer_first:
            self._connect_agent(action, free[0])
            return
        item = action.item
        policy = self._policy(item.kind, action.queue, item.campaign)
        req = DialOut(
            attempt_id=action.attempt_id,
            number=item.number,
            agent_id=free[0],
            queue=action.queue,
            kind=item.kind,
            item_id=item.id,
            caller_id=policy.caller_id or self.settings.caller_id,
            timeout=policy.ring_timeout,
            agent_timeout=action.timeout,
            customer_id=item.customer_id,
            campaign=item.campaign,
            note=item.note[:40],
            wait_for_dial=True,
        )
        try:
            call_id = self._sip.control(self._sip.switch.dial_out, req)
        except DialError as exc:
            log.info("dialer: attempt %s could not ring an agent: %s", action.attempt_id, exc)
            self._later(self.feed, AgentReserved(attempt_id=action.attempt_id, ok=False))
            return
        self._attempts.add(Attempt(action.attempt_id, call_id, req.agent_id))

    def _connect_agent(self, action: ReserveAgent, agent_id: str) -> None:
        attempt = self._attempts.get(action.attempt_id)
        try:
            if attempt is None or attempt.phase != "customer_waiting":
                raise DialError("gone", "the customer is no longer waiting")
            attempt.phase = "connecting"
            attempt.agent_id = agent_id
            control = self._sip.switch.connect_agent
            self._sip.control(control, attempt.call_id, agent_id, action.timeout)
        except DialError as exc:
            log.info("dialer: no agent for attempt %s: %s", action.attempt_id, exc)
            self._later(self.feed, AgentReserved(attempt_id=action.attempt_id, ok=False))

    def _dial_customer_first(self, action: Dial) -> None:
        req = DialOut(
            attempt_id=action.attempt_id,
            number=action.number,
            agent_id="",
            queue=action.queue,
            kind=action.kind,
            item_id=action.item_id,
            caller_id=action.caller_id,
            timeout=action.timeout,
            customer_id=action.customer_id,
            campaign=action.campaign,
            customer_first=True,
        )
        try:
            call_id = self._sip.control(self._sip.switch.dial_out, req)
        except DialError as exc:
            log.info("dialer: attempt %s could not dial: %s", action.attempt_id, exc)
            outcome: DialOutcome = "rejected" if exc.reason == "no_route" else "failed"
            self._later(self.feed, DialResult(attempt_id=action.attempt_id, outcome=outcome))
            return
        self._attempts.add(Attempt(action.attempt_id, call_id, "", phase="dialing"))

    def _dial(self, action: Dial, marked: bool | None) -> None:
        """``marked``: True committed; False the store no longer has the item pending (merged
        into a newer request, cancelled): forget it; None the store failed: not dialled."""
        attempt = self._attempts.get(action.attempt_id)
        if marked is False:
            log.info("dialer: %s %s changed in the store; not dialled", action.kind, action.item_id)
            if attempt is not None:
                self._later(
                    self._sip.control, self._sip.switch.hang_up, attempt.call_id, "released"
                )
            self._later(self.feed, ItemCancelled(item_id=action.item_id))
            return
        if marked is None:
            log.error("dialer: attempt %s not recorded as dialing; not dialled", action.attempt_id)
        elif action.customer_first:
            self._dial_customer_first(action)
            return
        if not marked or attempt is None or attempt.phase != "agent_on_line":
            self._later(self.feed, DialResult(attempt_id=action.attempt_id, outcome="failed"))
            return
        attempt.phase = "dialing"
        try:
            self._sip.control(
                self._sip.switch.dial_customer, attempt.call_id, action.caller_id, action.timeout
            )
        except DialError:
            self._later(self.feed, DialResult(attempt_id=action.attempt_id, outcome="failed"))

    # --- what the calls did -------------------------------------------------------------

    def on_event(self, event: ev.Event) -> None:
        """Bus subscriber: outcomes of our attempts, and agents or queues changing."""
        if isinstance(event, ev.AgentStateChanged | ev.CallAbandoned | ev.CallDequeued):
            if self._nudge is None or not self._nudge.active():
                self._nudge = self._reactor.callLater(0.05, self.feed, AgentsChanged())
            return
        report = self._attempts.on_event(event)
        if report is not None:
            self._later(self.feed, report)


def build_dialer_service(
    config: Any, reactor: Any, sip: Any, acd: Any, bus: Any, rng: Any
) -> DialerService:
    """The dialer on the configured database (callbacks, campaigns, DNC)."""
    from cti_server.storage import Database
    from cti_server.storage.dialer_store import DialerStore

    settings: DialerSettings = config.dialer
    dialer = Dialer(settings, AcdAgentPool(acd), rng)
    store = DialerStore(Database.from_config(config))
    service = DialerService(settings, dialer, store, sip, acd, reactor, bus.publish)
    bus.subscribe(service.on_event)
    return service
