"""The open call records of a running server: feed it every bus event, collect finished records.

A call's record is finished when ``call_cleared`` arrived and the answering agent's wrap-up
is over. The agent's ``agent_working_after_call`` (which names the call) comes *before*
``call_cleared``; the state change that ends the wrap-up (``agent_ready``, ``agent_not_ready``,
... with ``previous == "wrap_up"``) comes after and names no call, so the folder remembers
which call each agent is wrapping up. A cleared record waits for that change at most
``max_wrap_up`` seconds; past it, it is handed out with ``wrap_up_seconds = None`` (unknown).
The wait is the price of one complete record per call: a crash during a wrap-up loses that
call's record, which is why ``max_wrap_up`` should stay near the queues' wrap-up times.

Nothing leaks: a call never cleared (a lost event, a fail-over) is handed out
``max_call`` seconds after it started, with cause ``unterminated``; events that arrive for
a call already handed out are dropped for ``late`` seconds instead of opening a new record.
``finished(now)`` is the only way out and ``next_deadline()`` says when to call it again.
"""

from __future__ import annotations

from dataclasses import replace

from cti_server import events as ev
from metrics.cdr import CallRecord, fold

UNTERMINATED = "unterminated"


class CallFolder:
    def __init__(
        self, *, max_wrap_up: float = 900.0, max_call: float = 86_400.0, late: float = 60.0
    ) -> None:
        self.max_wrap_up = max_wrap_up
        self.max_call = max_call
        self.late = late
        self._open: dict[str, CallRecord] = {}
        self._wrapping: dict[str, str] = {}  # agent_id -> call_id in wrap-up
        self._ready: list[CallRecord] = []
        self._gone: dict[str, float] = {}  # call_id -> when it was handed out

    def __len__(self) -> int:
        """Records still open (cleared ones waiting for a wrap-up included)."""
        return len(self._open)

    def open_record(self, call_id: str) -> CallRecord | None:
        """The record of a call not handed out yet (e.g. cleared, its wrap-up running)."""
        return self._open.get(call_id)

    def feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.AgentStateChanged):
            self._agent(event)
            return
        call_id = getattr(event, "call_id", None)
        if not isinstance(call_id, str) or call_id in self._gone:
            return
        record = fold(self._open.get(call_id), event)
        if record is None:
            return
        self._open[call_id] = record
        if record.cleared and not record.in_wrap_up:
            self._hand_out(record, event.at)

    def _agent(self, event: ev.AgentStateChanged) -> None:
        call_id = event.call_id if isinstance(event, ev.AgentWorkingAfterCall) else None
        call_id = call_id or self._wrapping.get(event.agent_id)
        record = self._open.get(call_id) if call_id else None
        if record is None:
            return
        after = fold(record, event)
        if after is None or after == record:
            return
        self._open[record.call_id] = after
        if after.in_wrap_up and after.wrap_up_agent is not None:
            self._wrapping[after.wrap_up_agent] = after.call_id
        elif after.cleared:
            self._hand_out(after, event.at)
        else:
            self._forget_agent(after)

    def _hand_out(self, record: CallRecord, now: float) -> None:
        del self._open[record.call_id]
        self._forget_agent(record)
        self._gone[record.call_id] = now
        self._ready.append(record)

    def _forget_agent(self, record: CallRecord) -> None:
        agent = record.wrap_up_agent
        if agent is not None and self._wrapping.get(agent) == record.call_id:
            del self._wrapping[agent]

    def finished(self, now: float) -> list[CallRecord]:
        """Every record finished since the last call, including those whose wait ran out."""
        for record in list(self._open.values()):
            if record.ended_at is not None and now >= record.ended_at + self.max_wrap_up:
                self._hand_out(replace(record, wrap_up_seconds=None), now)
            elif record.ended_at is None and now >= record.started_at + self.max_call:
                self._hand_out(_unterminated(record, now), now)
        for call_id, at in list(self._gone.items()):
            if now >= at + self.late:
                del self._gone[call_id]
        out, self._ready = self._ready, []
        return out

    def next_deadline(self) -> float | None:
        """When ``finished`` next has something to do by time alone (None: nothing open)."""
        times = [
            r.ended_at + self.max_wrap_up
            if r.ended_at is not None
            else r.started_at + self.max_call
            for r in self._open.values()
        ]
        times += [at + self.late for at in self._gone.values()]
        return min(times, default=None)


def _unterminated(record: CallRecord, now: float) -> CallRecord:
    """A call whose ``call_cleared`` never came, closed as if the caller had gone at ``now``."""
    return (
        fold(record, ev.CallCleared(at=now, call_id=record.call_id, cause=UNTERMINATED)) or record
    )
