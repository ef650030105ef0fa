"""The verdict of a ``faults.py`` run: what the callers completed against what PostgreSQL and
the recordings directory hold, window by window, and the table.

Witnesses: each SIPp process logs ``ok <number>`` for a call it completed; the call records
are matched by calling number, the callbacks by number, the recordings by the call id of the
call's record (row ``complete`` or ``repaired``, and its file on disk, whole). A call in
progress when the fault struck (``/api/v1/calls`` just before) survives when its caller
completed it; its recording then shows whether the media went on: both channels carry the
caller's tone (echoed by the agent), so the longest silent run inside it is a gap in the media.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

GAP_LIMIT = 1.0  # s of silence inside a surviving call's recording that counts as a gap
EDGE = 0.5  # s at each end of a recording left out (the tone starts and stops there)


@dataclass
class Window:
    """One fault's window of load and what happened in it."""

    fault: str
    callers: list[Any] = field(default_factory=list)  # fault_rig.Callers
    in_progress: list[dict[str, Any]] = field(default_factory=list)  # connected at the fault
    ivr_in_progress: list[dict[str, Any]] = field(default_factory=list)
    fault_at: float = 0.0
    restored_at: float = 0.0
    recovered_at: float | None = None
    rtp_per_second: float | None = None  # packets the server received during the outage
    backlog_after: dict[str, int] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)  # s after restore each was back
    stuck_agents: list[str] = field(default_factory=list)  # not ready once the calls ended

    @property
    def recovery(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.restored_at

    def completed(self, kind: str) -> set[str]:
        return set().union(*(c.completed() for c in self.callers if c.kind == kind))

    def offered(self) -> int:
        return sum(len(c.offered()) for c in self.callers)


@dataclass
class Row:
    fault: str
    offered: int = 0
    completed: int = 0
    records_stored: int = 0
    callbacks_requested: int = 0
    callbacks_stored: int = 0
    recordings_expected: int = 0
    recordings_stored: int = 0
    in_progress: int = 0
    surviving: int = 0
    longest_gap: float | None = None  # s, over the surviving calls' recordings
    rtp_per_second: float | None = None
    recovery: float | None = None
    backlog: int = 0
    parts: dict[str, float] = field(default_factory=dict)
    stuck_agents: list[str] = field(default_factory=list)
    no_agent: int = 0  # queue calls completed without reaching an agent (hung up queued)
    cut_recordings: int = 0  # kill9: recordings of the calls the kill cut
    cut_repaired: int = 0  # ... indexed as repaired after the restart
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return (
            (self.completed - self.records_stored)
            + (self.callbacks_requested - self.callbacks_stored)
            + (self.recordings_expected - self.recordings_stored)
        )

    def failures(self) -> list[str]:
        out = [f"{self.lost} lost"] if self.lost else []
        if self.recovery is None:
            out.append("not recovered")
        if self.backlog:
            out.append(f"{self.backlog} journal entries left")
        if self.fault != "kill9" and self.surviving < self.in_progress:
            out.append(f"{self.in_progress - self.surviving} in-progress calls cut")
        if self.cut_repaired < self.cut_recordings:
            out.append(f"{self.cut_recordings - self.cut_repaired} cut recordings not repaired")
        if self.stuck_agents:
            out.append(f"agents left busy: {', '.join(self.stuck_agents)}")
        if self.fault != "kill9" and (self.longest_gap or 0) > GAP_LIMIT:
            out.append(f"media gap {self.longest_gap:.1f} s")
        return out


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return list(conn.execute(sql).fetchall())


def longest_silence(path: Path, threshold: float = 300.0) -> float:
    """Seconds of the longest run of silent 20 ms frames on either channel, the ends aside."""
    import numpy as np

    with wave.open(str(path)) as w:
        channels, rate = w.getnchannels(), w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, channels)
    step = rate // 50
    edge = int(EDGE * 50)
    frames = pcm[: len(pcm) // step * step].reshape(-1, step, channels)[edge : -edge or None]
    if not len(frames):
        return 0.0
    loud = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) > threshold
    longest = 0
    for channel in range(channels):
        run = 0
        for is_loud in loud[:, channel]:
            run = 0 if is_loud else run + 1
            longest = max(longest, run)
    return longest / 50


