"""Callback requests on SQLite and PostgreSQL: durable, and merged while one is pending."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from cti_server.storage.callbacks import CallbackRepo
from cti_server.storage.customers import CustomerDirectory
from cti_server.storage.db import Database
from cti_server.storage.tables import CallbackRow, CallbackStatus
from ivr_flows.settings import PinHashSettings

T0 = 1_800_000_000.0


@pytest.fixture
def repo(db_url: str) -> Iterator[CallbackRepo]:
    database = Database(db_url)
    yield CallbackRepo(database)
    database.dispose_sync()
    # The threaded test's psycopg connections can outlive the pool under load; collect
    # them here, not in whichever test the garbage collector happens to run next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_request_is_stored_pending(repo: CallbackRepo) -> None:
    callback_id, merged = repo.request(
        "010-1234-5678", "sales", call_id="call-1", customer_id=None, due_at=T0 + 60, now=T0
    )
    assert not merged
    stored = repo.get(callback_id)
    assert stored is not None
    assert stored.number == "01012345678"
    assert (stored.queue, stored.call_id, stored.status) == ("sales", "call-1", "pending")
    assert (stored.attempts, stored.request_count) == (0, 1)
    assert stored.due_at == utc(T0 + 60) and stored.created_at == utc(T0)
    assert repo.get("nope") is None


def test_the_same_number_and_queue_merge_while_pending(db_url: str, repo: CallbackRepo) -> None:
    directory = CustomerDirectory(
        repo.database, national_id_key=b"k" * 32, pin_settings=PinHashSettings(n=2**10)
    )
    customer = directory.add_customer(customer_number="1", name="박민수", now=T0)
    first, _ = repo.request(
        "01012345678", "sales", call_id="a", customer_id=None, due_at=T0 + 600, now=T0
    )
    again, merged = repo.request(
        "+82 10-1234-5678", "sales", call_id="b", customer_id=customer, due_at=T0 + 60, now=T0 + 5
    )
    assert (again, merged) == (first, True)
    stored = repo.get(first)
    assert stored is not None
    assert stored.request_count == 2
    assert stored.due_at == utc(T0 + 60)  # the earlier due time wins
    assert stored.customer_id == customer  # filled in by the second request
    assert stored.call_id == "a"

    other_queue, merged = repo.request(
        "01012345678", "support", call_id="c", customer_id=None, due_at=T0, now=T0
    )
    assert not merged and other_queue != first
    assert len(repo.pending()) == 2


def test_a_finished_request_does_not_absorb_a_new_one(repo: CallbackRepo) -> None:
    first, _ = repo.request(
        "01099998888", "sales", call_id=None, customer_id=None, due_at=T0, now=T0
    )
    with Session(repo.database.sync_engine) as session, session.begin():
        session.execute(
            update(CallbackRow).where(CallbackRow.id == first).values(status="done", attempts=1)
        )
    second, merged = repo.request(
        "01099998888", "sales", call_id=None, customer_id=None, due_at=T0, now=T0 + 1
    )
    assert not merged and second != first
    stored = repo.get(first)
    assert stored is not None and stored.status is CallbackStatus.DONE


def test_pending_is_soonest_due_first(repo: CallbackRepo) -> None:
    for k, due in enumerate((300, 100, 200)):
        repo.request(
            f"0101111000{k}", "sales", call_id=None, customer_id=None, due_at=T0 + due, now=T0
        )
    assert [c.due_at for c in repo.pending()] == [utc(T0 + 100), utc(T0 + 200), utc(T0 + 300)]
    assert len(repo.pending(limit=2)) == 2
    assert len(repo.pending(due_before=T0 + 200)) == 2


def test_concurrent_duplicates_become_one_request(repo: CallbackRepo) -> None:
    def ask(k: int) -> tuple[str, bool]:
        return repo.request(
            "010-7777-0000", "sales", call_id=f"c{k}", customer_id=None, due_at=T0, now=T0
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, range(16)))
    assert len({callback_id for callback_id, _ in results}) == 1
    assert sum(not merged for _, merged in results) == 1
    [stored] = repo.pending()
    assert stored.request_count == 16


def test_a_number_without_digits_is_refused(repo: CallbackRepo) -> None:
    with pytest.raises(ValueError, match="digits"):
        repo.request("anonymous", "sales", call_id=None, customer_id=None, due_at=T0, now=T0)
    with pytest.raises(ValueError, match="queue"):
        repo.request("0101234", "", call_id=None, customer_id=None, due_at=T0, now=T0)
