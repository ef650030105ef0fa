"""The figures of a ``soak.py`` run: samples, the per-minute table, the verdict and the plot.

Leak rules (the run's options give the limits):

* memory per call is flat: the least-squares slope of resident memory against calls
  completed, over the load after its first quarter (allocator warm-up, caches filling), is
  under ``max_kb_per_call``;
* descriptors and reactor timers come back: their median over the idle samples after the
  load is at most ``margin`` above the median of the baseline, the idle samples before it
  (taken after a warm-up load, so connection pools and caches are already filled).

Threads and asyncio tasks are reported alongside; CPU per call is the server's CPU over the
load divided by the calls completed.
"""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    t: float  # s since the baseline began
    phase: str  # idle (before or after), load, drain
    rss_mb: float
    fds: int
    timers: int
    threads: int
    tasks: int
    calls: int
    transactions: int
    legs: int
    completed: int  # calls the SIPp callers completed so far
    cpu_s: float
    blocks: int = 0  # Python memory blocks allocated (objects alive)
    events: int = 0  # domain events published so far

    @staticmethod
    def csv(samples: list[Sample]) -> str:
        names = [f.name for f in fields(Sample)]
        rows = [",".join(names)]
        rows += [",".join(str(asdict(s)[n]) for n in names) for s in samples]
        return "\n".join(rows) + "\n"


def _split(samples: list[Sample]) -> tuple[list[Sample], list[Sample], list[Sample]]:
    """(baseline, load and drain, idle after); the warm-up is in none."""
    before = [s for s in samples if s.phase == "baseline"]
    busy = [s for s in samples if s.phase in ("load", "drain")]
    return before, busy, [s for s in samples if s.phase == "idle"]


def slope_per_call(busy: list[Sample], value: str = "rss_mb") -> tuple[float | None, int]:
    """Growth of ``value`` per completed call, past the first quarter of the load's calls
    (least squares); and how many calls the fit covers."""
    import numpy as np

    load = [s for s in busy if s.phase == "load"]
    if not load:
        return None, 0
    first, total = load[0].completed, load[-1].completed
    fit = [s for s in load if s.completed >= first + (total - first) / 4]
    xs = np.array([s.completed for s in fit], dtype=float)
    if len(fit) < 3 or xs.max() - xs.min() < 10:
        return None, 0
    ys = np.array([float(getattr(s, value)) for s in fit])
    return float(np.polyfit(xs, ys, 1)[0]), int(xs.max() - xs.min())


