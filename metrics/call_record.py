"""The call record's shape: what :func:`metrics.cdr.fold` builds, and how a call ended.

Times are the events' ``at`` (epoch seconds); durations are seconds. ``to_dict`` is the JSON
stored in ``call_records.record``; ``from_dict`` reads it back (unknown keys ignored).

How a finished call ended, ``outcome`` (first rule that matches wins):

``answered``
    A person took the call: a queued call was connected to an agent (``call_dequeued``) or a
    directly routed call's outbound leg answered (``call_established``). Transfers later on
    do not change it.
``voice_message``
    The caller started recording a message (``voice_message_started``), for an agent who is
    away or for a queue that overflowed to voice mail.
``callback_requested``
    A callback request was committed (``callback_requested``), from the IVR or a queue
    overflow: not an abandon (Amazon Connect: queued callbacks are not abandons).
``abandoned_ringing``
    The caller hung up while an agent's phone rang: a ``call_abandoned`` while an offer was
    open, or a direct call cleared by the caller (``caller_hangup``/``cancelled``) before the
    dialled party answered.
``abandoned_in_queue``
    The caller hung up while waiting in a queue with no phone ringing (``call_abandoned``).
``overflowed``
    The queue sent the call out (``call_overflowed`` to voice mail, a callback or a goodbye)
    and it ended there without a message or a committed callback.
``abandoned_in_ivr``
    The caller hung up while the IVR (or a prompt before any queue) held the call, before it
    joined a queue or rang anyone. Not an abandon in the queue sense (Flex Insights).
``ivr_completed``
    The IVR ended the call itself (flow outcome ``hangup``: goodbye, closed hours, lock-out).
``rejected``
    The server refused the call before any flow, queue or ring: no route, unavailable,
    no media port, unacceptable codec (``call_cleared`` straight after ``call_delivered``).
``failed``
    Anything else: a direct call's leg failed (busy, no answer, unreachable), an IVR error,
    a queue that was not served, lost media.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields
from typing import Any

CALLER_CAUSES = frozenset({"caller_hangup", "cancelled"})
REFUSED_CAUSES = frozenset({"no_route", "unavailable", "no_media", "rejected"})
RECORD_VERSION = 1


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    VOICE_MESSAGE = "voice_message"
    CALLBACK_REQUESTED = "callback_requested"
    ABANDONED_RINGING = "abandoned_ringing"
    ABANDONED_IN_QUEUE = "abandoned_in_queue"
    OVERFLOWED = "overflowed"
    ABANDONED_IN_IVR = "abandoned_in_ivr"
    IVR_COMPLETED = "ivr_completed"
    REJECTED = "rejected"
    FAILED = "failed"


ABANDONED_QUEUED = frozenset({Outcome.ABANDONED_IN_QUEUE, Outcome.ABANDONED_RINGING})


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrVisit:
    """The call's run through an IVR flow; ``path`` is the node ids in the order entered."""

    flow: str
    language: str
    started_at: float
    path: tuple[str, ...] = ()
    outcome: str | None = None  # IvrEnded.outcome; None while the flow holds the call
    ended_at: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthSummary:
    """The IVR login: the last attempt's method and outcome, and how many attempts."""

    method: str
    outcome: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """One agent's phone ringing for the call. ``outcome``: ringing (still open), answered,
    no_answer (ring-no-answer), declined (busy/refused/unreachable) or withdrawn (the caller
    left, a colleague answered first, the call overflowed)."""

    agent_id: str
    queue: str
    at: float
    outcome: str = "ringing"
    ended_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    """A blind transfer (REFER) to ``target``; ``connected_at``/``agent_id`` once the new
    party answered."""

    at: float
    target: str
    connected_at: float | None = None
    agent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One call, as far as its events have been folded. ``outcome`` is None until cleared.

    ``queue`` is the first queue the call asked for; ``queues`` every queue it joined or
    overflowed from, in order. ``wait_seconds`` runs from the first queue entry to the answer,
    the abandon or the overflow out of the queues. ``talk_seconds`` is the connected time
    without hold (answer to clear minus ``hold_seconds``); ``wrap_up_seconds`` is the
    answering agent's after-call work, from ``agent_working_after_call`` to their next state.
    The last group of fields is fold bookkeeping, stored so a record can be folded further.
    """

    call_id: str
    started_at: float
    caller: str = ""
    called: str = ""
    trunk: str | None = None
    route: str = ""
    ivr: IvrVisit | None = None
    customer_id: str | None = None
    auth: AuthSummary | None = None
    queue: str | None = None
    queues: tuple[str, ...] = ()
    priority: int | None = None
    queued_at: float | None = None
    offers: tuple[Offer, ...] = ()
    overflow: str | None = None  # the last overflow target: queue:NAME, voicemail, callback
    agent_id: str | None = None
    answered_at: float | None = None
    wait_seconds: float | None = None
    ring_seconds: float | None = None
    talk_seconds: float | None = None
    hold_seconds: float = 0.0
    holds: int = 0
    wrap_up_seconds: float | None = None
    transfers: tuple[Transfer, ...] = ()
    voice_message_for: str | None = None  # the agent id, or queue:NAME
    callback_id: str | None = None
    outcome: Outcome | None = None
    cause: str | None = None
    status: int = 0
    ended_at: float | None = None
    disposition: str | None = None
    # --- bookkeeping ---
    left_queue: str | None = None  # answered | abandoned | abandoned_ringing | overflowed
    dialed_at: float | None = None  # a direct (not queued) outbound leg was placed
    held_since: float | None = None
    wrap_up_agent: str | None = None
    wrap_up_started_at: float | None = None
    wrap_up_ended_at: float | None = None

    @property
    def cleared(self) -> bool:
        return self.ended_at is not None

    @property
    def in_wrap_up(self) -> bool:
        return self.wrap_up_started_at is not None and self.wrap_up_ended_at is None

    @property
    def requested_agent(self) -> bool:
        """The caller asked for a person: the call went to a queue or rang someone directly."""
        return self.queue is not None or self.dialed_at is not None or bool(self.offers)

    @property
    def queued(self) -> bool:
        return self.queued_at is not None

    def offered_to(self) -> tuple[str, ...]:
        """Agents whose phone rang for this call, first offer first, each once."""
        return tuple(dict.fromkeys(o.agent_id for o in self.offers))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: nested records become objects, tuples lists, the outcome its value."""
        out: dict[str, Any] = _plain(asdict(self))
        out["outcome"] = None if self.outcome is None else self.outcome.value
        out["version"] = RECORD_VERSION
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        """The inverse of ``to_dict``; unknown keys (a newer writer) are ignored."""
        known = {f.name for f in fields(cls)}
        args = {k: v for k, v in data.items() if k in known}
        nested: dict[str, type[Any]] = {"ivr": IvrVisit, "auth": AuthSummary}
        for key, kind in nested.items():
            if isinstance(args.get(key), dict):
                args[key] = _build(kind, args[key])
        args["queues"] = tuple(args.get("queues") or ())
        args["offers"] = tuple(_build(Offer, o) for o in args.get("offers") or ())
        args["transfers"] = tuple(_build(Transfer, t) for t in args.get("transfers") or ())
        if args.get("outcome") is not None:
            args["outcome"] = Outcome(args["outcome"])
        return cls(**args)


