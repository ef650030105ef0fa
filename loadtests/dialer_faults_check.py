"""The verdict of a ``dialer_faults.py`` run: what the customers' SIPp traces, the servers' event
logs and the database say happened to every callback, and the figures table.

Three witnesses, because each can be wrong alone: the store says how many attempts it recorded,
the SIPp traces of the customer farm say which INVITEs really reached a customer (and when),
and the event logs say which attempt numbers each server run dialled. The rules (issue 8):

* nothing lost: every requested id is still there, done, failed, or pending and not overdue;
* every INVITE was recorded first: INVITEs seen <= attempts stored, and an attempt stored
  without an INVITE is allowed only where a kill hit while that callback was ``dialing``;
* never twice at once: consecutive INVITEs to one number are at least the back-off apart,
  and after a restart a callback the kill caught mid-attempt waits its back-off from the
  restart; no attempt number is dialled twice across the server runs.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

TOLERANCE = 0.05  # s: trace timestamps (microseconds) against the reactor's clock
_BLOCK = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$", re.MULTILINE)
_INVITE = re.compile(r"^INVITE sips?:(\d+)@", re.MULTILINE)
_CALL_ID = re.compile(r"^(?:Call-ID|i):\s*(\S+)", re.MULTILINE | re.IGNORECASE)
_RECOVERED = re.compile(r"dialer: (\d+) attempts were in progress at the last stop")
_EVENT = re.compile(r" cti\.events: \S+ (\w+) +(.*)$")


@dataclass(frozen=True, slots=True)
class Backoff:
    """The retry rule of the run's config, all outcomes alike: ``base * factor ** (n - 1)``."""

    base: float
    factor: float
    max_delay: float

    def after(self, attempt: int) -> float:
        grown = self.base * self.factor ** max(0, attempt - 1)
        return max(self.base, min(grown, self.max_delay))


@dataclass(frozen=True, slots=True)
class Kill:
    at: float  # wall clock, just before SIGKILL
    restarted_at: float  # the new server process was launched
    dialing: dict[str, int]  # callbacks in ``dialing`` in the store after the kill: attempts


@dataclass(frozen=True, slots=True)
class Row:
    status: str
    attempts: int
    due_at: float


@dataclass
class Figures:
    requested: int = 0
    completed: int = 0
    failed: int = 0
    pending: int = 0
    in_flight_at_end: int = 0
    kills: int = 0
    caught_mid_attempt: int = 0
    attempts: int = 0
    invites: int = 0
    server_dials: int = 0
    recovered: int = 0
    killed_before_invite: int = 0
    unrecorded_invites: int = 0
    unexplained_attempts: int = 0
    redials_within_backoff: int = 0
    repeated_attempt_numbers: int = 0
    lost: int = 0
    tracebacks: int = 0
    shortest_gap_ratio: float | None = None  # min gap / required back-off (>= 1)
    problems: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        must_be_zero = (
            "lost",
            "redials_within_backoff",
            "unrecorded_invites",
            "unexplained_attempts",
            "repeated_attempt_numbers",
            "tracebacks",
        )
        return [f"{name}={getattr(self, name)}" for name in must_be_zero if getattr(self, name)]

    def table(self) -> list[str]:
        rows: list[tuple[str, object, str]] = [
            ("requested", self.requested, ""),
            ("completed (done)", self.completed, ""),
            ("failed (max attempts)", self.failed, ""),
            ("pending (due later)", self.pending, ""),
            ("in flight at the end", self.in_flight_at_end, ""),
            ("kills (kill -9)", self.kills, ""),
            ("  caught mid-attempt", self.caught_mid_attempt, ""),
            ("  recovered at restart", self.recovered, ""),
            ("attempts (stored)", self.attempts, ""),
            ("INVITEs to customers", self.invites, "<= attempts"),
            ("  customer legs logged", self.server_dials, ""),
            ("  killed before INVITE", self.killed_before_invite, ""),
            ("unrecorded INVITEs", self.unrecorded_invites, "0"),
            ("unexplained attempts", self.unexplained_attempts, "0"),
            ("redials within backoff", self.redials_within_backoff, "0"),
            ("repeated attempt numbers", self.repeated_attempt_numbers, "0"),
            ("lost", self.lost, "0"),
            ("tracebacks in logs", self.tracebacks, "0"),
        ]
        ratio = self.shortest_gap_ratio
        rows.append(("shortest gap / backoff", "-" if ratio is None else f"{ratio:.2f}", ">= 1"))
        width = max(len(r[0]) for r in rows)
        out = [f"{'figure':<{width}}  {'value':>6}  must be", f"{'-' * width}  ------  -------"]
        out += [f"{name:<{width}}  {value!s:>6}  {must}".rstrip() for name, value, must in rows]
        return out


