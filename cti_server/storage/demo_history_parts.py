"""Small pieces of the demo history generator (``cti_server.storage.demo_history``): an
agent's state log for a day, an inbound call through the IVR into a queue, calls dealt to
agents at random."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from metrics.call_record import CallRecord, IvrVisit


class DayLog:
    """One agent's state log for a day, each row naming the state it left."""

    def __init__(self, agent: str, key: str, rows: list[dict[str, Any]]) -> None:
        self.agent, self.key, self.rows = agent, key, rows
        self.state, self.seq = "logged_out", 0

    def add(self, at: float, state: str, reason: str = "", *, call: str | None = None) -> None:
        self.seq += 1
        self.rows.append(
            {
                "entry_key": f"{self.key}-{self.seq:05d}",
                "agent_id": self.agent,
                "state": state,
                "previous": self.state,
                "reason": reason,
                "by": "",
                "call_id": call,
                "at": utc(at),
            }
        )
        self.state = state


def inbound_record(
    call_id: str, queued: float, number: str, queue: str, rng: random.Random
) -> CallRecord:
    """A call through the IVR menu into ``queue`` at ``queued``; the caller fills in the rest."""
    started = queued - rng.uniform(15, 45)
    ivr = IvrVisit(
        flow="main",
        language="ko",
        started_at=started,
        path=("welcome", "menu"),
        outcome=f"queue:{queue}",
        ended_at=queued,
    )
    return CallRecord(
        call_id=call_id,
        started_at=started,
        caller=number,
        called="1588",
        route="flow:main",
        ivr=ivr,
        queue=queue,
        queues=(queue,),
        queued_at=queued,
    )


def deal(total: int, parts: int, rng: random.Random) -> list[int]:
    """``total`` calls dealt to ``parts`` agents one by one at random (no agent always gets
    exactly half)."""
    shares = [0] * parts
    for _ in range(total):
        shares[rng.randrange(parts)] += 1
    return shares


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
