"""CSV import and the ``customers`` commands on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cti_server.storage.customer_cli import add_customer_commands
from cti_server.storage.customer_import import ImportFileError, import_customers
from cti_server.storage.customers import CustomerDirectory
from cti_server.storage.db import Database
from cti_server.storage.tables import CustomerRow
from ivr_flows.settings import PinHashSettings

T0 = 1_800_000_000.0
HEADER = "customer_number,name,phone,email,vip,segment,language,assigned_agent,pin,national_id\n"
GOOD = (
    "30001,김하늘,010-1234-0001,sky@example.com,Y,gold,ko,1001,1234,880101-1234567\n"
    "30002,이바다,010-1234-0002,,no,,en,,5678,880202\n"
    "30003,박구름,,,,,,,,\n"
)
BAD = (
    ",이름만,010-0000-0000,,,,,,,\n"  # line 5
    "30004,최별,010-1234-0004,,maybe,,,,1234,\n"  # line 6
    "30005,정달,010-1234-0005,,,,,,12a4,\n"  # line 7
    "30001,중복,010-1234-0006,,,,,,,\n"  # line 8
    "30006,,010-1234-0007,,,,,,,\n"  # line 9
    "30007,한해,010-1234-0008,,,,,,,88-01\n"  # line 10
    "30008,오솔,010-1234-0009,,,,,,,880101-1234567\n"  # line 11: national ID of row 2
    "30009,유리,010-1234-0010,no-at-sign,,,,,,\n"  # line 12
)


@pytest.fixture
def directory(db_url: str) -> Iterator[CustomerDirectory]:
    database = Database(db_url)
    yield CustomerDirectory(
        database, national_id_key=b"k" * 32, pin_settings=PinHashSettings(n=2**10)
    )
    database.dispose_sync()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def count(directory: CustomerDirectory) -> int:
    with Session(directory.database.sync_engine) as session:
        return int(session.scalar(select(func.count()).select_from(CustomerRow)) or 0)


def test_good_rows_are_imported_and_bad_rows_reported(
    directory: CustomerDirectory, tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "customers.csv", HEADER + GOOD + BAD)
    calls: list[tuple[int, int]] = []
    report = import_customers(
        directory, csv_path, progress=lambda d, t: calls.append((d, t)), batch_size=4, now=T0
    )

    assert (report.total, report.imported) == (11, 3)
    reasons = {r.row: r.reason for r in report.rejected}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11, 12]
    assert reasons[5] == "customer_number: missing"
    assert reasons[6].startswith("vip: 'maybe'")
    assert reasons[7] == "pin: must be 4 to 8 digits"
    assert reasons[8] == "customer_number: duplicate of row 2"
    assert reasons[9] == "name: missing"
    assert reasons[10].startswith("national_id:")
    assert reasons[11] == "national_id: same as row 2"
    assert reasons[12].startswith("email:")
    assert not any("12a4" in r or "880101" in r for r in reasons.values())
    assert calls[0] == (0, 11) and calls[-1] == (11, 11)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    sky = directory.find("customer_number", "30001")
    assert sky is not None and sky.vip and sky.national_id_masked == "880101-*******"
    assert (
        directory.verify_pin("customer_number", "30001", "1234", call_id="c", caller=None, now=T0)[
            0
        ]
        == "ok"
    )
    sea = directory.find("national_id", "880202")
    assert sea is not None and sea.national_id_masked == "8802**" and not sea.vip
    cloud = directory.find("customer_number", "30003")
    assert cloud is not None and not cloud.has_pin and cloud.phone is None


def test_rows_already_in_the_database_are_rejected(
    directory: CustomerDirectory, tmp_path: Path
) -> None:
    csv_path = write(tmp_path / "customers.csv", HEADER + GOOD)
    assert import_customers(directory, csv_path, now=T0).ok
    again = import_customers(directory, csv_path, now=T0)
    assert again.imported == 0
    assert [(r.row, r.reason) for r in again.rejected] == [
        (2, "customer_number: exists already"),
        (3, "customer_number: exists already"),
        (4, "customer_number: exists already"),
    ]
    assert count(directory) == 3


def test_cp949_files_and_unknown_columns(directory: CustomerDirectory, tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "excel.csv", "Customer_Number,Name,비고\n40001,장미,메모\n", "cp949"
    )
    report = import_customers(directory, csv_path, now=T0)
    assert report.ok and report.imported == 1
    assert report.ignored_columns == ("비고",)
    found = directory.find("customer_number", "40001")
    assert found is not None and found.name == "장미"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        (b"name,phone\n\xea\xb9\x80,010\n", "no customer_number column"),
        (b"\xff\xfe\x00\x81\x00", "neither UTF-8 nor CP949"),
    ],
)
def test_unusable_files_raise(
    directory: CustomerDirectory, tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_customers(directory, path)


# --- the commands ----------------------------------------------------------------------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cti-server")
    add_customer_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def config_file(db_url: str, tmp_path: Path) -> Path:
    path = tmp_path / "cti.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"storage:\n  database_url: {db_url}\n"
        "ivr:\n  pin_hash:\n    n: 1024\n"
    )
    return path


def test_import_command_exit_codes_and_report(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.csv", HEADER + GOOD)
    assert run(["customers", "import", str(good), "--config", str(config_file)]) == 0
    assert "3 imported, 0 rejected of 3 rows" in capsys.readouterr().out

    mixed = write(tmp_path / "mixed.csv", HEADER + BAD)
    assert run(["customers", "import", str(mixed), "--config", str(config_file)]) == 1
    out = capsys.readouterr().out
    assert "0 imported, 8 rejected of 8 rows" in out
    assert "row 3: 30004: vip: 'maybe' is not yes/no" in out
    assert "row 5: 30001: customer_number: exists already" in out

    missing = tmp_path / "missing.csv"
    assert run(["customers", "import", str(missing), "--config", str(config_file)]) == 2
    assert "customers import:" in capsys.readouterr().err
    assert (tmp_path / "data" / "secrets" / "national_id.key").stat().st_mode & 0o777 == 0o600


def test_demo_show_and_unlock_commands(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    location = ["--config", str(config_file)]
    assert run(["customers", "demo", *location]) == 0
    assert "20 added" in capsys.readouterr().out
    assert run(["customers", "demo", *location]) == 0
    assert "0 added, 20 already there" in capsys.readouterr().out

    assert run(["customers", "show", "10001", *location]) == 0
    out = capsys.readouterr().out
    assert "김민준 (VIP)" in out and "850315-*******" in out
    assert "PIN:            set" in out and "scrypt" not in out
    assert "신한카드 ****1234" in out and "배송" in out

    assert run(["customers", "unlock", "10001", "--by", "1001", *location]) == 0
    assert "unlocked by 1001" in capsys.readouterr().out
    assert run(["customers", "show", "99999", *location]) == 1
    assert run(["customers", "unlock", "99999", *location]) == 1


def test_commands_need_an_upgraded_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = ["--data-dir", str(tmp_path / "empty")]
    assert run(["customers", "demo", *data_dir]) == 1
    assert run(["customers", "import", str(tmp_path / "x.csv"), *data_dir]) == 2
    assert "run `cti-server db upgrade` first" in capsys.readouterr().err


def test_help_is_useful(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["customers", "--help"])
    out = capsys.readouterr().out
    assert "customers import customers.csv" in out and "unlock" in out
    with pytest.raises(SystemExit):
        run(["customers", "import", "--help"])
    assert "0 all imported, 1 some rows rejected" in " ".join(capsys.readouterr().out.split())
