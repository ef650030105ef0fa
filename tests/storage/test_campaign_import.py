"""Call lists from CSV: Korean text in any of the usual encodings, bad rows reported."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cti_server.storage.campaign_import import (
    ImportFileError,
    import_leads,
    read_lead_file,
    reject_report_path,
)
from cti_server.storage.campaigns import CampaignNotFound, CampaignRepo, DncRepo
from cti_server.storage.db import Database

T0 = 1_800_000_000.0
HEADER = "number,name,customer_id,time_zone,상품,메모\n"
GOOD = (
    "010-1234-0001,김하늘,C-1,Asia/Seoul,정기적금,만기 안내\n"  # line 2
    "+82 10-1234-0002,이바다,,,카드,\n"  # line 3
    "0212345678,박구름,C-3,America/Los_Angeles,,재외 고객\n"  # line 4
)
BAD = (
    ",이름만,,,,\n"  # line 5: no number
    "010-12,짧은번호,,,,\n"  # line 6: too few digits
    "01012340001,중복,,,,\n"  # line 7: the number of line 2
    "010-1234-0008,시간대,,Seoul/Gangnam,,\n"  # line 8: no such zone
    "010-1234-0009,수신거부,,,,\n"  # line 9: on the DNC list
    "010-1234-0010,칸초과,,,,,넘침\n"  # line 10: more cells than columns
)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    CampaignRepo(database).create("renewal", "sales", now=T0)
    DncRepo(database).add(["01012340009"], now=T0)
    yield database
    database.dispose_sync()


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_good_rows_become_pending_leads(database: Database, tmp_path: Path) -> None:
    report = import_leads(database, "renewal", write(tmp_path, HEADER + GOOD), now=T0)
    assert (report.total, report.imported, report.rejected, report.report_path) == (3, 3, (), None)
    assert report.ok
    leads = {lead.number: lead for lead in CampaignRepo(database).leads("renewal")}
    assert set(leads) == {"01012340001", "01012340002", "0212345678"}
    first = leads["01012340001"]
    assert (first.name, first.customer_id, first.time_zone) == ("김하늘", "C-1", "Asia/Seoul")
    assert first.extra == {"상품": "정기적금", "메모": "만기 안내"}
    assert (first.status, first.attempts, first.due_at) == (
        "pending",
        0,
        datetime.fromtimestamp(T0, UTC),
    )
    second = leads["01012340002"]
    assert (second.customer_id, second.time_zone) == (None, None)


def test_bad_rows_are_rejected_with_reasons_and_a_report(
    database: Database, tmp_path: Path
) -> None:
    source = write(tmp_path, HEADER + GOOD + BAD)
    report = import_leads(database, "renewal", source, now=T0)
    assert (report.total, report.imported) == (9, 3)
    reasons = {r.row: r.reason for r in report.rejected}
    assert reasons == {
        5: "number: missing",
        6: "number: '010-12' is not a phone number (8-15 digits)",
        7: "number: duplicate of row 2",
        8: "time_zone: unknown time zone 'Seoul/Gangnam'",
        9: "number: on the do-not-call list",
        10: "7 cells, more than the header's 6 columns",
    }
    assert report.report_path == reject_report_path(source) == tmp_path / "leads.rejected.csv"
    with report.report_path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == [
        "row",
        "reason",
        "number",
        "name",
        "customer_id",
        "time_zone",
        "상품",
        "메모",
    ]
    assert rows[1] == ["5", "number: missing", "", "이름만", "", "", "", ""]
    assert rows[4][:4] == [
        "8",
        "time_zone: unknown time zone 'Seoul/Gangnam'",
        "010-1234-0008",
        "시간대",
    ]
    assert len(rows) == 7


def test_importing_again_adds_nothing_twice(database: Database, tmp_path: Path) -> None:
    source = write(tmp_path, HEADER + GOOD)
    import_leads(database, "renewal", source, now=T0)
    again = import_leads(database, "renewal", source, now=T0, report_path=tmp_path / "r.csv")
    assert again.imported == 0
    assert {r.reason for r in again.rejected} == {"number: already in this campaign"}
    assert again.report_path == tmp_path / "r.csv" and again.report_path.exists()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949", "euc-kr"])
def test_korean_in_every_usual_encoding(database: Database, tmp_path: Path, encoding: str) -> None:
    text = "전화번호,이름,시간대,지역\n010-9876-5432,정다운,Asia/Seoul,부산광역시\n"
    report = import_leads(database, "renewal", write(tmp_path, text, encoding), now=T0)
    assert report.imported == 1, report.rejected
    (only,) = CampaignRepo(database).leads("renewal")
    assert (only.number, only.name, only.time_zone) == ("01098765432", "정다운", "Asia/Seoul")
    assert only.extra == {"지역": "부산광역시"}


def test_batches_and_progress(database: Database, tmp_path: Path) -> None:
    rows = "".join(f"0107000{n:04d},고객{n}\n" for n in range(11))
    seen: list[tuple[int, int]] = []
    report = import_leads(
        database,
        "renewal",
        write(tmp_path, "number,name\n" + rows),
        progress=lambda done, total: seen.append((done, total)),
        batch_size=4,
        now=T0,
    )
    assert report.imported == 11
    assert seen == [(0, 11), (4, 11), (8, 11), (11, 11)]


def test_unusable_files_and_campaigns(database: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="No such file"):
        read_lead_file(tmp_path / "missing.csv")
    with pytest.raises(ImportFileError, match="no 'number' column"):
        read_lead_file(write(tmp_path, "name,phone_no\n김,0101\n"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"number\n\xc9\n")
    with pytest.raises(ImportFileError, match="neither UTF-8 nor CP949"):
        read_lead_file(bad)
    with pytest.raises(ImportFileError, match="named twice in the header: number"):
        read_lead_file(write(tmp_path, "number,전화번호\n1,2\n"))
    with pytest.raises(CampaignNotFound):
        import_leads(database, "nope", write(tmp_path, HEADER + GOOD), now=T0)


def test_blank_lines_are_skipped_and_line_numbers_kept(database: Database, tmp_path: Path) -> None:
    text = "number,name\n\n01011112222,가\n,,\n010-12,나\n"
    report = import_leads(database, "renewal", write(tmp_path, text), now=T0)
    assert (report.total, report.imported) == (2, 1)
    assert [r.row for r in report.rejected] == [5]
