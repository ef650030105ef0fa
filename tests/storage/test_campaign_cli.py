"""``cti-server campaigns``, run as an operator runs it: the real command in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

LEADS = (
    "number,name,customer_id,time_zone,상품\n"
    "010-1234-0001,김하늘,C-1,Asia/Seoul,정기적금\n"  # line 2
    "010-1234-0002,이바다,,,카드\n"  # line 3
    "010-12,짧은번호,,,\n"  # line 4: bad number
    "01012340001,중복,,,\n"  # line 5: duplicate of line 2
    "010-1234-0005,시간대,,Mars/Olympus,\n"  # line 6: bad zone
    "010-1234-0006,수신거부,,,\n"  # line 7: on the DNC list
    "+82 10-1234-0007,박구름,C-7,America/New_York,적금\n"  # line 8
)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cti_server", "--log-level", "WARNING", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        cwd=data_dir.parent,
    )


def at(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(data_dir, *args, "--data-dir", str(data_dir))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert cli(data, "db", "upgrade", "--data-dir", str(data)).returncode == 0
    return data


@pytest.mark.timeout(120)
def test_create_from_a_cp949_list_with_bad_rows(data_dir: Path, tmp_path: Path) -> None:
    added = at(data_dir, "campaigns", "dnc", "add", "010-1234-0006", "--reason", "고객 요청")
    assert added.returncode == 0, added.stderr
    assert "do-not-call: 1 added" in added.stdout

    source = tmp_path / "명단.csv"
    source.write_bytes(LEADS.encode("cp949"))  # as Excel saves it on a Korean Windows
    made = at(
        data_dir,
        "campaigns",
        "create",
        "renewal-dec",
        "--queue",
        "sales",
        "--csv",
        str(source),
        "--max-attempts",
        "2",
        "--batch-size",
        "3",
    )
    assert made.returncode == 1, made.stderr  # created, with rejected rows
    assert (
        "campaign renewal-dec created (draft, queue sales, agent-first): "
        "3 imported, 4 rejected of 7 rows" in made.stdout
    )
    report = tmp_path / "명단.rejected.csv"
    assert f"rejected rows: {report}" in made.stdout
    assert "  importing 7/7 rows (100%)" in made.stderr
    with report.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream))
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("4", "number: '010-12' is not a phone number (8-15 digits)"),
        ("5", "number: duplicate of row 2"),
        ("6", "time_zone: unknown time zone 'Mars/Olympus'"),
        ("7", "number: on the do-not-call list"),
    ]
    assert rows[1][2:] == ["010-12", "짧은번호", "", "", ""]

    listed = at(data_dir, "campaigns", "list")
    assert listed.returncode == 0
    (line,) = [r for r in listed.stdout.splitlines() if r.startswith("renewal-dec")]
    assert line.split()[:5] == ["renewal-dec", "draft", "sales", "agent-first", "3"]

    exported = at(data_dir, "campaigns", "export", "renewal-dec", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(r) for r in exported.stdout.splitlines()]
    assert [r["name"] for r in records] == ["김하늘", "이바다", "박구름"]
    assert records[2]["number"] == "01012340007"
    assert records[2]["time_zone"] == "America/New_York"
    assert records[0]["extra"] == {"상품": "정기적금"}
    assert {(r["status"], r["attempts"]) for r in records} == {("pending", 0)}
    assert records[0]["due_at"].endswith("+09:00")  # shown in the configured zone

    out = tmp_path / "result.csv"
    assert at(data_dir, "campaigns", "export", "renewal-dec", "--out", str(out)).returncode == 0
    with out.open(encoding="utf-8-sig", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [r["name"] for r in table] == ["김하늘", "이바다", "박구름"]
    assert table[1]["상품"] == "카드" and table[0]["status"] == "pending"


@pytest.mark.timeout(120)
def test_status_commands_and_their_errors(data_dir: Path, tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    source.write_text("number,name\n01099990000,최별\n", encoding="utf-8-sig")
    made = at(data_dir, "campaigns", "create", "c1", "--queue", "q", "--csv", str(source))
    assert made.returncode == 0, made.stderr + made.stdout
    assert "1 imported, 0 rejected" in made.stdout

    for command, status in (("start", "running"), ("pause", "paused"), ("resume", "running")):
        done = at(data_dir, "campaigns", command, "c1")
        assert (done.returncode, done.stdout) == (0, f"campaign c1: {status}\n")
    again = at(data_dir, "campaigns", "start", "c1")  # already running: a no-op
    assert (again.returncode, again.stdout) == (0, "campaign c1: running\n")
    assert at(data_dir, "campaigns", "stop", "c1").stdout == "campaign c1: stopped\n"
    refused = at(data_dir, "campaigns", "resume", "c1")
    assert refused.returncode == 2
    assert "'resume' (to 'running') is not allowed when it is 'stopped'" in refused.stderr
    missing = at(data_dir, "campaigns", "start", "nope")
    assert (missing.returncode, missing.stderr) == (2, "campaigns: no campaign 'nope'\n")

    twice = at(data_dir, "campaigns", "create", "c1", "--queue", "q", "--csv", str(source))
    assert twice.returncode == 2 and "'c1' exists already" in twice.stderr
    bad_name = at(data_dir, "campaigns", "create", "연말", "--queue", "q", "--csv", str(source))
    assert bad_name.returncode == 2 and "a name is 1-64 letters" in bad_name.stderr
    no_file = at(data_dir, "campaigns", "create", "c2", "--queue", "q", "--csv", "none.csv")
    assert no_file.returncode == 2 and "none.csv" in no_file.stderr
    assert "c2" not in at(data_dir, "campaigns", "list").stdout  # nothing was created


@pytest.mark.timeout(120)
def test_dnc_and_help(data_dir: Path) -> None:
    assert (
        at(data_dir, "campaigns", "dnc", "add", "02-555-0000", "+82 10 5555 0000").returncode == 0
    )
    listed = at(data_dir, "campaigns", "dnc", "list")
    assert "025550000" in listed.stdout and "01055550000" in listed.stdout
    assert "2 numbers" in listed.stdout
    removed = at(data_dir, "campaigns", "dnc", "remove", "010-5555-0000", "01000000000")
    assert removed.stdout.startswith("do-not-call: 1 removed, 1 unchanged")
    assert at(data_dir, "campaigns", "dnc", "add").returncode == 2

    helped = cli(data_dir, "campaigns", "--help")
    assert helped.returncode == 0 and "cti-server campaigns create" in helped.stdout
    create_help = cli(data_dir, "campaigns", "create", "--help")
    assert "--customer-first" in create_help.stdout and "--max-attempts" in create_help.stdout
    no_db = cli(data_dir, "campaigns", "list", "--data-dir", str(data_dir.parent / "empty"))
    assert no_db.returncode == 2 and "run `cti-server db upgrade` first" in no_db.stderr
