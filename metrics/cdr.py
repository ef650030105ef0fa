"""The call record: a fold over one call's events (DESIGN.md §2 rule 5).

``fold(record, event)`` is pure: the record so far plus one event gives the next record, so a
record can be rebuilt from the event log at any time and SQL only stores the result
(``CallRecord.to_dict`` is the JSON in ``call_records.record``). The record's fields and the
outcome definitions are in :mod:`metrics.call_record`; :mod:`metrics.call_folder` keeps the
open records of a running server; :mod:`metrics.stats` works on finished ones;
:mod:`metrics.event_rows` maps events to the queue event log and the agent state log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cti_server import events as ev
from metrics.call_record import (
    ABANDONED_QUEUED,
    CALLER_CAUSES,
    AuthSummary,
    CallRecord,
    IvrVisit,
    Offer,
    Outcome,
    Transfer,
    classify,
)

__all__ = [
    "ABANDONED_QUEUED",
    "CALLER_CAUSES",
    "AuthSummary",
    "CallRecord",
    "IvrVisit",
    "Offer",
    "Outcome",
    "Transfer",
    "classify",
    "fold",
]


def fold(record: CallRecord | None, event: ev.Event) -> CallRecord | None:
    """The record after ``event``. ``None`` for an event not about a call (registrations,
    agent state without a call). Any call event can open a record (a fold started mid-call);
    ``call_delivered`` fills in who called. Agent events never open one: an agent's state
    change only matters to a record already in wrap-up with that agent."""
    if isinstance(event, ev.AgentStateChanged):
        return _agent_event(record, event) if record is not None else None
    call_id = getattr(event, "call_id", None)
    if not isinstance(call_id, str):
        return record
    if record is None:
        record = CallRecord(call_id=call_id, started_at=event.at)
    if record.cleared and not isinstance(event, ev.CallCleared):
        return record  # late news about a finished call changes nothing
    step = _STEPS.get(type(event))
    return step(record, event) if step is not None else record


def _agent_event(record: CallRecord, e: ev.AgentStateChanged) -> CallRecord:
    if isinstance(e, ev.AgentWorkingAfterCall) and e.call_id == record.call_id:
        if record.wrap_up_started_at is None:
            return replace(record, wrap_up_agent=e.agent_id, wrap_up_started_at=e.at)
        return record
    if record.in_wrap_up and e.agent_id == record.wrap_up_agent and e.previous == "wrap_up":
        started = record.wrap_up_started_at or e.at
        return replace(record, wrap_up_ended_at=e.at, wrap_up_seconds=e.at - started)
    return record


def _delivered(r: CallRecord, e: ev.CallDelivered) -> CallRecord:
    return replace(
        r, caller=e.caller, called=e.called, trunk=e.trunk, route=e.route, started_at=e.at
    )


def _dialed(r: CallRecord, e: ev.CallDialed) -> CallRecord:
    """A call the dialer placed: the customer is the "caller" the record is about."""
    return replace(
        r,
        caller=e.number,
        called=e.agent_id or "",
        route=f"dialer:{e.kind}",
        queue=e.queue or None,
        customer_id=e.customer_id or r.customer_id,
        callback_id=e.item_id if e.kind == "callback" else r.callback_id,
        started_at=e.at,
    )


def _ivr_started(r: CallRecord, e: ev.IvrStarted) -> CallRecord:
    return replace(r, ivr=IvrVisit(flow=e.flow, language=e.language, started_at=e.at))


def _ivr_node(r: CallRecord, e: ev.IvrNodeEntered) -> CallRecord:
    ivr = r.ivr or IvrVisit(flow=e.flow, language="", started_at=e.at)
    return replace(r, ivr=replace(ivr, path=(*ivr.path, e.node)))


def _ivr_ended(r: CallRecord, e: ev.IvrEnded) -> CallRecord:
    ivr = r.ivr or IvrVisit(flow=e.flow, language="", started_at=e.at)
    return replace(r, ivr=replace(ivr, outcome=e.outcome, ended_at=e.at))


def _identified(r: CallRecord, e: ev.CustomerIdentified) -> CallRecord:
    return replace(r, customer_id=e.customer_id)


def _auth(r: CallRecord, e: ev.AuthenticationAttempted) -> CallRecord:
    attempts = max(e.attempt, (r.auth.attempts + 1) if r.auth else 1)
    auth = AuthSummary(method=e.method, outcome=e.outcome, attempts=attempts)
    return replace(r, auth=auth, customer_id=e.customer_id or r.customer_id)


def _queued(r: CallRecord, e: ev.CallQueued) -> CallRecord:
    return replace(
        r,
        queue=r.queue or e.queue,
        queues=_visit(r.queues, e.queue),
        priority=e.priority if r.priority is None else r.priority,
        queued_at=e.at if r.queued_at is None else r.queued_at,
        customer_id=r.customer_id or e.customer_id,
        left_queue=None,
    )


def _visit(queues: tuple[str, ...], queue: str) -> tuple[str, ...]:
    return queues if queues and queues[-1] == queue else (*queues, queue)


def _offered(r: CallRecord, e: ev.CallOffered) -> CallRecord:
    return replace(r, offers=(*r.offers, Offer(agent_id=e.agent_id, queue=e.queue, at=e.at)))


def _close_offers(
    offers: tuple[Offer, ...], at: float, outcome: str, agent_id: str | None = None
) -> tuple[Offer, ...]:
    """Close the ringing offers (of ``agent_id`` only, when given) with ``outcome``."""
    return tuple(
        replace(o, outcome=outcome, ended_at=at)
        if o.outcome == "ringing" and (agent_id is None or o.agent_id == agent_id)
        else o
        for o in offers
    )


def _timed_out(r: CallRecord, e: ev.OfferTimedOut) -> CallRecord:
    return replace(r, offers=_close_offers(r.offers, e.at, "no_answer", e.agent_id))


def _declined(r: CallRecord, e: ev.OfferDeclined) -> CallRecord:
    return replace(r, offers=_close_offers(r.offers, e.at, "declined", e.agent_id))


def _dequeued(r: CallRecord, e: ev.CallDequeued) -> CallRecord:
    offer = next((o for o in reversed(r.offers) if o.agent_id == e.agent_id), None)
    offers = _close_offers(r.offers, e.at, "answered", e.agent_id)
    return replace(
        r,
        offers=_close_offers(offers, e.at, "withdrawn"),
        agent_id=e.agent_id,
        answered_at=e.at,
        wait_seconds=e.waited,
        ring_seconds=None if offer is None else e.at - offer.at,
        left_queue="answered",
    )


def _abandoned(r: CallRecord, e: ev.CallAbandoned) -> CallRecord:
    ringing = any(o.outcome == "ringing" for o in r.offers)
    return replace(
        r,
        offers=_close_offers(r.offers, e.at, "withdrawn"),
        queue=r.queue or e.queue,
        queues=_visit(r.queues, e.queue),
        wait_seconds=e.waited,
        left_queue="abandoned_ringing" if ringing else "abandoned",
    )


def _overflowed(r: CallRecord, e: ev.CallOverflowed) -> CallRecord:
    onward = e.target.startswith("queue:")
    return replace(
        r,
        offers=_close_offers(r.offers, e.at, "withdrawn"),
        queue=r.queue or e.queue,
        queues=_visit(r.queues, e.queue),
        overflow=e.target,
        wait_seconds=r.wait_seconds if onward or not r.queued else e.waited,
        left_queue=r.left_queue if onward else "overflowed",
    )


def _originated(r: CallRecord, e: ev.CallOriginated) -> CallRecord:
    ringing_offer = any(o.outcome == "ringing" and o.agent_id == e.agent_id for o in r.offers)
    if ringing_offer or r.answered_at is not None or r.dialed_at is not None:
        return r  # an ACD offer's leg, a transfer's leg or a retry to another contact
    return replace(r, dialed_at=e.at)


def _established(r: CallRecord, e: ev.CallEstablished) -> CallRecord:
    if r.answered_at is None:  # a direct call (a queued one was answered at call_dequeued)
        ring = None if r.dialed_at is None else e.at - r.dialed_at
        return replace(r, answered_at=e.at, agent_id=e.agent_id, ring_seconds=ring)
    if r.transfers and r.transfers[-1].connected_at is None:
        last = replace(r.transfers[-1], connected_at=e.at, agent_id=e.agent_id)
        return replace(r, transfers=(*r.transfers[:-1], last))
    return r


def _held(r: CallRecord, e: ev.CallHeld) -> CallRecord:
    if r.answered_at is None or r.held_since is not None:
        return r
    return replace(r, held_since=e.at, holds=r.holds + 1)


def _retrieved(r: CallRecord, e: ev.CallRetrieved) -> CallRecord:
    if r.held_since is None:
        return r
    return replace(r, held_since=None, hold_seconds=r.hold_seconds + e.at - r.held_since)


def _transferred(r: CallRecord, e: ev.CallTransferred) -> CallRecord:
    return replace(r, transfers=(*r.transfers, Transfer(at=e.at, target=e.target)))


def _voice_message(r: CallRecord, e: ev.VoiceMessageStarted) -> CallRecord:
    return replace(r, voice_message_for=e.agent_id or f"queue:{e.queue}")


def _callback(r: CallRecord, e: ev.CallbackRequested) -> CallRecord:
    return replace(r, callback_id=e.callback_id, customer_id=r.customer_id or e.customer_id)


def _cleared(r: CallRecord, e: ev.CallCleared) -> CallRecord:
    if r.cleared:
        return r
    r = replace(r, offers=_close_offers(r.offers, e.at, "withdrawn"))
    if r.held_since is not None:
        r = replace(r, held_since=None, hold_seconds=r.hold_seconds + e.at - r.held_since)
    if r.ivr is not None and r.ivr.ended_at is None:
        r = replace(r, ivr=replace(r.ivr, ended_at=e.at))
    talk = None if r.answered_at is None else max(0.0, e.at - r.answered_at - r.hold_seconds)
    wait = r.wait_seconds
    if wait is None and r.queued_at is not None:
        wait = e.at - r.queued_at
    r = replace(r, ended_at=e.at, cause=e.cause, status=e.status, talk_seconds=talk)
    return replace(r, wait_seconds=wait, outcome=classify(r))


_STEPS: dict[type[ev.Event], Callable[[CallRecord, Any], CallRecord]] = {
    ev.CallDelivered: _delivered,
    ev.CallDialed: _dialed,
    ev.IvrStarted: _ivr_started,
    ev.IvrNodeEntered: _ivr_node,
    ev.IvrEnded: _ivr_ended,
    ev.CustomerIdentified: _identified,
    ev.AuthenticationAttempted: _auth,
    ev.CallQueued: _queued,
    ev.CallOffered: _offered,
    ev.OfferTimedOut: _timed_out,
    ev.OfferDeclined: _declined,
    ev.CallDequeued: _dequeued,
    ev.CallAbandoned: _abandoned,
    ev.CallOverflowed: _overflowed,
    ev.CallOriginated: _originated,
    ev.CallEstablished: _established,
    ev.CallHeld: _held,
    ev.CallRetrieved: _retrieved,
    ev.CallTransferred: _transferred,
    ev.VoiceMessageStarted: _voice_message,
    ev.CallbackRequested: _callback,
    ev.CallCleared: _cleared,
}