def _build(kind: type[Any], data: dict[str, Any]) -> Any:
    known = {f.name for f in fields(kind)}
    return kind(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
    )


def _plain(value: Any) -> Any:
    """``asdict`` output with tuples as lists, so it equals its own JSON round trip."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def classify(r: CallRecord) -> Outcome:
    """The outcome rules of the module docstring, for a record with ``cause`` set."""
    caller_left = r.cause in CALLER_CAUSES
    if r.answered_at is not None:
        return Outcome.ANSWERED
    if r.voice_message_for is not None:
        return Outcome.VOICE_MESSAGE
    if r.callback_id is not None and not r.route.startswith("dialer:"):
        return Outcome.CALLBACK_REQUESTED
    if r.left_queue == "abandoned_ringing":
        return Outcome.ABANDONED_RINGING
    if r.left_queue == "abandoned":
        return Outcome.ABANDONED_IN_QUEUE
    if r.left_queue == "overflowed":
        return Outcome.OVERFLOWED
    if caller_left and r.dialed_at is not None:
        return Outcome.ABANDONED_RINGING
    if caller_left and r.queued:  # left the queue without a call_abandoned (a lost event)
        return Outcome.ABANDONED_IN_QUEUE
    if caller_left and r.ivr is not None:
        return Outcome.ABANDONED_IN_IVR
    if r.ivr is not None and r.ivr.outcome == "hangup":
        return Outcome.IVR_COMPLETED
    untouched = r.ivr is None and r.queue is None and r.dialed_at is None
    if untouched and (r.status >= 400 or r.cause in REFUSED_CAUSES):
        return Outcome.REJECTED
    return Outcome.FAILED
