"""Agent performance as tables: Korean and English labels, text for a terminal, CSV cells,
a self-contained HTML page and JSON bodies (pure: no files, no charts).

Text and HTML show rates in percent, seconds with one decimal and time totals as H:MM:SS;
a change in a rate is in percentage points (%p). CSV cells are plain numbers (percent and
seconds with one decimal) so a spreadsheet can sum them; JSON keeps the raw values
(fractions, seconds). Definitions: :mod:`metrics.agent_performance`.
"""

from __future__ import annotations

import base64
import html
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from metrics.agent_comparison import Change, Comparison
from metrics.agent_performance import AgentFigures, CenterFigures, PerformanceReport
from metrics.reports import STYLE, TOTAL_LABEL, Column

AGENT_LABEL = ("상담원", "Agent")
AGENT_COLUMNS = (
    Column("handled", "처리", "Handled", "count"),
    Column("inbound", "인바운드", "Inbound", "count"),
    Column("callbacks", "콜백 처리", "Callbacks", "count"),
    Column("outbound", "아웃바운드", "Outbound", "count"),
    Column("handled_per_day", "일 처리", "Per day", "number"),
    Column("offers", "배정", "Offers", "count"),
    Column("offer_answer_rate", "배정 응답률", "Offer ans. rate", "rate"),
    Column("no_answer", "무응답", "No answer", "count"),
    Column("declined", "거절", "Declined", "count"),
    Column("aht", "평균 처리 시간", "AHT", "seconds"),
    Column("talk_avg", "평균 통화", "Avg talk", "seconds"),
    Column("hold_avg", "평균 보류", "Avg hold", "seconds"),
    Column("hold_total", "총 보류", "Hold total", "duration"),
    Column("wrap_up_avg", "평균 후처리", "Avg wrap-up", "seconds"),
    Column("wrap_up_total", "총 후처리", "Wrap-up total", "duration"),
    Column("occupancy", "점유율", "Occupancy", "rate"),
    Column("qa_avg", "QA 평균", "QA avg", "number"),
    Column("qa_trend", "QA 추세/주", "QA trend/wk", "number"),
)
CENTER_LABELS: dict[str, tuple[str, str, str]] = {  # field: (korean, english, kind)
    "requests": ("요청", "Requests", "count"),
    "answered": ("응답", "Answered", "count"),
    "answer_rate": ("응답률", "Answer rate", "rate"),
    "aht": ("평균 처리 시간", "Average handle time", "seconds"),
    "answered_per_agent_day": ("상담원 1인 1일 응답", "Answered per agent-day", "number"),
    "handled_per_agent_day": ("상담원 1인 1일 처리", "Handled per agent-day", "number"),
    "callbacks_handled": ("콜백 처리", "Callbacks handled", "count"),
    "callbacks_per_day": ("1일 콜백 처리", "Callbacks handled per day", "number"),
    "occupancy": ("점유율", "Occupancy", "rate"),
    "qa_avg": ("QA 평균", "QA average", "number"),
    "agents": ("상담원 수", "Agents", "count"),
    "days": ("근무일", "Days", "count"),
}
AGENT_LABELS = {c.field: (c.korean, c.english, c.kind) for c in AGENT_COLUMNS} | {
    "inbound_per_day": ("일 인바운드 처리", "Inbound per day", "number"),
}
NOTE = (
    "처리: 상담원이 응답한 통화. 배정 응답률 = 응답 / (응답 + 무응답 + 거절). "
    "응답률 = 인바운드 응답 / 인바운드 요청. AHT = (통화 + 보류 + 후처리) / 처리. "
    "Handled: calls the agent answered. Offer answer rate = answered / (answered + no answer + "
    "declined) rings. Answer rate = inbound answered / inbound requests (dialer calls "
    "excluded). AHT = (talk + hold + wrap-up) / handled. Per day: per day the agent handled "
    "calls. QA trend: points per week. Definitions: metrics/agent_performance.py."
)


