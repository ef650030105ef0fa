"""``cti-server agents demo-history`` then ``agents report`` on a temporary SQLite file: the
proposal's before/after figures (MISSION.md item 11: handle time 150 s → 135 s, callbacks
handled 100 → 110 a day, answer rate 61 % → 68 %, and answered calls per agent) are read
back from the printed comparison within tolerance; the PNG chart, the CSV and the HTML page
are written; bad input ends with status 1 and one line on stderr."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from cti_server.__main__ import main
from cti_server.agent_report_cli import run
from cti_server.storage.db import Database
from cti_server.storage.migrations import upgrade

PERIOD = ["--from", "2026-11-02", "--to", "2026-11-16", "--compare-before", "2026-11-09"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weeks of demo history, better from the second Monday."""
    path = tmp_path_factory.mktemp("agents")
    db = Database(f"sqlite:///{path / 'cti.sqlite3'}")
    upgrade(db.sync_engine)
    db.dispose_sync()
    status = run(["demo-history", "--data-dir", str(path), "--weeks", "2", "--start", "2026-11-02"])
    assert status == 0
    return path


def figure(printed: str, label: str) -> tuple[float, float]:
    """Before and after of one line of the centre's comparison table."""
    match = re.search(re.escape(label) + r"\s+([\d.]+)%?\s+([\d.]+)%?\s", printed)
    assert match, f"no line {label!r} in:\n{printed}"
    return float(match.group(1)), float(match.group(2))


def test_the_proposal_figures_read_back(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "agents.png"
    assert run(["report", *PERIOD, "--data-dir", str(data_dir), "--format", "png",
                "--out", str(png)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert (
        "상담원 성과 Agent performance" in printed
        and "전후 비교 Before/after 2026-11-09" in printed
    )
    aht = figure(printed, "평균 처리 시간 Average handle time (s)")
    assert aht[0] == pytest.approx(150, abs=6) and aht[1] == pytest.approx(135, abs=6)
    rate = figure(printed, "응답률 Answer rate")
    assert rate[0] == pytest.approx(61, abs=1.5) and rate[1] == pytest.approx(68, abs=1.5)
    callbacks = figure(printed, "1일 콜백 처리 Callbacks handled per day")
    assert callbacks[0] == pytest.approx(100, rel=0.06) and callbacks[1] == pytest.approx(
        110, rel=0.06
    )
    answered = figure(printed, "상담원 1인 1일 응답 Answered per agent-day")
    assert answered[0] == pytest.approx(100, rel=0.08) and answered[1] > answered[0]
    for agent in ("1001", "1002"):  # each agent's own lines
        assert re.search(rf"^{agent}\s+평균 처리 시간 AHT \(s\)", printed, re.M)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert f"wrote {png}" in printed


def test_csv_and_html_with_one_agent(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "agents.csv"
    assert run(["report", *PERIOD, "--agent", "1001", "--data-dir", str(data_dir),
                "--format", "csv", "--out", str(out)]) == 0  # fmt: skip
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["기간 Period", "상담원 Agent", "처리 Handled", "인바운드 Inbound"]
    agents = [
        (r[0].split()[0], r[1]) for r in rows[1:] if r and r[0].startswith(("before", "after"))
    ]
    assert agents == [("before", "1001"), ("before", "합계 Total"), ("after", "1001"),
                      ("after", "합계 Total")]  # fmt: skip
    changes = {(r[0], r[1]): r for r in rows if len(r) == 5}
    before, after = float(changes["합계 Total", "aht"][2]), float(changes["합계 Total", "aht"][3])
    assert before > after
    page = tmp_path / "agents.html"
    assert run(["report", "--from", "2026-11-02", "--to", "2026-11-16", "--data-dir",
                str(data_dir), "--format", "html", "--out", str(page)]) == 0  # fmt: skip
    text = page.read_text(encoding="utf-8")
    assert "<h1>상담원 성과 Agent performance" in text and "data:image/png;base64," in text
    capsys.readouterr()


def test_the_main_command_knows_agents(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "report", "--from", "2026-11-03", "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert "2026-11-03T00:00+09:00 ≤ t < 2026-11-04T00:00+09:00" in printed
    assert re.search(r"^1001\s+\d+", printed, re.M)


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--from", "2026-13-01"], "--from: '2026-13-01' is not a date"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "must be after --from"),
        ([*PERIOD[:4], "--compare-before", "2026-12-01"], "--compare-before: the comparison"),
        (["--from", "2026-11-02", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_input_is_one_line(
    data_dir: Path, argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["report", *argv, "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("agents report: ") and reason in err and err.count("\n") == 1


def test_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo-history", "--data-dir", str(tmp_path)]) == 1
    assert "run `cti-server db upgrade` first" in capsys.readouterr().err
    assert run(["report", "--from", "2026-11-02", "--data-dir", str(tmp_path)]) == 1
    assert "no database at" in capsys.readouterr().err


def test_a_change_date_outside_the_history(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo-history", "--data-dir", str(data_dir), "--weeks", "2", "--start", "2026-11-02",
            "--change", "2026-12-25"]  # fmt: skip
    assert run(argv) == 1
    assert "the change date 2026-12-25 must lie after" in capsys.readouterr().err
