"""Desktop users in SQL (SQLite and PostgreSQL), migration 0005 and ``cti-server users``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect, select

from cti_server.__main__ import main
from cti_server.auth import Principal, Role, ScryptCost, UserError, check_hash_format
from cti_server.storage.db import Database
from cti_server.storage.migrations import downgrade, upgrade
from cti_server.storage.tables_users import UserRow
from cti_server.storage.users import DuplicateUser, UnknownUser, UserRepo, seed_demo_users

CHEAP = ScryptCost(n=1024)


@pytest.fixture
def repo(db_url: str) -> Iterator[UserRepo]:
    database = Database(db_url)
    yield UserRepo(database, cost=CHEAP)
    database.dispose_sync()


def test_add_get_list(repo: UserRepo) -> None:
    user = repo.add("1001", "1001pass", role="agent", agent_id="1001", display_name="김상담")
    assert user.principal == Principal("1001", Role.AGENT, "1001")
    assert user.created_at is not None and user.created_at.tzinfo is not None
    repo.add("super", "superpass", role="supervisor", language="en")
    assert repo.get("1001") == user
    assert repo.get("nobody") is None
    assert [u.username for u in repo.list()] == ["1001", "super"]
    assert repo.get("super").to_json() == {  # type: ignore[union-attr]
        "username": "super", "display_name": "super", "role": "supervisor",
        "agent_id": None, "language": "en"}  # fmt: skip


def test_only_a_hash_is_stored(repo: UserRepo) -> None:
    repo.add("admin", "adminpass", role="admin")
    with repo._session() as session:
        stored = session.scalars(select(UserRow.password_hash)).one()
    assert "adminpass" not in stored and check_hash_format(stored)


def test_bad_users_are_refused(repo: UserRepo) -> None:
    repo.add("1001", "1001pass", role="agent", agent_id="1001")
    with pytest.raises(DuplicateUser):
        repo.add("1001", "otherpass", role="agent", agent_id="1001")
    for kwargs, word in (
        ({"username": "bad name"}, "username"),
        ({"role": "boss"}, "role"),
        ({"agent_id": None}, "agent_id"),
        ({"language": "fr"}, "language"),
        ({"password": "short"}, "8"),
    ):
        args = {"username": "x1", "password": "longenough", "role": "agent", "agent_id": "1"}
        args |= kwargs
        with pytest.raises(UserError, match=word):
            repo.add(args.pop("username"), args.pop("password"), **args)  # type: ignore[arg-type]


def test_authenticate_passwd_disable(repo: UserRepo) -> None:
    repo.add("1002", "1002pass", role="agent", agent_id="1002")
    assert repo.authenticate("1002", "1002pass") is not None
    assert repo.authenticate("1002", "wrong-pass") is None
    assert repo.authenticate("ghost", "1002pass") is None
    repo.set_password("1002", "newpass99")
    assert repo.authenticate("1002", "1002pass") is None
    assert repo.authenticate("1002", "newpass99") is not None
    repo.set_disabled("1002")
    assert repo.authenticate("1002", "newpass99") is None and repo.get("1002").disabled  # type: ignore[union-attr]
    repo.set_disabled("1002", False)
    assert repo.authenticate("1002", "newpass99") is not None
    with pytest.raises(UnknownUser):
        repo.set_password("ghost", "whatever1")


def test_an_old_cost_is_rehashed_after_a_good_login(repo: UserRepo) -> None:
    repo.add("1001", "1001pass", role="agent", agent_id="1001")
    stronger = UserRepo(repo.database, cost=ScryptCost(n=2048))
    assert stronger.authenticate("1001", "1001pass") is not None
    with repo._session() as session:
        assert session.get(UserRow, "1001").password_hash.startswith("scrypt$2048$")  # type: ignore[union-attr]


def test_demo_users_are_seeded_once(repo: UserRepo) -> None:
    assert seed_demo_users(repo) == ["1001", "1002", "super", "admin"]
    assert seed_demo_users(repo) == []
    assert repo.authenticate("super", "superpass").role is Role.SUPERVISOR  # type: ignore[union-attr]
    assert repo.authenticate("1002", "1002pass").agent_id == "1002"  # type: ignore[union-attr]


def test_migration_0005_creates_the_table_the_model_describes(fresh_db_url: str) -> None:
    database = Database(fresh_db_url)
    try:
        upgrade(database.sync_engine, "0005")
        assert "users" in inspect(database.sync_engine).get_table_names()
        mine = MetaData()
        UserRow.__table__.to_metadata(mine)
        only_users = {"include_name": lambda name, kind, _: kind != "table" or name == "users"}
        with database.sync_engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts=only_users), mine)
        assert diff == []
        checks = {c["name"] for c in inspect(database.sync_engine).get_check_constraints("users")}
        assert checks == {"ck_users_role", "ck_users_language"}
        downgrade(database.sync_engine, "0004")
        assert "users" not in inspect(database.sync_engine).get_table_names()
    finally:
        database.dispose_sync()


def test_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--data-dir", str(tmp_path)]
    assert main(["db", "upgrade", *where]) == 0
    add = ["users", "add", "1001", "--role", "agent", "--agent-id", "1001"]
    assert main([*add, "--display-name", "김상담", "--password", "1001pass", *where]) == 0
    assert main([*add, "--password", "1001pass", *where]) == 1  # exists
    assert main(["users", "add", "x", "--role", "agent", "--password", "abcdefgh", *where]) == 2
    assert main(["users", "add", "y", "--role", "admin", "--password", "short", *where]) == 2
    assert main(["users", "demo", *where]) == 0
    assert main(["users", "passwd", "super", "--password", "another1", *where]) == 0
    assert main(["users", "disable", "1002", *where]) == 0
    assert main(["users", "disable", "ghost", *where]) == 1
    capsys.readouterr()
    assert main(["users", "list", *where]) == 0
    out = capsys.readouterr().out
    assert "1001pass" not in out and "scrypt" not in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["1001"][:5] == ["1001", "agent", "1001", "ko", "yes"] and "김상담" in out
    assert lines["1002"][4] == "no" and lines["super"][1] == "supervisor"
    database = Database(f"sqlite:///{tmp_path / 'cti.sqlite3'}")
    try:
        repo = UserRepo(database)
        assert repo.authenticate("super", "another1") is not None
        assert repo.authenticate("1002", "1002pass") is None  # disabled
    finally:
        database.dispose_sync()


def test_the_cli_help_is_useful(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["users", "--help"])
    out = capsys.readouterr().out
    assert "--agent-id" in out and "super/superpass" in out and "supervisor" in out