def per_minute(busy: list[Sample]) -> list[str]:
    if not busy:
        return []
    start = busy[0].t
    lines = [
        "| minute | calls done | live calls | SIP transactions | RTP legs | RSS MiB | fds |"
        " timers | threads | tasks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    previous = busy[0].completed
    minutes = int((busy[-1].t - start) // 60) + 1
    for m in range(minutes):
        chunk = [s for s in busy if m * 60 <= s.t - start < (m + 1) * 60]
        if not chunk:
            continue
        done, previous = chunk[-1].completed - previous, chunk[-1].completed
        lines.append(
            f"| {m + 1} | {done} | {statistics.mean(s.calls for s in chunk):.1f} "
            f"| {statistics.mean(s.transactions for s in chunk):.1f} "
            f"| {statistics.mean(s.legs for s in chunk):.1f} | {chunk[-1].rss_mb:.1f} "
            f"| {max(s.fds for s in chunk)} | {max(s.timers for s in chunk)} "
            f"| {max(s.threads for s in chunk)} | {max(s.tasks for s in chunk)} |"
        )
    return lines


def report(
    samples: list[Sample], *, plan: dict[str, Any], max_kb_per_call: float, margin: int
) -> tuple[str, list[str]]:
    """The report's text and the leaks found (empty: none)."""
    before, busy, after = _split(samples)
    leaks: list[str] = []
    lines = [f"soak {date.today()} HEAD {_head()}", "plan " + _pairs(plan), ""]
    lines += per_minute(busy)
    if not (before and busy and after):
        return "\n".join([*lines, "", "too few samples to judge"]) + "\n", ["no verdict"]
    slope, covered = slope_per_call(busy)
    slope = None if slope is None else slope * 1024  # KiB per call
    load = [s for s in busy if s.phase == "load"]
    calls = busy[-1].completed - before[-1].completed
    cpu = (busy[-1].cpu_s - before[-1].cpu_s) / calls * 1000 if calls else None
    lines += ["", "| figure | idle before | under load (max) | idle after | verdict |"]
    lines.append("|---|---|---|---|---|")
    for name in ("rss_mb", "blocks", "fds", "timers", "threads", "tasks", "calls", "transactions"):
        base = statistics.median(getattr(s, name) for s in before)
        peak = max(getattr(s, name) for s in busy)
        idle = statistics.median(getattr(s, name) for s in after)
        verdict = ""
        if name in ("fds", "timers"):
            ok = idle <= base + margin
            verdict = "back to baseline" if ok else f"LEAK: {idle - base:+g} over baseline"
            if not ok:
                leaks.append(f"{name} {base:g} -> {idle:g}")
        fmt = ".1f" if name == "rss_mb" else "g"
        lines.append(f"| {name} | {base:{fmt}} | {peak:{fmt}} | {idle:{fmt}} | {verdict} |")
    lines.append("")
    if slope is None:
        lines.append("memory per call: too few calls to fit")
    else:
        flat = slope < max_kb_per_call
        lines.append(
            f"memory per call: {slope:+.2f} KiB/call over {covered} calls "
            f"({'flat' if flat else 'LEAK'}: limit {max_kb_per_call:g} KiB/call)"
        )
        if not flat:
            leaks.append(f"RSS grows {slope:.1f} KiB per call")
    kept = statistics.median(s.blocks for s in after) - statistics.median(s.blocks for s in before)
    if calls:  # both counted right after a full collection (soak.py sends SIGUSR2)
        lines.append(
            f"Python objects kept: {kept:+.0f} blocks after {calls} calls "
            f"({kept / calls:+.1f} per call; bounded caches fill too: 10,000 recording "
            "summaries, the 15-minute rolling windows)"
        )
    span = (load[-1].t - load[0].t) / 60 if len(load) > 1 else 0.0
    lines.append(
        f"calls completed {calls} in {span:.1f} min of load; server CPU {cpu:.1f} ms/call"
        if cpu is not None
        else f"calls completed {calls}"
    )
    lines.append("verdict: " + ("no leak" if not leaks else "; ".join(leaks)))
    return "\n".join(lines) + "\n", leaks


def plot(samples: list[Sample], path: Path) -> list[str]:
    """A 2x2 PNG: memory against calls, descriptors/threads/tasks, timers, calls and
    transactions over time, the load shaded; warnings (no CJK font: English labels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from cti_server.sim_report import cjk_font

    font = cjk_font()

    def label(korean: str, english: str) -> str:
        return english if font is None else f"{korean} {english}"

    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    t = [s.t / 60 for s in samples]
    spans = [
        ([s.t / 60 for s in samples if s.phase == phase], colour)
        for phase, colour in (("warmup", "grey"), ("load", "orange"), ("drain", "gold"))
    ]
    with plt.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
        series = (
            (axes[0][0], label("메모리", "RSS (MiB)"), [("rss_mb", "RSS")]),
            (
                axes[0][1],
                label("파일 디스크립터", "open fds, threads, tasks"),
                [("fds", "fds"), ("threads", "threads"), ("tasks", "asyncio tasks")],
            ),
            (axes[1][0], label("타이머", "reactor delayed calls"), [("timers", "timers")]),
            (
                axes[1][1],
                label("통화", "live calls, SIP transactions"),
                [("calls", "calls"), ("transactions", "transactions"), ("legs", "RTP legs")],
            ),
        )
        for ax, title, lines in series:
            for name, legend in lines:
                ax.plot(t, [getattr(s, name) for s in samples], label=legend)
            for span, colour in spans:
                if span:
                    ax.axvspan(min(span), max(span), color=colour, alpha=0.12)
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", fontsize=8)
        done = axes[0][0].twinx()
        done.plot(t, [s.completed for s in samples], color="grey", linestyle=":")
        done.set_ylabel(label("완료 통화", "calls completed"))
        for ax in axes[1]:
            ax.set_xlabel(label("분", "minutes"))
        fig.suptitle(
            label("소크 테스트", "Soak: warm-up (grey), baseline, load (orange), drain, idle")
        )
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return [] if font else ["no CJK font found: plot labels in English only"]


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _head() -> str:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"
