"""Report tables from statistics: the columns, their Korean and English headers, and the rows as
text, CSV cells, JSON objects and a self-contained HTML page (pure: no files, no charts).

The columns follow the proposal's daily and monthly statistics (requests and their share,
answered and the answer rate, talk and wait time totals and averages) plus the standard
contact-center figures of :mod:`metrics.stats` (abandons, service level, ASA, AHT,
occupancy). Text and HTML show rates in percent and time totals as H:MM:SS; CSV cells are
plain numbers (percent with one decimal, seconds with one decimal) so a spreadsheet can sum
them; JSON keeps the raw values (fractions, seconds).
"""

from __future__ import annotations

import base64
import html
import unicodedata
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from metrics.callback_stats import CallbackReport, CallbackStats, CampaignStats
from metrics.stats import PeriodStats, StatsTable

Kind = Literal["count", "rate", "seconds", "duration", "number"]

KEY_LABELS: dict[str, tuple[str, str]] = {
    "day": ("날짜", "Date"),
    "month": ("월", "Month"),
    "year": ("연도", "Year"),
    "hour": ("시간대", "Hour"),
    "agent": ("상담원", "Agent"),
    "queue": ("큐", "Queue"),
}
TOTAL_LABEL = "합계 Total"


@dataclass(frozen=True, slots=True)
class Column:
    field: str  # a PeriodStats field (CallbackStats, CampaignStats in the callback tables)
    korean: str
    english: str
    kind: Kind

    def header(self) -> str:
        return f"{self.korean} {self.english}"

    def csv_header(self) -> str:
        unit = (
            " (s)"
            if self.kind in ("seconds", "duration")
            else " (%)"
            if self.kind == "rate"
            else ""
        )
        return self.header() + unit


def columns(table: StatsTable) -> list[Column]:
    sl = f"{table.settings.service_level_seconds:g}"
    out = [
        Column("requests", "요청", "Requests", "count"),
        Column("request_share", "비율", "Share", "rate"),
        Column("answered", "응답", "Answered", "count"),
        Column("answer_rate", "응답률", "Answer rate", "rate"),
        Column("abandoned", "포기", "Abandoned", "count"),
        Column("short_abandoned", "단기 포기", "Short abandons", "count"),
        Column("abandon_rate", "포기율", "Abandon rate", "rate"),
        Column("service_level", f"서비스 레벨 {sl}초", f"SL {sl}s", "rate"),
        Column("asa", "평균 응답 속도", "ASA", "seconds"),
        Column("talk_total", "총 통화", "Talk total", "duration"),
        Column("talk_avg", "평균 통화", "Avg talk", "seconds"),
        Column("wait_total", "총 대기", "Wait total", "duration"),
        Column("wait_avg", "평균 대기", "Avg wait", "seconds"),
        Column("wrap_up_avg", "평균 후처리", "Avg wrap-up", "seconds"),
        Column("aht", "평균 처리 시간", "AHT", "seconds"),
        Column("abandoned_in_ivr", "IVR 포기", "IVR hang-ups", "count"),
        Column("callbacks_requested", "콜백 요청", "Callbacks", "count"),
        Column("occupancy", "점유율", "Occupancy", "rate"),
    ]
    if table.by == "agent":
        out.insert(4, Column("missed_offers", "미응답", "Missed", "count"))
    return out


def key_header(table: StatsTable) -> str:
    korean, english = KEY_LABELS[table.by]
    return f"{korean} {english}"


def title(table: StatsTable) -> str:
    korean, english = KEY_LABELS[table.by]
    start, end = table.start.isoformat(timespec="minutes"), table.end.isoformat(timespec="minutes")
    by = f"{korean}별 by {english.lower()}"
    return f"통화 통계 Call statistics, {by}: {start} ≤ t < {end} ({table.tz})"


def _display(value: Any, kind: Kind) -> str:
    if value is None:
        return "-"
    if kind == "count":
        return str(value)
    if kind == "rate":
        return f"{100 * value:.1f}%"
    if kind == "seconds":
        return f"{value:.1f}"
    if kind == "number":
        return f"{value:.2f}"
    seconds = round(value)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _cell(value: Any, kind: Kind) -> str | int | float:
    if value is None:
        return ""
    if kind == "count":
        return int(value)
    number = float(value)
    if kind == "number":
        return round(number, 2)
    return round(100 * number, 1) if kind == "rate" else round(number, 1)


def _rows(table: StatsTable) -> list[tuple[str, PeriodStats]]:
    return [(r.key, r) for r in table.rows] + [(TOTAL_LABEL, table.total)]