def display(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "count":
        return str(value)
    if kind == "rate":
        return f"{100 * value:.1f}%"
    if kind in ("seconds", "number"):
        return f"{value:.1f}"
    seconds = round(value)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def cell(value: Any, kind: str) -> str | int | float:
    if value is None:
        return ""
    if kind == "count":
        return int(value)
    return round(100 * value, 1) if kind == "rate" else round(float(value), 1)


def change_text(change: Change, kind: str) -> str:
    """``-15.9 (-10.6%)``; a rate's change in percentage points: ``+7.0%p (+11.5%)``."""
    if change.delta is None:
        return "-"
    delta = (
        f"{100 * change.delta:+.1f}%p"
        if kind == "rate"
        else f"{change.delta:+d}"
        if kind == "count"
        else f"{change.delta:+.1f}"
    )
    return delta if change.relative is None else f"{delta} ({100 * change.relative:+.1f}%)"


def period_text(report: PerformanceReport) -> str:
    start = report.start.isoformat(timespec="minutes")
    end = report.end.isoformat(timespec="minutes")
    return f"{start} ≤ t < {end} ({report.tz})"


def agent_rows(report: PerformanceReport) -> list[tuple[str, AgentFigures]]:
    return [(a.key, a) for a in report.agents] + [(TOTAL_LABEL, report.total)]


def text_report(report: PerformanceReport) -> str:
    """The agents' table and the centre's figures."""
    lines = [[AGENT_LABEL[0], *(c.korean for c in AGENT_COLUMNS)]]
    lines.append([AGENT_LABEL[1], *(c.english for c in AGENT_COLUMNS)])
    for key, row in agent_rows(report):
        lines.append([key, *(display(getattr(row, c.field), c.kind) for c in AGENT_COLUMNS)])
    out = [grid(f"상담원 성과 Agent performance: {period_text(report)}", lines)]
    out += ["", *center_lines(report.center)]
    if not report.qa_available:
        out.append("QA: 평가 데이터 없음 no evaluations store")
    return "\n".join(out)


def center_lines(center: CenterFigures) -> list[str]:
    out = ["센터 Centre:"]
    for name, (korean, english, kind) in CENTER_LABELS.items():
        unit = " s" if kind == "seconds" and getattr(center, name) is not None else ""
        out.append(f"  {korean} {english}: {display(getattr(center, name), kind)}{unit}")
    return out


def text_comparison(comparison: Comparison) -> str:
    """The centre's figures before and after, then each agent's."""
    at = comparison.at.date().isoformat()
    heading = (
        f"전후 비교 Before/after {at}: 이전 before {period_text(comparison.before)}; "
        f"이후 after {period_text(comparison.after)}"
    )
    lines = [["지표", "이전", "이후", "변화"], ["Figure", "Before", "After", "Change"]]
    lines += [_change_row(c, CENTER_LABELS) for c in comparison.center]
    out = [grid(heading, lines, total=False)]
    rows = [
        ["상담원", "지표", "이전", "이후", "변화"],
        ["Agent", "Figure", "Before", "After", "Change"],
    ]
    for agent, changes in comparison.agents:
        rows += [[agent, *_change_row(c, AGENT_LABELS)] for c in changes]
    out += ["", grid("상담원별 변화 Changes by agent", rows, total=False, left=2)]
    days = (comparison.before.center.days, comparison.after.center.days)
    out.append(f"근무일 Days with calls: 이전 before {days[0]}, 이후 after {days[1]}")
    return "\n".join(out)


def _change_row(change: Change, labels: Mapping[str, tuple[str, str, str]]) -> list[str]:
    korean, english, kind = labels[change.field]
    return [
        f"{korean} {english}{' (s)' if kind == 'seconds' else ''}",
        display(change.before, kind),
        display(change.after, kind),
        change_text(change, kind),
    ]


def csv_rows(report: PerformanceReport, period: str = "") -> list[list[str | int | float]]:
    """Header first, then one row per agent and the total; ``period`` fills the first
    column (before, after) so two periods can share one file."""
    header: list[str | int | float] = ["기간 Period", "상담원 Agent"]
    header += [f"{c.header()}{_unit(c.kind)}" for c in AGENT_COLUMNS]
    out = [header]
    for key, row in agent_rows(report):
        cells = [cell(getattr(row, c.field), c.kind) for c in AGENT_COLUMNS]
        out.append([period or period_text(report), key, *cells])
    return out


def csv_comparison(comparison: Comparison) -> list[list[str | int | float]]:
    rows = csv_rows(comparison.before, "before " + period_text(comparison.before))
    rows += csv_rows(comparison.after, "after " + period_text(comparison.after))[1:]
    rows.append([])
    rows.append(["상담원 Agent", "지표 Figure", "이전 Before", "이후 After", "변화 Change"])
    for c in comparison.center:
        kind = CENTER_LABELS[c.field][2]
        rows.append([TOTAL_LABEL, c.field, *_cells(c, kind)])
    for agent, changes in comparison.agents:
        for c in changes:
            kind = AGENT_LABELS[c.field][2]
            rows.append([agent, c.field, *_cells(c, kind)])
    return rows


def _cells(change: Change, kind: str) -> list[str | int | float]:
    return [cell(change.before, kind), cell(change.after, kind), cell(change.delta, kind)]


def _unit(kind: str) -> str:
    return " (s)" if kind in ("seconds", "duration") else " (%)" if kind == "rate" else ""


def html_page(
    report: PerformanceReport, comparison: Comparison | None = None, chart: bytes | None = None
) -> str:
    """One page: the agents' table, the centre, the comparison, the chart as a base64 PNG."""
    title = f"상담원 성과 Agent performance: {period_text(report)}"
    head = "".join(
        f"<th>{html.escape(h)}</th>" for h in ["상담원 Agent", *(c.header() for c in AGENT_COLUMNS)]
    )
    body = []
    for key, row in agent_rows(report):
        cls = ' class="total"' if key == TOTAL_LABEL else ""
        cells = [key, *(display(getattr(row, c.field), c.kind) for c in AGENT_COLUMNS)]
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(x)}</td>" for x in cells) + "</tr>")
    parts = [f"<h1>{html.escape(title)}</h1>", _table(head, body)]
    parts.append("<pre>" + html.escape("\n".join(center_lines(report.center))) + "</pre>")
    if comparison is not None:
        parts.append("<pre>" + html.escape(text_comparison(comparison)) + "</pre>")
    if chart:
        data = base64.b64encode(chart).decode("ascii")
        parts.append(f'<img alt="chart" src="data:image/png;base64,{data}">')
    parts.append(f'<p class="note">{html.escape(NOTE)}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="ko">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def _table(head: str, body: list[str]) -> str:
    rows = "\n".join(body)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"


def figures_json(figures: AgentFigures | CenterFigures) -> dict[str, Any]:
    return asdict(figures)


def report_json(report: PerformanceReport) -> dict[str, Any]:
    """Raw values: rates as fractions, times in seconds."""
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "tz": report.tz,
        "qa_available": report.qa_available,
        "agents": [figures_json(a) for a in report.agents],
        "total": figures_json(report.total),
        "center": figures_json(report.center),
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {
        "at": comparison.at.isoformat(),
        "before": report_json(comparison.before),
        "after": report_json(comparison.after),
        "center_changes": [asdict(c) for c in comparison.center],
        "agent_changes": {agent: [asdict(c) for c in cs] for agent, cs in comparison.agents},
    }


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def grid(heading: str, lines: list[list[str]], *, total: bool = True, left: int = 1) -> str:
    """Two header lines then the rows in aligned columns, the first ``left`` ones
    left-aligned and the figures right-aligned; with ``total`` the last row is set apart."""
    widths = [max(_width(line[i]) for line in lines) for i in range(len(lines[0]))]

    def pad(text: str, i: int) -> str:
        space = " " * (widths[i] - _width(text))
        return text + space if i < left else space + text

    rendered = ["  ".join(pad(c, i) for i, c in enumerate(line)).rstrip() for line in lines]
    rule = "-" * max(_width(line) for line in rendered)
    if total and len(rendered) > 3:
        return "\n".join([heading, *rendered[:2], rule, *rendered[2:-1], rule, rendered[-1]])
    return "\n".join([heading, *rendered[:2], rule, *rendered[2:]])
