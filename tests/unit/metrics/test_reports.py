"""Report rows from statistics: bilingual headers, formatted and CSV cells, JSON, text, HTML."""

from __future__ import annotations

import json

from metrics.reports import csv_rows, display_rows, html_page, json_table, text_table
from metrics.stats import period_stats
from tests.unit.metrics.test_stats import CALLS, END, KST, START

TABLE = period_stats(CALLS, start=START, end=END, by="day", tz=KST)


def test_display_rows_have_bilingual_headers_and_a_total() -> None:
    rows = display_rows(TABLE)
    header = rows[0]
    assert header[:5] == [
        "날짜 Date",
        "요청 Requests",
        "비율 Share",
        "응답 Answered",
        "응답률 Answer rate",
    ]
    assert "평균 통화 Avg talk" in header and "평균 대기 Avg wait" in header
    assert "서비스 레벨 20초 SL 20s" in header
    cells = dict(zip(header, rows[1], strict=True))
    assert cells["날짜 Date"] == "2026-11-30"
    assert (cells["요청 Requests"], cells["응답 Answered"], cells["응답률 Answer rate"]) == (
        "3",
        "2",
        "66.7%",
    )
    assert cells["총 통화 Talk total"] == "0:07:00" and cells["평균 통화 Avg talk"] == "210.0"
    assert cells["점유율 Occupancy"] == "-"
    assert rows[-1][0] == "합계 Total" and rows[-1][1] == "6"


def test_csv_rows_are_plain_numbers() -> None:
    rows = csv_rows(TABLE)
    assert rows[0][:3] == ["날짜 Date", "요청 Requests", "비율 Share (%)"]
    assert "평균 통화 Avg talk (s)" in rows[0]
    assert rows[1] == [
        "2026-11-30",
        3, 50.0,  # requests, share
        2, 66.7,  # answered, answer rate
        1, 1, 0.0,  # abandoned, short abandons, abandon rate
        50.0, 20.0,  # SL 20 s, ASA
        420.0, 210.0,  # talk total, avg
        43.0, 14.3,  # wait total, avg
        20.0, 230.0,  # avg wrap-up, AHT
        0, 0, "",  # IVR hang-ups, callbacks, occupancy
    ]  # fmt: skip
    assert rows[2][:5] == ["2026-12-01", 3, 50.0, 1, 33.3]
    assert rows[3][0] == "합계 Total" and rows[3][3:5] == [3, 50.0]


def test_agent_tables_add_the_missed_column() -> None:
    agents = period_stats(CALLS, start=START, end=END, by="agent", tz=KST)
    rows = csv_rows(agents)
    assert rows[0][0] == "상담원 Agent" and rows[0][5] == "미응답 Missed"
    assert [r[:6] for r in rows[1:3]] == [
        ["1001", 3, 50.0, 2, 66.7, 0],
        ["1002", 2, 33.3, 1, 50.0, 1],
    ]


def test_json_table_keeps_raw_values() -> None:
    body = json.loads(json.dumps(json_table(TABLE)))
    assert (body["by"], body["tz"], body["from"]) == ("day", "Asia/Seoul", START.isoformat())
    first = body["rows"][0]
    assert first["key"] == "2026-11-30" and first["start"] == "2026-11-30T00:00:00+09:00"
    assert first["answer_rate"] == 2 / 3 and first["asa"] == 20.0
    assert body["total"]["requests"] == 6 and body["service_level_seconds"] == 20.0


def test_text_table_lines_up_korean_and_english_headers() -> None:
    lines = text_table(TABLE).splitlines()
    assert lines[0].startswith("통화 통계 Call statistics") and "Asia/Seoul" in lines[0]
    assert lines[1].startswith("날짜") and "요청" in lines[1] and "Requests" in lines[2]
    assert lines[4].startswith("2026-11-30") and lines[-1].startswith("합계 Total")
    assert set(lines[3]) == {"-"} and set(lines[-2]) == {"-"}


def test_html_page_is_self_contained() -> None:
    page = html_page(TABLE, b"\x89PNG fake")
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert "<th>요청 Requests</th>" in page and "<td>2026-11-30</td>" in page
    assert 'src="data:image/png;base64,iVBORyBmYWtl"' in page
    assert '<tr class="total">' in page and "http" not in page
    assert "<img" not in html_page(TABLE)