def judge(center: Any, windows: list[Window]) -> list[Row]:
    """One row per window, plus the run's problems on the last row (tracebacks, files)."""
    url = center.postgres.url
    records: dict[str, list[str]] = {}
    talked: set[str] = set()  # callers whose call reached an agent (so it was recorded)
    for call_id, caller, agent in _rows(url, "select call_id, caller, agent_id from call_records"):
        records.setdefault(str(caller), []).append(str(call_id))
        if agent:
            talked.add(str(caller))
    callbacks = {str(n) for (n,) in _rows(url, "select number from callbacks")}
    recordings: dict[str, list[tuple[str, str, int]]] = {}
    for call_id, path, status, size in _rows(
        url, "select call_id, path, status, bytes from recordings"
    ):
        recordings.setdefault(str(call_id), []).append((str(path), str(status), int(size or 0)))

    def recorded(call_id: str) -> Path | None:
        for path, status, size in recordings.get(call_id, []):
            file = Path(path)
            if status in ("complete", "repaired") and file.exists() and size > 44:
                return file
        return None

    rows: list[Row] = []
    for w in windows:
        queue, callback = w.completed("queue"), w.completed("callback")
        row = Row(w.fault, offered=w.offered(), completed=len(queue | callback))
        row.records_stored = sum(1 for n in queue | callback if n in records)
        row.callbacks_requested = len(callback)
        row.callbacks_stored = len(callback & callbacks)
        # a queue call with no record counts as expecting one (it is lost either way); one
        # whose caller hung up in the queue had no agent, so no recording
        expected = {n for n in queue if n in talked or n not in records}
        row.recordings_expected = len(expected)
        row.no_agent = len(queue - expected)
        for number in sorted(expected):
            if any(recorded(cid) for cid in records.get(number, [])):
                row.recordings_stored += 1
            else:
                row.problems.append(f"{w.fault}: no recording for {number}")
        for number in sorted((queue | callback) - set(records)):
            row.problems.append(f"{w.fault}: no call record for {number}")
        for number in sorted(callback - callbacks):
            row.problems.append(f"{w.fault}: no callback row for {number}")
        row.in_progress = len(w.in_progress) + len(w.ivr_in_progress)
        done = queue | callback
        row.surviving = sum(1 for c in w.in_progress + w.ivr_in_progress if c["caller"] in done)
        gaps = []
        for call in w.in_progress:
            file = recorded(call["call_id"]) if call["caller"] in queue else None
            if file is not None:
                gaps.append(longest_silence(file))
        row.longest_gap = max(gaps, default=None)
        if w.fault == "kill9":  # the calls the kill cut: their recordings repaired at restart
            row.cut_recordings = len(w.in_progress)
            row.cut_repaired = sum(
                1
                for call in w.in_progress
                if any(st == "repaired" for _, st, _ in recordings.get(call["call_id"], []))
            )
        row.rtp_per_second = w.rtp_per_second
        row.recovery = w.recovery
        row.backlog = sum(w.backlog_after.values())
        row.parts = dict(w.parts)
        row.stuck_agents = list(w.stuck_agents)
        rows.append(row)
    if rows:
        logs = sorted(center.work.glob("server-*.log"))
        tracebacks = sum(p.read_text(errors="replace").count("Traceback") for p in logs)
        if tracebacks:
            rows[-1].problems.append(f"{tracebacks} tracebacks in {', '.join(map(str, logs))}")
        parts = list((center.work / "data" / "recordings").rglob("*.part"))
        if parts:
            rows[-1].problems.append(f"{len(parts)} recordings left open: {parts[:3]}")
    return rows


def render(rows: list[Row], *, plan: dict[str, Any], quick: bool, work: Path) -> str:
    root = Path(__file__).resolve().parents[1]
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    columns = (
        "fault",
        "offered",
        "completed",
        "records",
        "callbacks req/stored",
        "recordings exp/stored",
        "lost",
        "in-progress survived",
        "media gap s",
        "recovery s",
    )
    table = [columns]
    for r in rows:
        gap = "-" if r.longest_gap is None else f"{r.longest_gap:.2f}"
        table.append(
            (
                r.fault,
                str(r.offered),
                str(r.completed),
                str(r.records_stored),
                f"{r.callbacks_requested}/{r.callbacks_stored}",
                f"{r.recordings_expected}/{r.recordings_stored}",
                str(r.lost),
                f"{r.surviving}/{r.in_progress}",
                gap,
                "-" if r.recovery is None else f"{r.recovery:.1f}",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    table.insert(1, tuple("-" * w for w in widths))  # a Markdown table
    lines = [
        f"faults {date.today()} HEAD {head or '?'} ({'quick' if quick else 'full'}), work {work}",
        "plan " + ", ".join(f"{k}={v}" for k, v in plan.items()),
        "",
        *(
            "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
            for line in table
        ),
        "",
    ]
    for r in rows:
        extra = (
            f"RTP received during the outage {r.rtp_per_second:.0f} pkt/s; "
            if (r.rtp_per_second is not None)
            else ""
        )
        verdict = ", ".join(r.failures()) or "ok"
        back = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(r.parts.items(), key=lambda kv: kv[1]))
        if r.fault == "kill9":
            extra += f"recordings of the cut calls repaired {r.cut_repaired}/{r.cut_recordings}; "
        if r.no_agent:
            extra += f"{r.no_agent} queue callers hung up before an agent answered; "
        lines.append(f"{r.fault}: {extra}journal entries left {r.backlog}; {verdict}")
        lines.append(f"  back after the restore: {back or '-'}")
        lines += [f"  {p}" for p in r.problems[:20]]
    return "\n".join(lines) + "\n"