def customer_invites(paths: list[Path]) -> dict[str, list[float]]:
    """Number -> times of the distinct INVITEs (by Call-ID) SIPp received, sorted."""
    seen: dict[str, dict[str, float]] = defaultdict(dict)
    for path in paths:
        text = path.read_text(errors="replace") if path.exists() else ""
        marks = list(_BLOCK.finditer(text))
        for mark, following in zip(marks, [*marks[1:], None], strict=True):
            block = text[mark.end() : following.start() if following else len(text)]
            if "message received" not in block.split("\n", 2)[1]:
                continue
            invite, call_id = _INVITE.search(block), _CALL_ID.search(block)
            if invite is None or call_id is None:
                continue
            at = datetime.strptime(mark.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            seen[invite.group(1)].setdefault(call_id.group(1), at)
    return {number: sorted(calls.values()) for number, calls in seen.items()}


def events(log: Path) -> list[tuple[str, dict[str, str]]]:
    """(name, fields) of every event line of one server run's log."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        found = _EVENT.search(line)
        if found:
            fields = dict(t.split("=", 1) for t in found.group(2).split() if "=" in t)
            out.append((found.group(1), fields))
    return out


def judge(
    *,
    ids: dict[str, str],  # callback id -> number
    rows: dict[str, Row],
    kills: list[Kill],
    traces: list[Path],
    logs: list[Path],
    backoff: Backoff,
    ended_at: float,
    overdue_slack: float,
) -> Figures:
    f = Figures(requested=len(ids), kills=len(kills))
    f.caught_mid_attempt = sum(len(k.dialing) for k in kills)
    for cid in ids:
        row = rows.get(cid)
        if row is None:
            f.lost += 1
            f.problems.append(f"{cid}: missing from the store")
        elif row.status == "done":
            f.completed += 1
        elif row.status == "failed":
            f.failed += 1
        elif row.status == "dialing":
            f.in_flight_at_end += 1
        elif row.status == "pending" and row.due_at > ended_at - overdue_slack:
            f.pending += 1
        else:
            f.lost += 1
            f.problems.append(f"{cid}: {row.status}, due {ended_at - row.due_at:.1f} s ago")
        f.attempts += row.attempts if row else 0

    invites = customer_invites(traces)
    caught: dict[str, int] = defaultdict(int)
    for kill in kills:
        for cid in kill.dialing:
            caught[cid] += 1
    for cid, number in ids.items():
        times = invites.get(number, [])
        f.invites += len(times)
        stored = rows[cid].attempts if cid in rows else 0
        if len(times) > stored:
            f.unrecorded_invites += len(times) - stored
            f.problems.append(f"{cid} ({number}): {len(times)} INVITEs, {stored} attempts stored")
        elif stored - len(times) > caught[cid]:
            f.unexplained_attempts += stored - len(times) - caught[cid]
            f.problems.append(f"{cid} ({number}): {stored} attempts, {len(times)} INVITEs")
        else:
            f.killed_before_invite += stored - len(times)
        for n, (first, second) in enumerate(itertools.pairwise(times), start=1):
            _gap(f, f"{cid} ({number}) INVITE {n}->{n + 1}", second - first, backoff.after(n))
        for kill in kills:  # the attempt the kill cut short counts as failed: its back-off
            if cid in kill.dialing:
                later = [t for t in times if t > kill.at]
                if later:
                    gap = later[0] - kill.restarted_at
                    wait = backoff.after(kill.dialing[cid])
                    _gap(f, f"{cid} ({number}) after the restart", gap, wait)

    # Attempt numbers whose customer leg went out: a callback_dialed event alone may be of an
    # attempt whose MarkDialing the kill beat, which the store rightly does not count.
    dialed: dict[str, list[int]] = defaultdict(list)
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        f.tracebacks += text.count("Traceback")
        f.recovered += sum(int(n) for n in _RECOVERED.findall(text))
        attempt_no: dict[str, int] = {}
        call_attempt: dict[str, tuple[str, str]] = {}  # call id -> (callback id, attempt id)
        for name, fields in events(log):
            if name == "callback_dialed":
                attempt_no[fields.get("attempt_id", "")] = int(fields.get("attempt", "0"))
            elif name == "call_dialed" and fields.get("item_id") in ids:
                call = fields.get("call_id", "")
                call_attempt[call] = (fields["item_id"], fields.get("attempt_id", ""))
            elif name == "call_originated" and "agent_id" not in fields:  # a customer leg
                found = call_attempt.get(fields.get("call_id", ""))
                if found is not None:
                    f.server_dials += 1
                    dialed[found[0]].append(attempt_no.get(found[1], 0))
    for cid, numbers in dialed.items():
        repeats = len(numbers) - len(set(numbers))
        if repeats:
            f.repeated_attempt_numbers += repeats
            f.problems.append(f"{cid}: attempt numbers dialled {sorted(numbers)}")
    return f


def _gap(f: Figures, what: str, gap: float, required: float) -> None:
    ratio = gap / required
    if f.shortest_gap_ratio is None or ratio < f.shortest_gap_ratio:
        f.shortest_gap_ratio = ratio
    if gap < required - TOLERANCE:
        f.redials_within_backoff += 1
        f.problems.append(f"{what}: {gap:.2f} s apart, back-off {required:.1f} s")
