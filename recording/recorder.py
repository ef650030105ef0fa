"""Recorder: decides, per call, when a recording opens, what each 20 ms frame holds, when it closes.

Theory of operation. Each call known to the recorder has a state from a table: IDLE (nothing
open), RECORDING or PAUSED. ``start`` (the API, or the queue policy "all" when the first agent
connects) opens a recording; ``pause``/``resume`` flip between RECORDING and PAUSED; ``stop``
closes it; ``call_ended`` closes whatever is open and forgets the call. An input the table does
not allow raises ``RecorderStateError`` naming the state and the input, so the API can answer 409.

The media tick calls ``feed`` once per 20 ms for every call with the decoded caller and agent
audio. An open recording gets exactly one frame per feed whatever it holds, so the file's timeline
is the call's timeline: while PAUSED, or while the call is *secure* (PIN or card entry, set by
the IVR), the frame is silence. Secure is a flag, not a state: it may be set before any recording
exists (the IVR runs before an agent answers) and it wins over RECORDING.

One recording per call across transfers: when another agent connects, the open recording gets a
``MarkSegment("agent:<id>")`` at its current offset instead of a new file. A ``stop`` then a
``start`` opens a second recording; the "all" policy starts a call's recording once, so an agent
who stopped it is not overridden by the next transfer.

Policy per queue: "all" (start when an agent connects), "on_demand" (only by the API) or "none"
(the API is refused with ``RecordingNotAllowed``). Voice messages (away agent, overflow) are mono
recordings of the caller through the same actions; the queue policy does not apply to them.

Ids come from an injected function; paths are ``<base>/<UTC day>/<id>.wav``. The sink writes to
``<path>.part`` and renames at close.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from cti_server.events import CallCleared, CallEstablished, CallOverflowed, CallQueued, Event
from recording import wav

FRAME_S: Final = wav.FRAME_SAMPLES / wav.SAMPLE_RATE
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RecordingPolicy(StrEnum):
    ALL = "all"
    NONE = "none"
    ON_DEMAND = "on_demand"


class RecordingKind(StrEnum):
    CALL = "call"
    VOICE_MESSAGE = "voice_message"


class State(Enum):
    IDLE = "idle"
    RECORDING = "recording"
    PAUSED = "paused"


class Input(Enum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


TRANSITIONS: Final[dict[tuple[State, Input], State]] = {
    (State.IDLE, Input.START): State.RECORDING,
    (State.RECORDING, Input.PAUSE): State.PAUSED,
    (State.PAUSED, Input.RESUME): State.RECORDING,
    (State.RECORDING, Input.STOP): State.IDLE,
    (State.PAUSED, Input.STOP): State.IDLE,
}


class RecorderError(Exception):
    """Base of the recorder's typed refusals."""


class RecorderStateError(RecorderError):
    def __init__(self, call_id: str, state: State, event: Input) -> None:
        super().__init__(f"call {call_id}: cannot {event.value} while {state.value}")
        self.call_id, self.state, self.event = call_id, state, event


class RecordingNotAllowed(RecorderError):
    def __init__(self, call_id: str, queue: str | None) -> None:
        super().__init__(f"call {call_id}: queue {queue!r} does not allow recording")
        self.call_id, self.queue = call_id, queue


class UnknownCall(RecorderError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id} is not known to the recorder")
        self.call_id = call_id


# --- actions (executed by recording.sink) -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenRecording:
    """Create ``path`` (as ``path + ".part"``) with an empty header; the index row starts here."""

    recording_id: str
    call_id: str
    path: str
    channels: int
    at: float
    kind: RecordingKind = RecordingKind.CALL
    queue: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteFrames:
    """Append interleaved PCM16 little-endian bytes (one or more whole frames)."""

    recording_id: str
    pcm: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkSegment:
    """A labelled point in the recording; ``offset_s`` is its position in the audio."""

    recording_id: str
    label: str
    at: float
    offset_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseRecording:
    recording_id: str
    at: float


RecordingAction = OpenRecording | WriteFrames | MarkSegment | CloseRecording


@dataclass(slots=True)
class CallMeta:
    queue: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None


@dataclass(slots=True)
class _Call:
    meta: CallMeta
    state: State = State.IDLE
    secure: bool = False
    auto_started: bool = False
    recording_id: str | None = None
    kind: RecordingKind = RecordingKind.CALL
    frames: int = 0
    agents: list[str] = field(default_factory=list)


