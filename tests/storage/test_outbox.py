"""The webhook outbox in SQL on SQLite and PostgreSQL: idempotent enqueue, due order, claims
with leases, and transitions guarded by state and attempt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cti_server.crm.outbox import OutboxStatus
from cti_server.storage.db import Database
from cti_server.storage.outbox import NewEntry, OutboxRepo, enqueue_in

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def repo(db_url: str) -> Iterator[OutboxRepo]:
    database = Database(db_url)
    yield OutboxRepo(database)
    database.dispose_sync()


def new(key: str, endpoint: str = "crm", **changes: object) -> NewEntry:
    values: dict[str, object] = {
        "endpoint": endpoint,
        "kind": "call_record",
        "key": f"call_record:{key}",
        "payload": {"call_id": key, "notes": "배송 문의"},
    }
    return NewEntry(**(values | changes))  # type: ignore[arg-type]


def test_enqueue_twice_keeps_one_row_per_endpoint_and_key(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1"), new("C1", endpoint="bi")], T0)
    repo.enqueue([new("C1"), new("C1", endpoint="bi")], T0 + 5)  # a replayed batch
    rows = repo.entries()
    assert sorted((r.endpoint, r.key) for r in rows) == [("bi", "call_record:C1"),
                                                         ("crm", "call_record:C1")]  # fmt: skip
    crm = repo.get("crm", "call_record:C1")
    assert crm is not None
    assert crm.status is OutboxStatus.PENDING and crm.attempts == 0
    assert crm.payload == {"call_id": "C1", "notes": "배송 문의"}
    assert crm.created_at.timestamp() == T0 and crm.next_attempt_at.timestamp() == T0


def test_a_batch_with_the_same_key_twice_keeps_the_last(repo: OutboxRepo) -> None:
    first = new("C1", payload={"call_id": "C1", "v": 1})
    last = new("C1", payload={"call_id": "C1", "v": 2})
    assert repo.enqueue([first, last], T0) == 1
    assert [r.payload["v"] for r in repo.entries()] == [2]


def test_a_newer_version_replaces_a_held_payload_and_comes_due(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1", payload={"v": "open"}, not_before=T0 + 900)], T0)
    assert repo.due(T0 + 10, 10) == []  # held back
    repo.enqueue([new("C1", payload={"v": "final"})], T0 + 10)
    due = repo.due(T0 + 10, 10)
    assert [(d.payload["v"], d.next_attempt_at.timestamp()) for d in due] == [("final", T0 + 10)]
    repo.enqueue([new("C1", payload={"v": "timed out"}, not_before=T0 + 2000)], T0 + 20)
    entry = repo.get("crm", "call_record:C1")
    assert entry is not None and entry.next_attempt_at.timestamp() == T0 + 10  # never later


def test_nothing_changes_once_a_row_was_tried(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1", payload={"v": 1})], T0)
    claimed = repo.claim("crm", T0, 10, T0 + 40)
    assert [c.attempts for c in claimed] == [1]
    repo.enqueue([new("C1", payload={"v": 2})], T0 + 1)  # delivering: untouched
    assert repo.mark_failed(claimed[0].id, 1, T0 + 100, 503, "HTTP 503")
    repo.enqueue([new("C1", payload={"v": 3})], T0 + 2)  # pending after a try: payload only
    entry = repo.get("crm", "call_record:C1")
    assert entry is not None
    assert entry.payload == {"v": 3} and entry.next_attempt_at.timestamp() == T0 + 100
    claimed = repo.claim("crm", T0 + 100, 10, T0 + 140)
    assert repo.mark_delivered(claimed[0].id, 2, T0 + 101, 200)
    repo.enqueue([new("C1", payload={"v": 4})], T0 + 200)  # delivered: never again
    entry = repo.get("crm", "call_record:C1")
    assert entry is not None and entry.status is OutboxStatus.DELIVERED
    assert entry.payload == {"v": 3} and entry.delivered_at is not None
    assert repo.due(T0 + 10_000, 10) == []


def test_due_is_soonest_first_and_per_endpoint(repo: OutboxRepo) -> None:
    repo.enqueue([new("late", not_before=T0 + 30)], T0)
    repo.enqueue([new("first"), new("other", endpoint="bi")], T0)
    repo.enqueue([new("second")], T0 + 10)
    repo.enqueue([new("future", not_before=T0 + 999)], T0)
    keys = [d.key for d in repo.due(T0 + 60, 10, endpoint="crm")]
    assert keys == ["call_record:first", "call_record:second", "call_record:late"]
    assert [d.key for d in repo.due(T0 + 60, 2, endpoint="crm")] == keys[:2]
    assert [d.endpoint for d in repo.due(T0 + 60, 10)].count("bi") == 1


def test_claim_takes_each_row_once_until_its_lease_lapses(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1"), new("C2")], T0)
    first = repo.claim("crm", T0, 10, T0 + 40)
    assert [(c.status, c.attempts) for c in first] == [(OutboxStatus.DELIVERING, 1)] * 2
    assert repo.claim("crm", T0 + 1, 10, T0 + 41) == []  # another node, same moment
    assert repo.mark_delivering(first[0].id, T0 + 1, T0 + 41) is None
    again = repo.claim("crm", T0 + 40, 1, T0 + 80)  # the first claimer died
    assert [(c.key, c.attempts) for c in again] == [(first[0].key, 2)]
    # the dead claimer's late answer applies to nothing
    assert not repo.mark_delivered(first[0].id, 1, T0 + 41, 200)
    assert repo.mark_delivered(again[0].id, 2, T0 + 41, 200)


def test_answers_are_guarded_by_state(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1")], T0)
    entry = repo.get("crm", "call_record:C1")
    assert entry is not None
    assert not repo.mark_delivered(entry.id, 0, T0, 200)  # never claimed
    assert not repo.mark_dead(entry.id, 0, 400, "refused")
    assert not repo.mark_failed(entry.id, 0, T0 + 5, 500, "HTTP 500")
    [claimed] = repo.claim("crm", T0, 1, T0 + 40)
    long_error = "x" * 2000
    assert repo.mark_dead(claimed.id, 1, 400, long_error)
    assert not repo.mark_dead(claimed.id, 1, 400, "twice")
    assert not repo.mark_delivered(claimed.id, 1, T0, 200)
    dead = repo.get("crm", "call_record:C1")
    assert dead is not None and dead.status is OutboxStatus.DEAD
    assert dead.last_status == 400 and dead.last_error is not None
    assert len(dead.last_error) == 500
    assert repo.claim("crm", T0 + 10_000, 10, T0 + 10_040) == []


def test_counts_and_prune(repo: OutboxRepo) -> None:
    repo.enqueue([new("C1"), new("C2"), new("C3", endpoint="bi")], T0)
    c1, c2 = repo.claim("crm", T0, 2, T0 + 40)
    repo.mark_delivered(c1.id, 1, T0 + 1, 204)
    assert repo.counts() == {("crm", "delivered"): 1, ("crm", "delivering"): 1,
                             ("bi", "pending"): 1}  # fmt: skip
    assert repo.prune_delivered(T0) == 0
    assert repo.prune_delivered(T0 + 2) == 1
    assert repo.get("crm", c1.key) is None and repo.get("crm", c2.key) is not None


def test_enqueue_in_rides_on_the_callers_transaction(repo: OutboxRepo) -> None:
    engine = repo.database.sync_engine
    with engine.connect() as conn, conn.begin() as tx:
        enqueue_in(conn, [new("rolled-back")], T0)
        tx.rollback()
    with engine.begin() as conn:
        enqueue_in(conn, [new("kept")], T0)
    assert [r.key for r in repo.entries()] == ["call_record:kept"]
