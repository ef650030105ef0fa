"""Agent occupancy from the agent state log, time-weighted inside report windows.

Amazon Connect's definition (reference/features.md §2): occupancy = time on contact /
(time on contact + idle time). On contact is ``busy`` plus ``wrap_up`` (Connect counts hold
and after-contact work as on contact); idle is ``ready``. ``reserved`` (the phone ringing)
is in neither, as Connect's idle time leaves out the routing/ringing interval; ``not_ready``,
``away`` and ``logged_out`` are not staffed time.

Each state row lasts until the agent's next row; the last one until ``horizon``. The state
before an agent's first row is unknown and not counted, so a caller should include each
agent's last row before the period.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from metrics.event_rows import AgentStateRow

ON_CONTACT = frozenset({"busy", "wrap_up"})
IDLE = frozenset({"ready"})


def occupancy(
    rows: Iterable[AgentStateRow],
    windows: Sequence[tuple[float, float]],
    *,
    horizon: float,
    agent_id: str | None = None,
) -> float | None:
    """On-contact share of staffed time inside ``windows`` (sorted, disjoint); None when the
    agents were never on contact or idle there."""
    on, idle = 0.0, 0.0
    starts = [w[0] for w in windows]
    for state, lo, hi in _intervals(rows, horizon, agent_id):
        if state not in ON_CONTACT and state not in IDLE:
            continue
        seconds = _overlap(lo, hi, windows, starts)
        if state in ON_CONTACT:
            on += seconds
        else:
            idle += seconds
    return None if on + idle <= 0 else on / (on + idle)


def _intervals(
    rows: Iterable[AgentStateRow], horizon: float, agent_id: str | None
) -> Iterable[tuple[str, float, float]]:
    by_agent: dict[str, list[AgentStateRow]] = {}
    for row in rows:
        if agent_id is None or row["agent_id"] == agent_id:
            by_agent.setdefault(row["agent_id"], []).append(row)
    for agent_rows in by_agent.values():
        agent_rows.sort(key=lambda r: r["at"])
        ends = [r["at"] for r in agent_rows[1:]] + [max(horizon, agent_rows[-1]["at"])]
        for row, end in zip(agent_rows, ends, strict=True):
            yield row["state"], row["at"], end


def _overlap(
    lo: float, hi: float, windows: Sequence[tuple[float, float]], starts: list[float]
) -> float:
    total = 0.0
    i = max(0, bisect_right(starts, lo) - 1)
    while i < len(windows) and windows[i][0] < hi:
        w_lo, w_hi = windows[i]
        total += max(0.0, min(hi, w_hi) - max(lo, w_lo))
        i += 1
    return total