def display_rows(table: StatsTable) -> list[list[str]]:
    """Formatted cells, header first and the total last (text and HTML)."""
    cols = columns(table)
    out = [[key_header(table), *(c.header() for c in cols)]]
    for key, row in _rows(table):
        out.append([key, *(_display(getattr(row, c.field), c.kind) for c in cols)])
    return out


def csv_rows(table: StatsTable) -> list[list[str | int | float]]:
    """CSV cells, header first and the total last; empty cells where a figure is undefined."""
    cols = columns(table)
    out: list[list[str | int | float]] = [[key_header(table), *(c.csv_header() for c in cols)]]
    for key, row in _rows(table):
        out.append([key, *(_cell(getattr(row, c.field), c.kind) for c in cols)])
    return out


def json_row(row: PeriodStats) -> dict[str, Any]:
    out = {f.name: getattr(row, f.name) for f in fields(row)}
    out["start"] = None if row.start is None else row.start.isoformat()
    return out


def json_table(table: StatsTable) -> dict[str, Any]:
    """The API body: raw values (rates as fractions, times in seconds)."""
    return {
        "from": table.start.isoformat(),
        "to": table.end.isoformat(),
        "by": table.by,
        "tz": table.tz,
        "service_level_seconds": table.settings.service_level_seconds,
        "short_abandon_seconds": table.settings.short_abandon_seconds,
        "rows": [json_row(r) for r in table.rows],
        "total": json_row(table.total),
    }


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * (width - _width(text))
    return space + text if right else text + space


def text_table(table: StatsTable) -> str:
    """Fixed-width text for a terminal: Korean header line, English header line, rows."""
    cols = columns(table)
    korean, english = KEY_LABELS[table.by]
    lines = [[korean, *(c.korean for c in cols)], [english, *(c.english for c in cols)]]
    lines += [row[:] for row in display_rows(table)[1:]]
    return _grid(title(table), lines)


