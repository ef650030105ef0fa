"""``cti-server db upgrade`` and ``cti-server accounts``: what an operator types, end to end."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cti_server.config import Config
from cti_server.sip.digest import ha1
from cti_server.storage.cli import add_db_parser
from cti_server.storage.db import Database
from cti_server.storage.repos import account_from_row
from cti_server.storage.tables import SipAccountRow

if TYPE_CHECKING:
    from tests.storage.conftest import PgServer

PASSWORD = "Plain-Text-Pa55word"


def run(argv: list[str], stdin: str = "", *, tty: bool = False) -> int:
    parser = argparse.ArgumentParser(prog="cti-server")
    add_db_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    stream = io.StringIO(stdin)
    stream.isatty = lambda: tty  # type: ignore[method-assign]
    saved, sys.stdin = sys.stdin, stream
    try:
        return int(args.handler(args))
    finally:
        sys.stdin = saved


def stored(data_dir: Path, user: str) -> SipAccountRow | None:
    db = Database.from_config(Config(data_dir=str(data_dir)))
    with Session(db.sync_engine) as session:
        row = session.get(SipAccountRow, user)
    db.dispose_sync()
    return row


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_db_upgrade_prints_the_revision_and_is_safe_to_repeat(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["db", "upgrade", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"{data_dir.resolve() / 'cti.sqlite3'}: upgraded from empty to 0011 (head)" in out

    assert run(["db", "upgrade", "--data-dir", str(data_dir)]) == 0
    assert "already at 0011 (head)" in capsys.readouterr().out


def test_accounts_need_an_upgraded_database(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["accounts", "add", "1001", "--data-dir", str(data_dir)], PASSWORD + "\n") == 1
    assert "run `cti-server db upgrade` first" in capsys.readouterr().err


def test_accounts_add_from_stdin_stores_only_ha1s(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade", "--data-dir", str(data_dir)])
    argv = ["accounts", "add", "1001", "--display-name", "Agent Kim", "--data-dir", str(data_dir)]
    assert run(argv, PASSWORD + "\n") == 0
    assert "account 1001@cti.local added" in capsys.readouterr().out

    assert run(["accounts", "list", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "1001" in out and "Agent Kim" in out and "(server)" in out
    assert ha1("1001", "cti.local", PASSWORD, "MD5") not in out  # no hashes on screen either

    row = stored(data_dir, "1001")
    assert row is not None
    assert row.ha1_md5 == ha1("1001", "cti.local", PASSWORD, "MD5")
    assert row.ha1_sha256 == ha1("1001", "cti.local", PASSWORD, "SHA-256")
    assert row.digest_algorithms is None and row.enabled
    files = list(data_dir.iterdir())
    assert any(f.name == "cti.sqlite3" for f in files)
    for f in files:  # the database and any -wal/-shm beside it
        assert PASSWORD.encode() not in f.read_bytes(), f.name


def test_accounts_add_again_updates_and_keeps_created_at(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade", "--data-dir", str(data_dir)])
    run(["accounts", "add", "1001", "--data-dir", str(data_dir)], "first\n")
    before = stored(data_dir, "1001")
    assert run(["accounts", "add", "1001", "--data-dir", str(data_dir)], "second\n") == 0
    assert "account 1001@cti.local updated" in capsys.readouterr().out
    after = stored(data_dir, "1001")
    assert before is not None and after is not None
    assert after.ha1_md5 == ha1("1001", "cti.local", "second", "MD5")
    assert after.created_at == before.created_at


def test_md5_only_and_realm_from_the_config(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "cti.yaml"
    config.write_text(f"data_dir: {data_dir}\nsip: {{realm: example.org}}\n")
    run(["db", "upgrade", "--config", str(config)])
    assert run(["accounts", "add", "2001", "--md5-only", "--config", str(config)], "pw\n") == 0
    assert "account 2001@example.org added" in capsys.readouterr().out

    row = stored(data_dir, "2001")
    assert row is not None
    assert row.realm == "example.org"
    assert row.ha1_md5 == ha1("2001", "example.org", "pw", "MD5")
    assert row.ha1_sha256 is None and row.digest_algorithms == ["MD5"]
    run(["accounts", "list", "--config", str(config)])
    assert "MD5" in capsys.readouterr().out


def test_terminal_prompt_twice_and_mismatch_stores_nothing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade", "--data-dir", str(data_dir)])
    answers = iter(["one", "two", "same", "same"])
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    assert run(["accounts", "add", "1001", "--data-dir", str(data_dir)], tty=True) == 2
    assert "differ" in capsys.readouterr().err
    assert stored(data_dir, "1001") is None

    assert run(["accounts", "add", "1001", "--data-dir", str(data_dir)], tty=True) == 0
    assert prompts[0] == "password for 1001@cti.local: "
    row = stored(data_dir, "1001")
    assert row is not None and row.ha1_md5 == ha1("1001", "cti.local", "same", "MD5")


def test_bad_user_and_empty_password_are_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["db", "upgrade", "--data-dir", str(data_dir)])
    assert run(["accounts", "add", "10 01", "--data-dir", str(data_dir)], "pw\n") == 2
    assert "not a valid SIP user" in capsys.readouterr().err
    assert run(["accounts", "add", "1001", "--data-dir", str(data_dir)], "\n") == 2
    assert "empty password" in capsys.readouterr().err
    assert stored(data_dir, "1001") is None


def test_accounts_remove(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["db", "upgrade", "--data-dir", str(data_dir)])
    run(["accounts", "add", "1001", "--data-dir", str(data_dir)], "pw\n")
    assert run(["accounts", "remove", "1001", "--data-dir", str(data_dir)]) == 0
    assert "account 1001 removed" in capsys.readouterr().out
    assert stored(data_dir, "1001") is None
    assert run(["accounts", "remove", "1001", "--data-dir", str(data_dir)]) == 1
    assert "no account '1001'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["db", "--help"], "cti-server db upgrade --config cti.yaml"),
        (["db", "upgrade", "--help"], "--data-dir"),
        (["accounts", "--help"], "Only the digest HA1s"),
        (["accounts", "add", "--help"], "one line from stdin"),
        (["accounts", "add", "--help"], "--md5-only"),
        (["accounts", "list", "--help"], "--config"),
        (["accounts", "remove", "--help"], "--data-dir"),
    ],
)
def test_help(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(argv)
    assert exit_info.value.code == 0
    assert expected in " ".join(capsys.readouterr().out.split())


def test_the_same_commands_on_postgresql(
    pg_server: PgServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = pg_server.create_database("cli")
    config = tmp_path / "cti.yaml"
    config.write_text(f"storage: {{database_url: '{url}'}}\n")
    assert run(["db", "upgrade", "--config", str(config)]) == 0
    assert "upgraded from empty to 0011 (head)" in capsys.readouterr().out
    assert run(["accounts", "add", "1001", "--config", str(config)], PASSWORD + "\n") == 0
    assert run(["accounts", "list", "--config", str(config)]) == 0
    assert "1001" in capsys.readouterr().out

    db = Database(url)
    with Session(db.sync_engine) as session:
        rows = [account_from_row(r) for r in session.scalars(select(SipAccountRow))]
    db.dispose_sync()
    assert [(a.user, a.ha1_md5) for a in rows] == [("1001", ha1("1001", "cti.local", PASSWORD))]
    assert run(["accounts", "remove", "1001", "--config", str(config)]) == 0