class Recorder:
    """Sans-IO recording decisions; every method returns the actions for the sink, in order."""

    def __init__(
        self,
        new_id: Callable[[], str],
        base_dir: str,
        policies: Mapping[str, RecordingPolicy | str] | None = None,
        default_policy: RecordingPolicy | str = RecordingPolicy.ON_DEMAND,
    ) -> None:
        self._new_id = new_id
        self._base = base_dir.rstrip("/") or "/"
        self._policies = {q: RecordingPolicy(p) for q, p in (policies or {}).items()}
        self._default = RecordingPolicy(default_policy)
        self._calls: dict[str, _Call] = {}

    # --- queries ----------------------------------------------------------------------------

    def policy(self, queue: str | None) -> RecordingPolicy:
        return self._default if queue is None else self._policies.get(queue, self._default)

    def state(self, call_id: str) -> State:
        call = self._calls.get(call_id)
        return State.IDLE if call is None else call.state

    def recording_id(self, call_id: str) -> str | None:
        call = self._calls.get(call_id)
        return None if call is None else call.recording_id

    def active(self) -> dict[str, str]:
        """call_id -> recording_id of every open recording."""
        return {c: r.recording_id for c, r in self._calls.items() if r.recording_id is not None}

    def next_deadline(self) -> float | None:
        return None  # the media tick drives the recorder; it keeps no timers of its own

    # --- decision-level entry point ---------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[RecordingAction]:
        """Bus events the recorder reacts to; anything else is ignored."""
        if isinstance(event, CallCleared):
            return self.call_ended(event.call_id, now)
        if isinstance(event, CallEstablished) and event.agent_id is not None:
            return self.agent_connected(event.call_id, event.agent_id, now)
        if isinstance(event, CallQueued):  # the queue's policy and the index row's context
            self.set_context(event.call_id, queue=event.queue, customer_id=event.customer_id)
        elif isinstance(event, CallOverflowed) and event.target.startswith("queue:"):
            self.set_context(event.call_id, queue=event.target.removeprefix("queue:"))
        return []

    # --- call context -----------------------------------------------------------------------

    def set_context(
        self, call_id: str, *, queue: str | None = None, customer_id: str | None = None
    ) -> None:
        """What the index row will say about the call (queue routing, IVR identification)."""
        meta = self._call(call_id).meta
        meta.queue = queue if queue is not None else meta.queue
        meta.customer_id = customer_id if customer_id is not None else meta.customer_id

    def agent_connected(
        self, call_id: str, agent_id: str, now: float, *, queue: str | None = None
    ) -> list[RecordingAction]:
        """An agent is now talking to the caller (first answer or after a transfer)."""
        call = self._call(call_id)
        if queue is not None:
            call.meta.queue = queue
        call.meta.agent_id = agent_id
        call.agents.append(agent_id)
        if call.recording_id is not None:
            return [self._mark(call, f"agent:{agent_id}", now)]
        if not call.auto_started and self.policy(call.meta.queue) is RecordingPolicy.ALL:
            call.auto_started = True
            return self._open(call_id, call, now, RecordingKind.CALL)
        return []

    def set_secure(self, call_id: str, on: bool, now: float) -> list[RecordingAction]:
        """PIN/card entry: nothing the caller or agent says reaches the file until it is off."""
        call = self._call(call_id)
        if call.secure == on:
            return []
        call.secure = on
        if call.recording_id is None:
            return []
        return [self._mark(call, "secure" if on else "secure_end", now)]

    # --- API controls -----------------------------------------------------------------------

    def start(
        self, call_id: str, now: float, meta: CallMeta | None = None
    ) -> list[RecordingAction]:
        call = self._call(call_id)
        if meta is not None:
            self._merge(call.meta, meta)
        if self.policy(call.meta.queue) is RecordingPolicy.NONE:
            raise RecordingNotAllowed(call_id, call.meta.queue)
        self._step(call_id, call, Input.START)
        return self._open(call_id, call, now, RecordingKind.CALL)

    def start_voice_message(
        self, call_id: str, now: float, meta: CallMeta | None = None
    ) -> list[RecordingAction]:
        """A mono recording of the caller (away agent, overflow); ``stop`` or hangup ends it."""
        call = self._call(call_id)
        if meta is not None:
            self._merge(call.meta, meta)
        self._step(call_id, call, Input.START)
        return self._open(call_id, call, now, RecordingKind.VOICE_MESSAGE)

    def pause(self, call_id: str, now: float) -> list[RecordingAction]:
        call = self._known(call_id)
        self._step(call_id, call, Input.PAUSE)
        return [self._mark(call, "paused", now)]

    def resume(self, call_id: str, now: float) -> list[RecordingAction]:
        call = self._known(call_id)
        self._step(call_id, call, Input.RESUME)
        return [self._mark(call, "resumed", now)]

    def stop(self, call_id: str, now: float) -> list[RecordingAction]:
        call = self._known(call_id)
        self._step(call_id, call, Input.STOP)
        return self._close(call, now)

    def call_ended(self, call_id: str, now: float) -> list[RecordingAction]:
        call = self._calls.pop(call_id, None)
        if call is None or call.recording_id is None:
            return []
        return self._close(call, now)

    # --- media tick -------------------------------------------------------------------------

    def feed(
        self,
        call_id: str,
        caller_pcm: npt.ArrayLike | None,
        agent_pcm: npt.ArrayLike | None,
        now: float,
    ) -> list[RecordingAction]:
        """One 20 ms tick of decoded audio (``None`` where a side sent nothing)."""
        call = self._calls.get(call_id)
        if call is None or call.recording_id is None:
            return []
        call.frames += 1
        stereo = call.kind is RecordingKind.CALL
        if call.state is State.PAUSED or call.secure:
            pcm = wav.STEREO_SILENCE if stereo else wav.MONO_SILENCE
        elif stereo:
            pcm = wav.interleave(caller_pcm, agent_pcm)
        else:
            pcm = wav.mono(caller_pcm)
        return [WriteFrames(recording_id=call.recording_id, pcm=pcm)]

    def feed_many(
        self,
        call_ids: Sequence[str],
        caller: npt.ArrayLike,
        agent: npt.ArrayLike,
        now: float,
    ) -> list[RecordingAction]:
        """``feed`` for a whole tick: row ``i`` of the ``(calls, 160)`` arrays is ``call_ids[i]``.

        The media tick should put silence (zeros) in the rows of sides that sent nothing.
        """
        callers = np.asarray(caller, dtype=np.int16)
        stereo = wav.interleave_many(callers, agent)
        n = callers.shape[1]
        size = n * 4
        actions: list[RecordingAction] = []
        for i, call_id in enumerate(call_ids):
            call = self._calls.get(call_id)
            if call is None or call.recording_id is None:
                continue
            call.frames += 1
            if call.kind is RecordingKind.VOICE_MESSAGE:
                silent = call.state is State.PAUSED or call.secure
                pcm = wav.mono(None if silent else callers[i], n)
            elif call.state is State.PAUSED or call.secure:
                pcm = wav.interleave(None, None, n)
            else:
                pcm = stereo[i * size : (i + 1) * size]
            actions.append(WriteFrames(recording_id=call.recording_id, pcm=pcm))
        return actions

    # --- internals --------------------------------------------------------------------------

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(meta=CallMeta())
        return call

    def _known(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall(call_id)
        return call

    @staticmethod
    def _merge(into: CallMeta, new: CallMeta) -> None:
        into.queue = new.queue if new.queue is not None else into.queue
        into.agent_id = new.agent_id if new.agent_id is not None else into.agent_id
        into.customer_id = new.customer_id if new.customer_id is not None else into.customer_id

    @staticmethod
    def _step(call_id: str, call: _Call, event: Input) -> None:
        nxt = TRANSITIONS.get((call.state, event))
        if nxt is None:
            raise RecorderStateError(call_id, call.state, event)
        call.state = nxt

    def _open(
        self, call_id: str, call: _Call, now: float, kind: RecordingKind
    ) -> list[RecordingAction]:
        recording_id = self._new_id()
        if not _SAFE_ID.match(recording_id):
            raise ValueError(f"recording id {recording_id!r} is not safe in a file name")
        call.state = State.RECORDING
        call.recording_id, call.kind, call.frames = recording_id, kind, 0
        call.auto_started = call.auto_started or kind is RecordingKind.CALL
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        meta = call.meta
        actions: list[RecordingAction] = [
            OpenRecording(
                recording_id=recording_id,
                call_id=call_id,
                path=f"{self._base}/{day}/{recording_id}.wav",
                channels=2 if kind is RecordingKind.CALL else 1,
                at=now,
                kind=kind,
                queue=meta.queue,
                agent_id=meta.agent_id,
                customer_id=meta.customer_id,
            )
        ]
        if kind is RecordingKind.CALL and meta.agent_id is not None:
            actions.append(self._mark(call, f"agent:{meta.agent_id}", now))
        if call.secure:
            actions.append(self._mark(call, "secure", now))
        return actions

    @staticmethod
    def _mark(call: _Call, label: str, now: float) -> MarkSegment:
        assert call.recording_id is not None
        return MarkSegment(
            recording_id=call.recording_id, label=label, at=now, offset_s=call.frames * FRAME_S
        )

    @staticmethod
    def _close(call: _Call, now: float) -> list[RecordingAction]:
        assert call.recording_id is not None
        action = CloseRecording(recording_id=call.recording_id, at=now)
        call.state, call.recording_id, call.frames = State.IDLE, None, 0
        return [action]
