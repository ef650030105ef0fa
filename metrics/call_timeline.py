"""A finished call as a timeline beside its recording (pure: a call record in, events out).

The review page plays a recording and lists what happened on the call next to it: the IVR
(its flow, the nodes the caller went through and how it ended), each queue entry, every
offer to an agent and how it ended, the answer, transfers, the end of the call and the
agent's wrap-up. Each entry carries ``offset``: seconds from the recording's start, the
position to seek to. The recording starts when an agent connects, so the IVR and the queue
come before it (negative offsets: "before the recording").

The fold keeps holds as a count and a total, not as moments, so holds are a summary line of
the call (``holds``/``hold_seconds``) rather than timeline entries; the recorder's marks
(pause, resume, secure entry, another agent after a transfer), when the index stored them as
the recording's ``segments``, are entries with their exact offset in the audio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metrics.call_record import CallRecord

# Ties at the same instant read in the order a call goes through them.
_ORDER = {
    kind: i
    for i, kind in enumerate((
        "call_started", "ivr_started", "ivr_ended", "queued", "offered", "offer_ended",
        "answered", "mark", "transferred", "transfer_connected", "cleared",
        "wrap_up_started", "wrap_up_ended",
    ))
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEvent:
    kind: str
    at: float  # epoch seconds
    offset: float  # seconds into the recording; negative before it started
    agent_id: str | None = None
    queue: str | None = None
    detail: str = ""  # outcome, target, cause or mark label
    path: tuple[str, ...] = ()  # the IVR nodes entered (ivr_ended)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "offset": round(self.offset, 3),
            "agent_id": self.agent_id,
            "queue": self.queue,
            "detail": self.detail,
            "path": list(self.path),
        }


def call_timeline(
    record: CallRecord | None,
    origin: float,
    marks: Iterable[Mapping[str, Any]] = (),
) -> list[TimelineEvent]:
    """The call's events in time order, offsets from ``origin`` (the recording's start).
    ``marks`` are the recording's segments (``{"label", "at"?, "offset_s"}``)."""
    found: list[TimelineEvent] = []

    def add(kind: str, at: float | None, **more: Any) -> None:
        if at is not None:
            found.append(TimelineEvent(kind=kind, at=at, offset=at - origin, **more))

    if record is not None:
        _call_events(record, add)
    for mark in marks:
        offset = mark.get("offset_s")
        if not isinstance(offset, int | float):
            continue
        at = mark.get("at")
        at = float(at) if isinstance(at, int | float) else origin + float(offset)
        found.append(TimelineEvent(kind="mark", at=at, offset=float(offset),
                                   detail=str(mark.get("label", ""))))  # fmt: skip
    return sorted(found, key=lambda e: (e.at, _ORDER.get(e.kind, 99)))


def _call_events(r: CallRecord, add: Any) -> None:
    add("call_started", r.started_at, detail=r.route)
    if r.ivr is not None:
        add("ivr_started", r.ivr.started_at, detail=r.ivr.flow)
        add("ivr_ended", r.ivr.ended_at, detail=r.ivr.outcome or "", path=r.ivr.path)
    add("queued", r.queued_at, queue=r.queue)
    for offer in r.offers:
        add("offered", offer.at, agent_id=offer.agent_id, queue=offer.queue)
        if offer.outcome not in ("answered", "ringing"):
            add("offer_ended", offer.ended_at, agent_id=offer.agent_id, queue=offer.queue,
                detail=offer.outcome)  # fmt: skip
    add("answered", r.answered_at, agent_id=r.agent_id, queue=r.queue)
    for transfer in r.transfers:
        add("transferred", transfer.at, detail=transfer.target)
        add("transfer_connected", transfer.connected_at, agent_id=transfer.agent_id,
            detail=transfer.target)  # fmt: skip
    add("cleared", r.ended_at, detail=r.cause or "")
    add("wrap_up_started", r.wrap_up_started_at, agent_id=r.wrap_up_agent)
    add("wrap_up_ended", r.wrap_up_ended_at, agent_id=r.wrap_up_agent)


__all__ = ["TimelineEvent", "call_timeline"]
