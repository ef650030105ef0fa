"""Agent performance tables: bilingual headers, formatted cells and changes, CSV numbers, the
HTML page and the JSON bodies, over the hand-computed figures of test_agent_performance."""

from __future__ import annotations

import json

from metrics.agent_comparison import Change, split_compare
from metrics.agent_performance import performance_report
from metrics.agent_report import (
    change_text,
    csv_comparison,
    csv_rows,
    html_page,
    report_json,
    text_comparison,
    text_report,
)
from tests.unit.metrics.test_agent_performance import CALLS, KST, MON, SCORES, STATES, TUE, WED

REPORT = performance_report(CALLS, STATES, SCORES, start=MON, end=WED, tz=KST)
COMPARISON = split_compare(CALLS, STATES, SCORES, start=MON, at=TUE, end=WED, tz=KST)


def test_changes_in_points_counts_and_seconds() -> None:
    rate = Change(field="answer_rate", before=0.61, after=0.68, delta=0.07, relative=0.07 / 0.61)
    assert change_text(rate, "rate") == "+7.0%p (+11.5%)"
    assert change_text(Change(field="x", before=3, after=0, delta=-3, relative=-1.0),
                       "count") == "-3 (-100.0%)"  # fmt: skip
    assert change_text(Change(field="x", before=0, after=1.5, delta=1.5, relative=None),
                       "seconds") == "+1.5"  # fmt: skip
    assert change_text(Change(field="x", before=None, after=1, delta=None, relative=None),
                       "rate") == "-"  # fmt: skip


def test_text_has_both_languages_the_rows_and_the_centre() -> None:
    text = text_report(REPORT)
    lines = text.splitlines()
    assert lines[0].startswith("상담원 성과 Agent performance: 2026-11-30T00:00+09:00")
    assert lines[1].split()[:3] == ["상담원", "처리", "인바운드"]
    assert lines[2].split()[:3] == ["Agent", "Handled", "Inbound"]
    kim = next(line for line in lines if line.startswith("1001"))
    assert kim.split()[:5] == ["1001", "3", "2", "0", "1"] and "100.0" in kim and "33.3%" in kim
    assert "  응답률 Answer rate: 60.0%" in lines
    assert "  평균 처리 시간 Average handle time: 116.0 s" in lines


def test_comparison_text_and_csv() -> None:
    text = text_comparison(COMPARISON)
    assert "전후 비교 Before/after 2026-12-01" in text
    assert any(line.split()[-2:] == ["+40.0", "(+40.0%)"] for line in text.splitlines()
               if line.startswith("평균 처리 시간 Average handle time (s)"))  # fmt: skip
    rows = csv_comparison(COMPARISON)
    assert rows[0][:3] == ["기간 Period", "상담원 Agent", "처리 Handled"]
    changes = {(r[0], r[1]): r[2:] for r in rows if len(r) == 5}
    assert changes["합계 Total", "answer_rate"] == [100.0, 33.3, -66.7]
    assert changes["1001", "handled"] == [3, 0, -3]


def test_csv_html_and_json() -> None:
    rows = csv_rows(REPORT)
    assert rows[0][-3:] == ["점유율 Occupancy (%)", "QA 평균 QA avg", "QA 추세/주 QA trend/wk"]
    assert rows[1][1:6] == ["1001", 3, 2, 0, 1] and rows[-1][1] == "합계 Total"
    page = html_page(REPORT, COMPARISON, b"\x89PNG")
    assert "<td>1001</td><td>3</td>" in page and "data:image/png;base64,iVBORw==" in page
    body = json.loads(json.dumps(report_json(REPORT)))
    assert body["center"]["answer_rate"] == 0.6 and body["agents"][0]["qa_avg"] == 85.0
