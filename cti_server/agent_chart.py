"""The agent performance chart: one row per agent (and the centre), week by week, with the
comparison date marked. Left: calls handled per day (bars: inbound and callbacks) and the
average handle time (line). Right: offer answer rate and occupancy (lines, %) and the QA
average when evaluations exist.

Labels are Korean and English with a CJK font (:func:`cti_server.sim_report.cjk_font`);
without one they are English only and the returned warnings say so.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from cti_server.report_chart import NO_FONT
from cti_server.sim_report import cjk_font
from metrics.agent_performance import TOTAL, AgentFigures, PerformanceReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Label = Callable[[str, str], str]  # Korean and English to the chart's label


def agent_chart_png(
    weeks: Sequence[PerformanceReport],
    *,
    agents: Sequence[str] | None = None,
    at: datetime | None = None,
) -> tuple[bytes, list[str]]:
    """PNG bytes of the weekly series of ``agents`` (default: every agent, then the
    centre's total), and warnings (a missing CJK font)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    if not weeks:
        raise ValueError("no weeks to draw")
    font = cjk_font()
    warnings = [] if font else [NO_FONT]

    def label(korean: str, english: str) -> str:
        return english if font is None else f"{korean} {english}"

    names = list(agents) if agents is not None else [a.key for a in weeks[0].agents] + [TOTAL]
    keys = [w.start.strftime("%m-%d") for w in weeks]
    x = list(range(len(keys)))
    change = _position(weeks, at)
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with plt.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig, axes = plt.subplots(len(names), 2, figsize=(13, 3.1 * len(names) + 0.8), squeeze=False)
        for row, name in enumerate(names):
            series = [w.total if name == TOTAL else w.agent(name) for w in weeks]
            title = label("전체", "All agents") if name == TOTAL else label("상담원", "Agent")
            title = title if name == TOTAL else f"{title} {name}"
            _volume(axes[row][0], x, series, label, title)
            centre = [w.center.answer_rate for w in weeks] if name == TOTAL else None
            _rates(axes[row][1], x, series, label, title, centre)
            for axis in axes[row]:
                axis.set_xticks(x, keys, fontsize=8)
                if change is not None:
                    axis.axvline(change, color="#555", linestyle="--", linewidth=1)
        axes[-1][0].set_xlabel(label("주 시작일", "week starting"))
        axes[-1][1].set_xlabel(label("주 시작일", "week starting"))
        first, last = weeks[0].start.date().isoformat(), weeks[-1].end.date().isoformat()
        marked = "" if at is None else f", {label('변경', 'change')} {at.date().isoformat()} (--)"
        heading = label("상담원 성과", "Agent performance")
        fig.suptitle(f"{heading} {first} ≤ t < {last} ({weeks[0].tz}){marked}")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=90)
        plt.close(fig)
    return out.getvalue(), warnings


def _position(weeks: Sequence[PerformanceReport], at: datetime | None) -> float | None:
    """Where ``at`` falls on the week axis (between bars when it starts a week)."""
    if at is None:
        return None
    for i, w in enumerate(weeks):
        if w.start <= at < w.end:
            span = (w.end - w.start).total_seconds()
            return i - 0.5 + (at - w.start).total_seconds() / span
    return None


def _volume(ax: Axes, x: list[int], series: list[AgentFigures], label: Label, title: str) -> None:
    inbound = [_per_day(f.inbound, f.days) for f in series]
    callbacks = [_per_day(f.callbacks, f.days) for f in series]
    ax.bar(x, inbound, 0.6, color="#2f6db5", label=label("인바운드/일", "inbound/day"))
    ax.bar(
        x, callbacks, 0.6, bottom=inbound, color="#9db7d5", label=label("콜백/일", "callbacks/day")
    )
    ax.set_ylim(0, max([a + b for a, b in zip(inbound, callbacks, strict=True)] or [1.0]) * 1.4)
    ax.set_ylabel(label("처리/일", "handled/day"))
    twin = ax.twinx()
    aht = [float("nan") if f.aht is None else f.aht for f in series]
    twin.plot(x, aht, "o-", color="#d9534f", label=label("AHT 초", "AHT s"))
    twin.set_ylim(0, max([a for a in aht if a == a] or [1.0]) * 1.4)
    twin.set_ylabel(label("초", "seconds"))
    handles, names = ax.get_legend_handles_labels()
    more_handles, more_names = twin.get_legend_handles_labels()
    ax.legend(handles + more_handles, names + more_names, loc="upper left", fontsize=7, ncol=3)
    ax.set_title(f"{title}: {label('처리량과 AHT', 'volume and AHT')}", fontsize=10)


def _rates(
    ax: Axes,
    x: list[int],
    series: list[AgentFigures],
    label: Label,
    title: str,
    centre: list[float | None] | None,
) -> None:
    lines = [
        ("배정 응답률", "offer answer rate", "#5cb85c", [f.offer_answer_rate for f in series]),
        ("점유율", "occupancy", "#f0ad4e", [f.occupancy for f in series]),
    ]
    if centre is not None:  # the proposal's answer rate: inbound answered / requests
        lines.append(("센터 응답률", "centre answer rate", "#2f6db5", centre))
    for korean, english, color, values in lines:
        percent = [float("nan") if v is None else 100 * v for v in values]
        ax.plot(x, percent, "o-", color=color, label=label(korean, english) + " %")
    if any(f.qa_avg is not None for f in series):
        qa = [float("nan") if f.qa_avg is None else f.qa_avg for f in series]
        ax.plot(x, qa, "s--", color="#6f42c1", label=label("QA 평균", "QA avg"))
    ax.set_ylim(0, 130)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_ylabel("%")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    subject = label("응답률, 점유율, QA", "answer rate, occupancy, QA")
    ax.set_title(f"{title}: {subject}", fontsize=10)


def _per_day(count: int, days: int) -> float:
    return count / days if days else 0.0
