"""Recording at the edge: bus events and the media tick in, the file sink and the index out.

Every 20 ms tick the taps of each recorded call's two legs (caller, agent) are drained,
decoded and cut to exactly one frame per side, so both channels stay aligned to wall time
whatever the network jitter; the ``Recorder`` core decides what is written (audio, or
silence while paused or secure); the sink writes off the reactor thread. The index row is
created when a recording opens and completed when the sink reports it closed; files left
by a crash are repaired at start-up and their rows marked ``repaired``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cti_server.call.switch import CallSwitch
from cti_server.events import Event, VoiceMessageStarted
from cti_server.rtp.g711 import ALAW2LIN, ULAW2LIN, alaw_decode, ulaw_decode
from recording.files import RecordingClosed
from recording.recorder import CallMeta, OpenRecording, Recorder, RecordingAction
from recording.sink import RecordingSink, recover

log = logging.getLogger(__name__)
FRAME = 160
MAX_BACKLOG = FRAME * 4  # keep at most 80 ms queued per side: latency over completeness
INDEX_JOURNAL = ".index-journal"  # in the recordings directory
Index = Callable[[str, dict[str, Any]], None]  # (operation, fields) -> schedule a DB write


class ClosedLog:
    """The recordings closed so far, as the metrics read them: ``len`` counts every one ever
    appended and ``log[i:]`` returns those from the i-th on, but only the last ``keep`` are
    held (a server that runs for months must not keep every recording's summary)."""

    def __init__(self, keep: int = 1_000) -> None:
        self._items: deque[RecordingClosed] = deque(maxlen=keep)
        self._count = 0

    def append(self, item: RecordingClosed) -> None:
        self._items.append(item)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[RecordingClosed]:
        return iter(self._items)

    def __getitem__(self, index: slice) -> list[RecordingClosed]:
        if not isinstance(index, slice) or index.stop is not None or index.step not in (None, 1):
            raise TypeError("a ClosedLog reads as log[i:] only")
        first = self._count - len(self._items)  # the number of the oldest one held
        return list(islice(self._items, max(index.start or 0, first) - first, None))


class RecordingService:
    def __init__(
        self,
        recorder: Recorder,
        sink: RecordingSink,
        switch: CallSwitch,
        clock: Any,
        call_from_thread: Callable[..., None],
        index: Index,
    ) -> None:
        self.recorder = recorder
        self._sink = sink
        self._switch = switch
        self._clock = clock
        self._call_from_thread = call_from_thread
        self._index = index
        self._buffers: dict[str, npt.NDArray[np.int16]] = {}
        self.closed = ClosedLog()
        self.repo: Any = None  # the index repository, for the API's searches
        self.retention: Any = None  # the hourly retention job

    def start(self, directory: Path) -> None:
        """Repair what a crash left open, then record. The index journals its operations
        next to the files (``.index-journal``), so an outage or a crash loses no row."""
        open_journal = getattr(self._index, "open_journal", None)
        if open_journal is not None:
            open_journal(Path(directory) / INDEX_JOURNAL, self._clock)
        for repaired in recover(directory):
            log.warning(
                "recording %s was left open by a crash: repaired (%.1f s)",
                repaired.path,
                repaired.duration_s,
            )
            self._index(
                "repaired",
                {
                    # "R1.wav", or "R1.recovered.wav" when "R1.wav" was there already
                    "id": Path(repaired.path).name.split(".", 1)[0],
                    "path": repaired.path,
                    "duration_s": repaired.duration_s,
                    "bytes": repaired.bytes,
                    "sha256": repaired.sha256,
                },
            )
        self._sink.start()

    def stop(self) -> None:
        self._sink.stop(timeout=10)

    # --- inputs -----------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Bus subscriber: an agent connected (start per policy, mark transfers), a voice
        message began (always recorded, whatever the policy), the call ended."""
        now = self._clock.seconds()
        if isinstance(event, VoiceMessageStarted):
            meta = CallMeta(agent_id=event.agent_id)
            self._submit(self.recorder.start_voice_message(event.call_id, now, meta))
            return
        self._submit(self.recorder.handle(event, now))

    def command(self, call_id: str, action: str) -> list[RecordingAction]:
        """API: start, stop, pause or resume the recording of a call (errors propagate)."""
        now = self._clock.seconds()
        actions = getattr(self.recorder, action)(call_id, now)
        self._submit(actions)
        return actions  # type: ignore[no-any-return]

    def on_tick(self, now: float) -> None:
        active = self.recorder.active()
        media = self._switch.media
        if not active or media is None:
            return
        calls = self._switch.controller.calls
        ids: list[str] = []
        sides: list[str | None] = []  # rows 2i and 2i+1: call i's caller and agent legs
        for call_id in active:
            call = calls.get(call_id)
            if call is not None:
                ids.append(call_id)
                sides += [call.inbound.leg_id, call.peer.leg_id if call.peer else None]
        if not ids:
            return
        frames = np.zeros((len(sides), FRAME), dtype=np.int16)
        # The common case, one 20 ms payload waiting and no backlog, is decoded for every
        # call at once: one table lookup per codec per tick instead of several per call.
        batch: dict[str, tuple[list[int], list[bytes]]] = {"PCMU": ([], []), "PCMA": ([], [])}
        for row, leg_id in enumerate(sides):
            if leg_id is None or leg_id not in media.legs:
                continue
            leg = media.legs[leg_id]
            if leg.route.tap is None:
                media.tap(leg_id, True)
            payloads = media.drain_tap(leg_id)
            if leg_id not in self._buffers and len(payloads) == 1 and len(payloads[0]) == FRAME:
                rows, chunks = batch["PCMA" if leg.codec == "PCMA" else "PCMU"]
                rows.append(row)
                chunks.append(payloads[0])
            elif payloads or leg_id in self._buffers:
                frames[row] = self._take(leg_id, leg.codec, payloads)
        for codec, (rows, chunks) in batch.items():
            if rows:
                table = ALAW2LIN if codec == "PCMA" else ULAW2LIN
                pcm = table.take(np.frombuffer(b"".join(chunks), np.uint8))
                frames[rows] = pcm.reshape(len(rows), FRAME)
        self._submit(self.recorder.feed_many(ids, frames[0::2], frames[1::2], now))

    # --- internals --------------------------------------------------------------------------

    def _take(self, leg_id: str, codec: str, payloads: list[bytes]) -> npt.NDArray[np.int16]:
        """One frame of a jittery leg: late or early payloads are buffered (at most 80 ms)."""
        buffered = self._buffers.get(leg_id)
        if payloads:
            decode = alaw_decode if codec == "PCMA" else ulaw_decode
            fresh = decode(b"".join(payloads))
            buffered = fresh if buffered is None else np.concatenate((buffered, fresh))
        if buffered is None or len(buffered) == 0:
            self._buffers.pop(leg_id, None)
            return np.zeros(FRAME, dtype=np.int16)
        if len(buffered) > MAX_BACKLOG:
            buffered = buffered[-MAX_BACKLOG:]
        frame = buffered[:FRAME]
        rest = buffered[FRAME:]
        if len(rest):
            self._buffers[leg_id] = rest
        else:
            self._buffers.pop(leg_id, None)
        if len(frame) < FRAME:
            frame = np.concatenate((frame, np.zeros(FRAME - len(frame), dtype=np.int16)))
        return frame

    def _submit(self, actions: list[RecordingAction]) -> None:
        if not actions:
            return
        for action in actions:
            if isinstance(action, OpenRecording):
                self._index(
                    "open",
                    {
                        "id": action.recording_id,
                        "call_id": action.call_id,
                        "path": action.path,
                        "agent_id": action.agent_id,
                        "queue": action.queue,
                        "customer_id": action.customer_id,
                        "kind": str(action.kind),
                        "started_at": datetime.fromtimestamp(action.at, UTC),
                    },
                )
        self._sink.submit(actions)
        self._forget_buffers()

    def _forget_buffers(self) -> None:
        media = self._switch.media
        if media is not None and len(self._buffers) > 2 * len(media.legs) + 16:
            self._buffers = {k: v for k, v in self._buffers.items() if k in media.legs}

    def sink_closed(self, closed: RecordingClosed) -> None:
        """The sink's callback (its finisher thread): hop to the reactor, then index."""
        self._call_from_thread(self._closed, closed)

    def _closed(self, closed: RecordingClosed) -> None:
        self.closed.append(closed)
        if closed.error:
            log.error("recording %s failed: %s (partial file kept)", closed.path, closed.error)
        self._index(
            "closed",
            {
                "id": closed.recording_id,
                "ended_at": datetime.fromtimestamp(closed.closed_at, UTC),
                "duration_s": closed.duration_s,
                "bytes": closed.bytes,
                "sha256": closed.sha256,
                "failed": bool(closed.error),
            },
        )
