"""Campaigns, their status machine, statistics, lead paging and the DNC list, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from acd.dialer_settings import CampaignSettings, PacingSettings
from cti_server.storage.campaigns import (
    CampaignExists,
    CampaignNotFound,
    CampaignRepo,
    DncRepo,
    IllegalCampaignStatus,
)
from cti_server.storage.db import Database
from cti_server.storage.tables_campaigns import CampaignStatus, LeadRow

T0 = 1_800_000_000.0


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose_sync()


@pytest.fixture
def repo(database: Database) -> CampaignRepo:
    return CampaignRepo(database)


def add_leads(database: Database, campaign: str, *rows: dict[str, object]) -> None:
    values = [
        {
            "campaign": campaign,
            "number": f"0101234{n:04d}",
            "name": f"고객{n}",
            "status": "pending",
            "attempts": 0,
            "due_at": utc(T0 + n),
            "outcome": None,
            "extra": {},
        }
        | row
        for n, row in enumerate(rows)
    ]
    with database.sync_engine.begin() as conn:
        conn.execute(insert(LeadRow), values)


def test_create_get_and_list(repo: CampaignRepo) -> None:
    made = repo.create("renewal", "sales", now=T0, pacing=1.5, caller_id="0212345678")
    assert made.status is CampaignStatus.DRAFT
    assert (made.queue, made.customer_first, made.pacing) == ("sales", False, 1.5)
    assert made.created_at == made.updated_at == utc(T0)
    repo.create("survey", "support", now=T0 + 1, customer_first=True, max_attempts=2)
    assert repo.get("renewal") == made
    assert repo.get("nope") is None
    assert [c.name for c in repo.list()] == ["renewal", "survey"]
    assert [c.name for c in repo.list(CampaignStatus.DRAFT)] == ["renewal", "survey"]
    assert repo.list(CampaignStatus.RUNNING) == []


def test_create_refuses_bad_values_and_duplicates(repo: CampaignRepo) -> None:
    repo.create("renewal", "sales", now=T0)
    with pytest.raises(CampaignExists, match="'renewal' exists already"):
        repo.create("renewal", "sales", now=T0)
    with pytest.raises(ValueError, match="a name is 1-64 letters"):
        repo.create("연말 캠페인", "sales", now=T0)
    with pytest.raises(ValueError, match=r"pacing 4\.0"):
        repo.create("x", "sales", now=T0, pacing=4.0)
    with pytest.raises(ValueError, match="max_attempts 0"):
        repo.create("x", "sales", now=T0, max_attempts=0)


def test_status_machine_and_commands(repo: CampaignRepo) -> None:
    repo.create("c", "sales", now=T0)
    assert repo.command("c", "start", now=T0 + 1).status is CampaignStatus.RUNNING
    assert repo.command("c", "pause", now=T0 + 2).status is CampaignStatus.PAUSED
    with pytest.raises(IllegalCampaignStatus, match=r"'start' .* not allowed when it is 'paused'"):
        repo.command("c", "start", now=T0 + 3)
    assert repo.command("c", "resume", now=T0 + 3).status is CampaignStatus.RUNNING
    assert repo.command("c", "stop", now=T0 + 4).status is CampaignStatus.STOPPED
    with pytest.raises(IllegalCampaignStatus, match="'resume'"):
        repo.command("c", "resume", now=T0 + 5)
    restarted = repo.command("c", "start", now=T0 + 5)
    assert restarted.status is CampaignStatus.RUNNING and restarted.updated_at == utc(T0 + 5)
    assert repo.set_status("c", "finished", now=T0 + 6).status is CampaignStatus.FINISHED
    with pytest.raises(ValueError) as raised:
        repo.set_status("c", CampaignStatus.RUNNING, now=T0 + 7)
    assert "'running'" in str(raised.value) and "'finished'" in str(raised.value)
    with pytest.raises(CampaignNotFound):
        repo.command("nope", "start", now=T0)
    with pytest.raises(ValueError, match="unknown campaign command 'go'"):
        repo.command("c", "go", now=T0)


def test_setting_the_same_status_is_a_no_op(repo: CampaignRepo) -> None:
    repo.create("c", "sales", now=T0)
    assert repo.set_status("c", "draft", now=T0 + 9).updated_at == utc(T0)


def test_stats_count_leads_attempts_and_answers(database: Database, repo: CampaignRepo) -> None:
    repo.create("c", "sales", now=T0)
    repo.create("empty", "sales", now=T0)
    add_leads(
        database,
        "c",
        {},
        {"status": "dialing", "attempts": 1},
        {"status": "done", "attempts": 2, "outcome": "answered"},
        {"status": "failed", "attempts": 3, "outcome": "max_attempts"},
        {"status": "cancelled"},
    )
    stats = repo.stats()
    c = stats["c"]
    assert c.total == 5
    assert c.by_status == {"pending": 1, "dialing": 1, "done": 1, "failed": 1, "cancelled": 1}
    assert (c.attempts, c.answered) == (6, 1)
    assert c.completion == pytest.approx(60.0)
    assert stats["empty"].total == 0 and stats["empty"].completion == 0.0
    assert set(repo.stats("c")) == {"c"}


def test_pending_leads_soonest_first_with_a_limit(database: Database, repo: CampaignRepo) -> None:
    repo.create("c", "sales", now=T0)
    repo.create("other", "sales", now=T0)
    add_leads(
        database,
        "c",
        {"due_at": utc(T0 + 50)},
        {"due_at": utc(T0 + 10)},
        {"due_at": utc(T0 + 30), "status": "done"},
        {"due_at": utc(T0 + 500)},
    )
    add_leads(database, "other", {"due_at": utc(T0)})
    leads = repo.pending_leads("c", limit=10)
    assert [lead.due_at for lead in leads] == [utc(T0 + 10), utc(T0 + 50), utc(T0 + 500)]
    assert [lead.name for lead in repo.pending_leads("c", limit=1)] == ["고객1"]
    assert len(repo.pending_leads("c", limit=10, due_before=T0 + 100)) == 2
    assert [lead.id for lead in repo.leads("c", page_size=2)] == sorted(
        lead.id for lead in repo.leads("c", page_size=100)
    )
    assert len(list(repo.leads("c", page_size=2))) == 4


def test_a_campaign_becomes_dialer_settings(repo: CampaignRepo) -> None:
    made = repo.create(
        "c", "sales", now=T0, customer_first=True, pacing=2.0, caller_id="0215880000"
    )
    plain = made.settings()
    assert (plain.name, plain.queue, plain.customer_first) == ("c", "sales", True)
    assert (plain.pacing.ratio, plain.caller_id, plain.max_attempts) == (2.0, "0215880000", 3)
    template = CampaignSettings(
        name="c", queue="old", max_attempts=5, pacing=PacingSettings(abandon_cap=0.01)
    )
    merged = made.settings(template)
    assert (merged.queue, merged.max_attempts, merged.pacing.ratio) == ("sales", 5, 2.0)
    assert merged.pacing.abandon_cap == 0.01


def test_deleting_a_campaign_deletes_its_leads(database: Database, repo: CampaignRepo) -> None:
    repo.create("c", "sales", now=T0)
    add_leads(database, "c", {})
    with database.sync_engine.begin() as conn:
        conn.execute(update(LeadRow).values(outcome="x"))
        conn.exec_driver_sql("DELETE FROM campaigns")
    assert list(repo.leads("c")) == []


def test_dnc_add_remove_contains_in_any_format(database: Database) -> None:
    dnc = DncRepo(database)
    added = dnc.add(["010-1234-5678", "+82 10 1234 5678", "02-555-0000"], now=T0, source="cli")
    assert added == ["01012345678", "025550000"]
    assert dnc.add(["01012345678"], now=T0) == []
    assert dnc.contains("+82-10-1234-5678")
    assert not dnc.contains("01099999999")
    assert dnc.numbers() == ["01012345678", "025550000"]
    assert dnc.listed(["01012345678", "01000000000"]) == {"01012345678"}
    entry = dnc.entries()[0]
    assert (entry.source, entry.added_at) == ("cli", utc(T0))
    assert dnc.remove(["010 1234 5678", "01000000000"]) == ["01012345678"]
    assert dnc.numbers() == ["025550000"]
    with pytest.raises(ValueError, match="no digits"):
        dnc.add(["없음"])