def _grid(heading: str, lines: list[list[str]]) -> str:
    """Two header lines, the rows and the total last, in aligned columns under ``heading``."""
    widths = [max(_width(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [
        "  ".join(_pad(cell, widths[i], right=i > 0) for i, cell in enumerate(line)).rstrip()
        for line in lines
    ]
    rule = "-" * max(_width(line) for line in rendered)
    return "\n".join([heading, *rendered[:2], rule, *rendered[2:-1], rule, rendered[-1]])


STYLE = """
body { font-family: 'Noto Sans CJK KR', 'Noto Sans KR', sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 4px 8px; }
th { background: #eef2f7; }
td { text-align: right; } td:first-child { text-align: left; }
tr.total td { font-weight: bold; background: #f6f6f6; }
img { max-width: 100%; margin-top: 1.5em; }
p.note { font-size: 12px; color: #555; max-width: 60em; }
"""

NOTE = (
    "요청: 상담원 연결을 요청한 통화 (큐 진입 또는 직접 호출). 응답률 = 응답 / 요청. "
    "포기율 = (포기 - 단기 포기) / (큐 진입 - 단기 포기). "
    "Requests: calls that asked for an agent (queued or rung directly). "
    "Answer rate = answered / requests. Abandon rate = (abandoned - short) / (queued - short). "
    "SL = answered within the threshold / answered (queued calls). ASA = mean wait of answered "
    "calls. AHT = (talk + hold + wrap-up) / answered. Calls count where they started."
)


def html_page(table: StatsTable, chart_png: bytes | None = None) -> str:
    """One self-contained page: the table, and the chart embedded as a base64 PNG."""
    rows = display_rows(table)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in rows[0])
    body = []
    for i, row in enumerate(rows[1:], start=1):
        cls = ' class="total"' if i == len(rows) - 1 else ""
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    image = ""
    if chart_png:
        data = base64.b64encode(chart_png).decode("ascii")
        image = f'<img alt="chart" src="data:image/png;base64,{data}">'
    name = html.escape(title(table))
    return (
        '<!DOCTYPE html>\n<html lang="ko">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{name}</h1>\n<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + f'\n</tbody>\n</table>\n{image}\n<p class="note">{html.escape(NOTE)}</p>\n'
        "</body>\n</html>\n"
    )


# --- callbacks and campaigns (metrics.callback_stats) ---------------------------------------

CALLBACK_COLUMNS = (
    Column("requested", "요청", "Requested", "count"),
    Column("repeat_requests", "재요청", "Repeats", "count"),
    Column("done", "완료", "Done", "count"),
    Column("failed", "실패", "Failed", "count"),
    Column("pending", "미처리", "Pending", "count"),
    Column("overdue", "기한 경과", "Overdue", "count"),
    Column("completion_rate", "완료율", "Completion", "rate"),
    Column("done_rate", "요청 대비 완료", "Done/requested", "rate"),
    Column("wait_avg", "평균 콜백 소요", "Avg to callback", "duration"),
    Column("wait_median", "중앙값", "Median", "duration"),
    Column("wait_p90", "90 백분위", "P90", "duration"),
    Column("attempts_per_completion", "완료당 시도", "Attempts/done", "number"),
    Column("handle_avg", "평균 처리 시간", "AHT", "seconds"),
)
CAMPAIGN_COLUMNS = (
    Column("leads", "리드", "Leads", "count"),
    Column("remaining", "남은 리드", "Remaining", "count"),
    Column("dialled", "발신", "Dialled", "count"),
    Column("answered", "고객 응답", "Answered", "count"),
    Column("done", "완료", "Done", "count"),
    Column("failed", "실패", "Failed", "count"),
    Column("abandoned", "포기(드롭)", "Dropped", "count"),
    Column("abandon_rate", "포기율", "Drop rate", "rate"),
    Column("completion_rate", "완료율", "Completion", "rate"),
    Column("done_rate", "발신 대비 완료", "Done/dialled", "rate"),
    Column("attempts_per_completion", "완료당 시도", "Attempts/done", "number"),
    Column("handle_avg", "평균 처리 시간", "AHT", "seconds"),
)
CALLBACK_NOTE = (
    "콜백은 요청 시각 기준으로 집계합니다. 완료율 = 완료 / (완료 + 실패). "
    "캠페인 리드는 마지막 시도 시각 기준이며 포기율 = 드롭 / 고객 응답입니다.",
    "Callbacks count in the period they were requested in; completion = done / (done + "
    "failed); time to callback runs from the request to the call that reached the customer.",
    "Leads count in the period of their last attempt; drop rate = dropped / answered; lead "
    "handle time is in the total only (call records do not name the campaign).",
    "Definitions: metrics/callback_stats.py.",
)


def _stats_rows(
    key_labels: tuple[str, str],
    cols: tuple[Column, ...],
    rows: tuple[CallbackStats, ...] | tuple[CampaignStats, ...],
    total: CallbackStats | CampaignStats,
) -> list[list[str]]:
    lines = [
        [key_labels[0], *(c.korean for c in cols)],
        [key_labels[1], *(c.english for c in cols)],
    ]
    for key, row in [*((r.key, r) for r in rows), (TOTAL_LABEL, total)]:
        lines.append([key, *(_display(getattr(row, c.field), c.kind) for c in cols)])
    return lines


def callback_text(report: CallbackReport) -> str:
    """The report's callbacks section for a terminal: callbacks by queue, then campaigns."""
    start = report.start.isoformat(timespec="minutes")
    end = report.end.isoformat(timespec="minutes")
    now = datetime.fromtimestamp(report.now, report.start.tzinfo).isoformat(timespec="minutes")
    heading = f"콜백 Callbacks: {start} ≤ t < {end} ({report.tz}), 현재 as of {now}"
    lines = _stats_rows(KEY_LABELS["queue"], CALLBACK_COLUMNS, report.queues, report.total)
    out = [_grid(heading, lines)]
    reasons = ", ".join(f"{r} {n}" for r, n in report.total.failed_by_reason)
    if reasons:
        out.append(f"실패 사유 Failed by reason: {reasons}")
    if report.campaigns:
        labels = ("캠페인", "Campaign")
        rows = _stats_rows(labels, CAMPAIGN_COLUMNS, report.campaigns, report.campaign_total)
        out += ["", _grid("캠페인 Campaigns (마지막 시도 기준 by last attempt)", rows)]
    else:
        out += ["", "캠페인 Campaigns: 없음 none"]
    return "\n".join([*out, *CALLBACK_NOTE])


def _stats_json(row: CallbackStats | CampaignStats) -> dict[str, Any]:
    out = {f.name: getattr(row, f.name) for f in fields(row)}
    if isinstance(row, CallbackStats):
        out["failed_by_reason"] = dict(row.failed_by_reason)
    return out


def callback_json(report: CallbackReport) -> dict[str, Any]:
    """The API body: raw values (rates as fractions, times in seconds)."""
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "tz": report.tz,
        "now": datetime.fromtimestamp(report.now, report.start.tzinfo).isoformat(),
        "queues": [_stats_json(r) for r in report.queues],
        "total": _stats_json(report.total),
        "campaigns": [_stats_json(r) for r in report.campaigns],
        "campaign_total": _stats_json(report.campaign_total),
    }
