"""CRM exports of a period on SQLite and PostgreSQL (call records and contact history, CSV and
JSON lines, Korean text intact, times in the server's zone), and ``cti-server crm export``
run as an operator runs it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from cti_server.crm import export as crm_export
from cti_server.storage.db import Database
from cti_server.storage.tables import CallRecordRow, ContactRow, CustomerRow

KST = ZoneInfo("Asia/Seoul")
DEC1 = datetime(2026, 12, 1, tzinfo=KST)
DEC2 = datetime(2026, 12, 2, tzinfo=KST)
DEC3 = datetime(2026, 12, 3, tzinfo=KST)


def _record(call_id: str, start: datetime, **fields: object) -> dict[str, object]:
    t = start.timestamp()
    return {
        "call_id": call_id, "started_at": t, "answered_at": t + 20, "ended_at": t + 200,
        "caller": "01012345678", "called": "1588", "trunk": "kt", "queue": "sales",
        "agent_id": "1001", "customer_id": "cust-1", "outcome": "answered",
        "cause": "caller_hangup", "wait_seconds": 15.123456, "ring_seconds": 5.0,
        "talk_seconds": 170.0, "hold_seconds": 10.0, "holds": 1, "wrap_up_seconds": 30.0,
        "transfers": [{"at": t + 100, "target": "queue:support"}], "disposition": "해결",
        "callback_id": None, "version": 1,
    } | fields  # fmt: skip


def seed(database: Database) -> dict[str, int]:
    """Three calls (two on Dec 1 KST, one on Dec 2) and three contacts (likewise)."""
    calls = [
        _record("C1", DEC1.replace(hour=9)),
        _record("C2", DEC1.replace(hour=23, minute=59), disposition='재문의 예정, "긴급"'),
        _record("C3", DEC2.replace(hour=0, minute=0, second=1)),
    ]
    contacts: dict[str, int] = {}
    with Session(database.sync_engine) as session, session.begin():
        for r in calls:
            start = datetime.fromtimestamp(float(r["started_at"]), UTC)  # type: ignore[arg-type]
            session.add(CallRecordRow(
                call_id=r["call_id"], started_at=start, ended_at=start, caller=r["caller"],
                called=r["called"], trunk=r["trunk"], agent_id=r["agent_id"], cause=r["cause"],
                status=200, record=r,
            ))  # fmt: skip
        session.add(CustomerRow(id="cust-1", customer_number="10001", name="김민준",
                                created_at=DEC1, updated_at=DEC1))  # fmt: skip
        session.flush()
        for name, at, notes in (
            ("a", DEC1.replace(hour=10), "배송 지연으로 불만, 재배송 요청"),
            ("b", DEC1.replace(hour=15), "환불 문의\n두 번째 줄"),
            ("c", DEC2.replace(hour=10), "다음 날"),
        ):
            row = ContactRow(customer_id="cust-1", at=at, channel="call", call_id="C1",
                             agent_id="1001", queue="sales", category="배송",
                             summary="배송 지연", notes=notes, disposition="resolved")  # fmt: skip
            session.add(row)
            session.flush()
            contacts[name] = row.id
    return contacts


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    opened = Database(db_url)
    yield opened
    opened.dispose_sync()


def _export(database: Database, kind: crm_export.Kind, fmt: crm_export.Format,
            start: datetime = DEC1, end: datetime = DEC2) -> str:  # fmt: skip
    out = io.StringIO(newline="")
    crm_export.export(database, kind, fmt, start, end, KST, out)
    return out.getvalue()


def test_call_records_as_csv(database: Database) -> None:
    seed(database)
    rows = list(csv.DictReader(io.StringIO(_export(database, "call_record", "csv"))))
    assert [r["call_id"] for r in rows] == ["C1", "C2"]  # C3 started on Dec 2
    first = rows[0]
    assert tuple(first) == crm_export.CALL_COLUMNS
    assert first["started_at"] == "2026-12-01T09:00:00+09:00"
    assert first["answered_at"] == "2026-12-01T09:00:20+09:00"
    assert (first["wait_seconds"], first["transfers"], first["callback_id"]) == ("15.123", "1", "")
    assert first["disposition"] == "해결"
    assert rows[1]["disposition"] == '재문의 예정, "긴급"'  # quoted, comma and all


def test_call_records_as_json_lines(database: Database) -> None:
    seed(database)
    lines = _export(database, "call_record", "jsonl", DEC1, DEC3).splitlines()
    assert "해결" in lines[0]  # UTF-8, not \\uXXXX
    parsed = [json.loads(line) for line in lines]
    assert [p["call_id"] for p in parsed] == ["C1", "C2", "C3"]
    assert parsed[2]["started_at"] == "2026-12-02T00:00:01+09:00"
    assert parsed[0]["record"]["transfers"] == [{"at": DEC1.replace(hour=9).timestamp() + 100,
                                                 "target": "queue:support"}]  # fmt: skip


def test_contacts_as_csv_and_json_lines(database: Database) -> None:
    ids = seed(database)
    rows = list(csv.DictReader(io.StringIO(_export(database, "contact", "csv"))))
    assert [int(r["id"]) for r in rows] == [ids["a"], ids["b"]]
    assert tuple(rows[0]) == crm_export.CONTACT_COLUMNS
    assert rows[0]["notes"] == "배송 지연으로 불만, 재배송 요청"
    assert rows[1]["notes"] == "환불 문의\n두 번째 줄"
    assert rows[0]["at"] == "2026-12-01T10:00:00+09:00"
    assert rows[0]["customer_number"] == "10001" and rows[0]["category"] == "배송"
    lines = [json.loads(x) for x in _export(database, "contact", "jsonl", DEC2, DEC3).splitlines()]
    assert [(x["id"], x["notes"]) for x in lines] == [(ids["c"], "다음 날")]
    assert crm_export.count(database, "contact", DEC1, DEC3) == 3
    assert crm_export.count(database, "call_record", DEC1, DEC2) == 2


def test_pages_cover_everything_once(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(database)
    monkeypatch.setattr(crm_export, "PAGE", 1)
    calls = [json.loads(x)["call_id"] for x in
             _export(database, "call_record", "jsonl", DEC1, DEC3).splitlines()]  # fmt: skip
    assert calls == ["C1", "C2", "C3"]
    contacts = _export(database, "contact", "jsonl", DEC1, DEC3).splitlines()
    assert len(contacts) == 3


def test_bounds_must_be_aware(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        crm_export.export(database, "contact", "csv", datetime(2026, 12, 1), DEC2, KST,
                          io.StringIO())  # fmt: skip


# --- the command ---------------------------------------------------------------------------------


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti_server", "--log-level", "WARNING", *args,
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, encoding="utf-8", timeout=60, check=False,
        cwd=data_dir.parent,
    )  # fmt: skip


@pytest.mark.timeout(120)
def test_the_export_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, "db", "upgrade").returncode == 0
    database = Database(f"sqlite:///{data / 'cti.sqlite3'}")
    try:
        seed(database)
    finally:
        database.dispose_sync()

    out = tmp_path / "calls.csv"
    done = cli(data, "crm", "export", "--from", "2026-12-01", "--kind", "call_record",
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 call records from 2026-12-01T00:00:00+09:00" in done.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel shows Korean
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(r["call_id"], r["disposition"]) for r in rows] == [
        ("C1", "해결"), ("C2", '재문의 예정, "긴급"')]  # fmt: skip

    lines = cli(data, "crm", "export", "--from", "2026-12", "--kind", "contact",
                "--format", "jsonl")  # fmt: skip
    assert lines.returncode == 0, lines.stderr
    notes = [json.loads(x)["notes"] for x in lines.stdout.splitlines()]
    assert notes == ["배송 지연으로 불만, 재배송 요청", "환불 문의\n두 번째 줄", "다음 날"]

    utc = cli(data, "crm", "export", "--from", "2026-11-30T15:00", "--to", "2026-12-01T01:00",
              "--tz", "UTC", "--kind", "call_record", "--format", "jsonl")  # fmt: skip
    assert [json.loads(x)["call_id"] for x in utc.stdout.splitlines()] == ["C1"]

    bad = cli(data, "crm", "export", "--from", "yesterday")
    assert bad.returncode == 2 and "crm export: --from/--to:" in bad.stderr
    backwards = cli(data, "crm", "export", "--from", "2026-12-02", "--to", "2026-12-01")
    assert backwards.returncode == 2 and "must be after" in backwards.stderr
    zone = cli(data, "crm", "export", "--from", "2026-12-01", "--tz", "Mars/Olympus")
    assert zone.returncode == 2 and "unknown time zone" in zone.stderr
