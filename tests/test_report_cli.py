"""``cti-server report`` against a migrated SQLite file with records stored through the
CallRecordRepo, and ``GET /api/v1/stats`` over the same records."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_twisted
from sqlalchemy import insert
from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from cti_server.api.stats import StatsResource
from cti_server.report_cli import from_stored, run, to_stored
from cti_server.storage import CallRecord as StoredCall
from cti_server.storage import CallRecordRepo, Database, run_in_loop
from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.dialer_store import DialerStore
from cti_server.storage.migrations import upgrade
from cti_server.storage.tables import CallRecordRow
from metrics.cdr import CallRecord, Outcome
from tests.unit.metrics.test_stats import CALLS, KST

LEGACY = StoredCall(  # a row written without the fold's JSON: read from its columns
    call_id="legacy",
    started_at=datetime(2026, 12, 1, 6, 0, tzinfo=UTC),  # 15:00 KST
    answered_at=datetime(2026, 12, 1, 6, 0, 4, tzinfo=UTC),
    ended_at=datetime(2026, 12, 1, 6, 1, 4, tzinfo=UTC),
    caller="010",
    called="1588",
    cause="caller_hangup",
    status=0,
    agent_id="1003",
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    db = Database(f"sqlite:///{tmp_path / 'cti.sqlite3'}")
    upgrade(db.sync_engine)
    db.dispose_sync()
    return tmp_path


@pytest_twisted.ensureDeferred
async def stored(data_dir: Path) -> None:
    db = Database(f"sqlite:///{data_dir / 'cti.sqlite3'}")
    repo = CallRecordRepo(db.async_session)
    await run_in_loop(repo.upsert_many([*(to_stored(r) for r in CALLS), LEGACY]))
    await run_in_loop(db.dispose())


def report(data_dir: Path, command: str) -> int:
    return run(["--data-dir", str(data_dir), *command.split()])


@pytest_twisted.ensureDeferred
async def test_csv_html_and_png_from_the_database(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await stored(data_dir)
    out = tmp_path / "days.csv"
    assert report(data_dir, f"--from 2026-11-30 --to 2026-12-02 --format csv --out {out}") == 0
    printed = capsys.readouterr().out
    assert "통화 통계 Call statistics" in printed and f"wrote {out}" in printed
    with out.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = "날짜 Date,요청 Requests,비율 Share (%),응답 Answered,응답률 Answer rate (%)"
    assert rows[0][:5] == header.split(",")
    # Nov 30 as in tests/unit/metrics/test_stats.py (its share now of 7 requests);
    # Dec 1 gains the legacy row, an answered call
    nov30 = "2026-11-30,3,42.9,2,66.7,1,1,0.0,50.0,20.0,420.0,210.0,43.0,14.3,20.0,230.0,0,0,"
    assert rows[1] == nov30.split(",")
    assert rows[2][:5] == ["2026-12-01", "4", "57.1", "2", "50.0"]
    assert rows[3][:5] == ["합계 Total", "7", "100.0", "4", "57.1"]

    page = tmp_path / "month.html"
    assert report(data_dir, f"--from 2026-11 --by day --format html --out {page}") == 0
    text = page.read_text(encoding="utf-8")
    assert "<td>2026-11-30</td>" in text and "data:image/png;base64," in text
    assert text.count("<tr>") == 1 + 30  # the header, and every day of November

    chart = tmp_path / "agents.png"
    command = f"--from 2026-11-30 --to 2026-12-02 --by agent --format png --out {chart}"
    assert report(data_dir, command) == 0
    png = chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert "1003" in capsys.readouterr().out  # the legacy row's agent has a row


def test_bad_dates_and_periods_exit_1_with_a_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(data_dir, "--from 2026-13-01") == 1
    assert "report: --from: '2026-13-01' is not a date" in capsys.readouterr().err
    assert report(data_dir, "--from 2026-12-02 --to 2026-12-01") == 1
    assert "must be after --from" in capsys.readouterr().err
    assert report(data_dir, "--from 2026-12-01 --tz Mars/Olympus") == 1
    assert "unknown time zone" in capsys.readouterr().err


def test_a_database_missing_or_not_migrated_says_run_db_upgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(tmp_path / "none", "--from 2026-12-01") == 1
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # not created by looking
    Database(f"sqlite:///{tmp_path / 'cti.sqlite3'}").sync_engine.connect().close()
    assert report(tmp_path, "--from 2026-12-01") == 1
    assert "is at revision none" in capsys.readouterr().err


def test_stored_rows_round_trip_the_fold() -> None:
    record = CALLS[1]
    row = to_stored(record)
    assert row.started_at == datetime.fromtimestamp(record.started_at, UTC)
    assert row.agent_id == "1002" and row.record["outcome"] == "answered"
    assert from_stored(row) == record
    legacy = from_stored(LEGACY)
    assert legacy.outcome is Outcome.ANSWERED and legacy.talk_seconds == 60.0
    assert legacy.requested_agent
    with pytest.raises(ValueError, match="has not ended"):
        to_stored(CallRecord(call_id="open", started_at=1.0))


def get(resource: StatsResource, **args: str) -> tuple[int, dict[str, object]]:
    request = DummyRequest([])
    request.args = {k.encode(): [v.encode()] for k, v in args.items()}
    body = resource.render_GET(request)  # type: ignore[arg-type]
    if body == NOT_DONE_YET:
        assert request.finished
        body = b"".join(request.written)
    assert isinstance(body, bytes)
    return int(request.responseCode or 200), json.loads(body)


def test_stats_api_rows_and_errors() -> None:
    asked: list[tuple[datetime, datetime]] = []

    def load(start: datetime, end: datetime) -> Deferred[list[CallRecord]]:
        asked.append((start, end))
        return succeed(CALLS)

    api = StatsResource(load, KST)
    status, body = get(api, **{"from": "2026-11-30", "to": "2026-12-02", "by": "day"})
    assert status == 200 and (body["by"], body["tz"]) == ("day", "Asia/Seoul")
    rows = body["rows"]
    assert isinstance(rows, list) and [r["key"] for r in rows] == ["2026-11-30", "2026-12-01"]
    assert rows[0]["answered"] == 2 and rows[0]["service_level"] == 0.5
    assert asked == [(datetime(2026, 11, 30, tzinfo=KST), datetime(2026, 12, 2, tzinfo=KST))]
    status, body = get(api, **{"from": "2026-12", "by": "agent", "sl": "30"})
    assert status == 200 and body["service_level_seconds"] == 30.0
    for bad in (
        {"by": "day"},
        {"from": "yesterday"},
        {"from": "2026-12-01", "by": "week"},
        {"from": "2020", "to": "2026"},
        {"from": "2026-12-01", "sl": "x"},
    ):
        status, body = get(api, **bad)
        assert status == 400 and body["error"] == "bad_query", bad
    broken = StatsResource(lambda a, b: fail(RuntimeError("db down")), KST)
    status, body = get(broken, **{"from": "2026-12-01"})
    assert status == 503 and body == {"error": "database_unavailable", "detail": "db down"}


def test_the_callbacks_section_from_the_database(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(f"sqlite:///{data_dir / 'cti.sqlite3'}")
    requests, store = CallbackRepo(db), DialerStore(db)
    nine = datetime(2026, 12, 1, 0, 0, tzinfo=UTC).timestamp()  # 09:00 KST
    done, _ = requests.request("01011112222", "sales", call_id="in-1", customer_id=None,
                               due_at=nine, now=nine)  # fmt: skip
    assert store.mark_dialing(done, "callback", 1, nine + 1200)  # 20 min later
    assert store.complete(done, "callback")
    requests.request("01033334444", "sales", call_id="in-2", customer_id=None,
                     due_at=nine + 60, now=nine + 60)  # fmt: skip
    dialled = CallRecord(
        call_id="out-1",
        started_at=nine + 1200,
        route="dialer:callback",
        queue="sales",
        callback_id=done,
        agent_id="1001",
        answered_at=nine + 1210,
        talk_seconds=90.0,
        wrap_up_seconds=30.0,
        outcome=Outcome.ANSWERED,
        cause="caller_hangup",
        ended_at=nine + 1300,
    )
    row = to_stored(dialled)
    with db.sync_engine.begin() as conn:
        conn.execute(insert(CallRecordRow), [{f.name: getattr(row, f.name) for f in fields(row)}])
    db.dispose_sync()

    assert report(data_dir, "--from 2026-12-01") == 0
    printed = capsys.readouterr().out
    section = printed[printed.index("콜백 Callbacks:") :]
    lines = section.splitlines()
    assert lines[1].split()[:3] == ["큐", "요청", "재요청"]
    assert lines[2].split()[:3] == ["Queue", "Requested", "Repeats"]
    sales = lines[4].split()
    # requested 2, repeats 0, done 1, failed 0, pending 1, (overdue: by the wall clock),
    # completion 100 %, done/requested 50 %, time to callback 20 min (avg, median, p90),
    # 1 attempt per completion, AHT 120 s (talk 90 + wrap-up 30)
    expected = ["sales", "2", "0", "1", "0", "1", "100.0%", "50.0%", "0:20:00", "0:20:00",
                "0:20:00", "1.00", "120.0"]  # fmt: skip
    assert sales[:6] + sales[7:] == expected
    assert "캠페인 Campaigns: 없음 none" in section
