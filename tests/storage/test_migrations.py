"""Alembic migrations from scratch on SQLite and PostgreSQL, down to base and up again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cti_server.storage.db import Database
from cti_server.storage.migrations import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from cti_server.storage.tables import Base

TABLES = {
    "recordings",
    "call_records",
    "sip_accounts",
    "customers",
    "auth_attempts",
    "contact_history",
    "payment_methods",
    "frequent_products",
    "callbacks",
    "queue_events",
    "agent_state_log",
    "users",
    "campaigns",
    "leads",
    "dnc_numbers",
    "dispositions",
    "evaluations",
    "webhook_outbox",
    "recording_access",
}


@pytest.fixture
def fresh_db(fresh_db_url: str) -> Iterator[Database]:
    db = Database(fresh_db_url)
    yield db
    db.dispose_sync()


def _tables(db: Database) -> set[str]:
    return set(inspect(db.sync_engine).get_table_names())


def test_head_is_the_initial_revision() -> None:
    assert head_revision() == "0011"


def test_upgrade_from_scratch_creates_every_table(fresh_db: Database) -> None:
    assert current_revision(fresh_db.sync_engine) is None
    assert _tables(fresh_db) == set()

    assert upgrade(fresh_db.sync_engine) == "0011"

    assert _tables(fresh_db) == TABLES | {"alembic_version"}
    columns = {c["name"] for c in inspect(fresh_db.sync_engine).get_columns("recordings")}
    assert {"call_id", "agent_id", "queue", "customer_id", "started_at", "duration_s"} <= columns
    assert {"path", "sha256", "bytes", "status", "segments"} <= columns


def test_migrated_schema_matches_the_tables_module(fresh_db: Database) -> None:
    upgrade(fresh_db.sync_engine)
    with fresh_db.sync_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_indexes_and_check_constraints_exist(fresh_db: Database) -> None:
    upgrade(fresh_db.sync_engine)
    inspector = inspect(fresh_db.sync_engine)
    indexes = {i["name"] for i in inspector.get_indexes("recordings")}
    assert {"ix_recordings_call_id", "ix_recordings_agent_id_started_at"} <= indexes
    assert {"ix_recordings_queue_started_at", "ix_recordings_started_at"} <= indexes
    assert "ix_recordings_kind_agent_id" in indexes  # 0002: the voice-message inbox
    checks = {c["name"] for c in inspector.get_check_constraints("recordings")}
    assert checks == {"ck_recordings_status", "ck_recordings_kind"}
    checks = {c["name"] for c in inspector.get_check_constraints("sip_accounts")}
    assert checks == {"ck_sip_accounts_has_ha1"}


def test_upgrade_twice_is_a_no_op(fresh_db: Database) -> None:
    upgrade(fresh_db.sync_engine)
    assert upgrade(fresh_db.sync_engine) == "0011"
    assert _tables(fresh_db) == TABLES | {"alembic_version"}


def test_downgrade_to_base_and_up_again(fresh_db: Database) -> None:
    upgrade(fresh_db.sync_engine)

    assert downgrade(fresh_db.sync_engine, "base") is None
    assert _tables(fresh_db) == {"alembic_version"}

    assert upgrade(fresh_db.sync_engine) == "0011"
    assert _tables(fresh_db) >= TABLES


def test_alembic_command_with_a_url_instead_of_a_connection(fresh_db: Database) -> None:
    """The documented shell path: ``alembic.command`` with our config and a plain URL."""
    url = fresh_db.url.render_as_string(hide_password=False)
    command.upgrade(alembic_config(url=url), "head")
    assert current_revision(fresh_db.sync_engine) == "0011"


def test_offline_mode_prints_the_ddl(capfd: pytest.CaptureFixture[str]) -> None:
    """``--sql`` mode, for a DBA who applies the schema by hand; needs no server."""
    command.upgrade(alembic_config(url="postgresql://nobody@db.invalid/cti"), "head", sql=True)
    out = capfd.readouterr().out
    assert "CREATE TABLE recordings" in out
    assert "JSONB" in out
    assert "TIMESTAMP WITH TIME ZONE" in out
