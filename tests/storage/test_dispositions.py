"""Dispositions on SQLite and PostgreSQL: filed with contact history in one transaction, and
corrected in place when the same agent saves again."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cti_server.crm.screenpop import build_screen_pop
from cti_server.storage.customers import CustomerDirectory
from cti_server.storage.db import Database
from cti_server.storage.dispositions import DispositionError, DispositionRepo, UnknownCustomer
from cti_server.storage.tables import ContactRow
from cti_server.storage.tables_dispositions import DispositionRow
from ivr_flows.settings import PinHashSettings

T0 = 1_800_000_000.0
ANSWERS = {"confirm_identity": "confirmed", "reason": "delivery", "delivery_detail": "delayed"}


@pytest.fixture
def repo(db_url: str) -> Iterator[DispositionRepo]:
    database = Database(db_url)
    yield DispositionRepo(database)
    database.dispose_sync()


@pytest.fixture
def customer(repo: DispositionRepo) -> str:
    directory = CustomerDirectory(
        repo.database, national_id_key=b"k" * 32, pin_settings=PinHashSettings(n=2**10)
    )
    return directory.add_customer(customer_number="C-1", name="박민수", now=T0)


def _count(repo: DispositionRepo, table: type[ContactRow] | type[DispositionRow]) -> int:
    with Session(repo.database.sync_engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_save_files_the_disposition_and_the_contact(repo: DispositionRepo, customer: str) -> None:
    saved = repo.save(
        "call-1", "1001", customer, "resolved", "배송 지연 안내함", "general_inbound", ANSWERS,
        T0, queue="support", category="delivery", summary="본인 확인 완료 / 배송 문의",
    )  # fmt: skip
    assert (saved.call_id, saved.agent_id, saved.customer_id) == ("call-1", "1001", customer)
    assert (saved.disposition, saved.notes, saved.script) == (
        "resolved",
        "배송 지연 안내함",
        "general_inbound",
    )
    assert saved.answers == ANSWERS
    assert saved.created_at == saved.updated_at == datetime.fromtimestamp(T0, UTC)
    assert repo.for_call("call-1") == [saved]
    assert repo.for_customer(customer) == [saved]

    pop = build_screen_pop(repo.database, customer, auth_method="pin", auth_outcome="ok")
    assert pop is not None
    [inquiry] = pop.inquiries
    assert (inquiry.channel, inquiry.category, inquiry.summary) == (
        "call",
        "delivery",
        "본인 확인 완료 / 배송 문의",
    )
    assert (inquiry.notes, inquiry.disposition, inquiry.agent_id, inquiry.queue) == (
        "배송 지연 안내함",
        "resolved",
        "1001",
        "support",
    )
    with Session(repo.database.sync_engine) as session:
        contact = session.scalars(select(ContactRow)).one()
    assert saved.contact_id == contact.id and contact.call_id == "call-1"


def test_saving_again_corrects_both_rows(repo: DispositionRepo, customer: str) -> None:
    first = repo.save("call-1", "1001", customer, "resolved", "메모", "general_inbound", {}, T0)
    again = repo.save(
        "call-1", "1001", customer, "follow_up", "메모 수정", "general_inbound", ANSWERS, T0 + 30
    )
    assert again.id == first.id and again.contact_id == first.contact_id
    assert (again.disposition, again.notes, again.answers) == ("follow_up", "메모 수정", ANSWERS)
    assert again.created_at == first.created_at
    assert again.updated_at == datetime.fromtimestamp(T0 + 30, UTC)
    assert _count(repo, DispositionRow) == 1 and _count(repo, ContactRow) == 1
    with Session(repo.database.sync_engine) as session:
        contact = session.scalars(select(ContactRow)).one()
    assert (contact.disposition, contact.notes) == ("follow_up", "메모 수정")
    assert contact.at == datetime.fromtimestamp(T0, UTC)  # when the contact happened


def test_each_agent_of_a_transferred_call_has_a_row(repo: DispositionRepo, customer: str) -> None:
    repo.save("call-1", "1001", customer, "transferred", None, None, None, T0)
    repo.save("call-1", "1002", customer, "resolved", None, None, None, T0 + 60)
    assert [d.agent_id for d in repo.for_call("call-1")] == ["1001", "1002"]
    assert [d.agent_id for d in repo.for_customer(customer)] == ["1002", "1001"]
    assert [d.agent_id for d in repo.for_customer(customer, limit=1)] == ["1002"]
    assert _count(repo, ContactRow) == 2
    assert repo.for_call("other") == [] and repo.for_customer("nobody") == []


def test_unknown_customer_files_no_contact(repo: DispositionRepo) -> None:
    saved = repo.save("call-2", "1001", None, "wrong_number", None, "callback_outbound", [], T0)
    assert saved.customer_id is None and saved.contact_id is None and saved.answers == []
    assert _count(repo, ContactRow) == 0


def test_a_customer_found_later_gets_the_contact(repo: DispositionRepo, customer: str) -> None:
    repo.save("call-3", "1001", None, "resolved", None, None, {}, T0)
    saved = repo.save("call-3", "1001", customer, "resolved", "확인됨", None, {}, T0 + 5)
    assert saved.customer_id == customer and saved.contact_id is not None
    assert _count(repo, ContactRow) == 1

    directory = CustomerDirectory(
        repo.database, national_id_key=b"k" * 32, pin_settings=PinHashSettings(n=2**10)
    )
    other = directory.add_customer(customer_number="C-2", name="김영희", now=T0)
    moved = repo.save("call-3", "1001", other, "resolved", "고객 정정", None, {}, T0 + 9)
    assert repo.for_customer(customer) == [] and repo.for_customer(other) == [moved]
    with Session(repo.database.sync_engine) as session:
        contact = session.scalars(select(ContactRow)).one()
    assert contact.customer_id == other and contact.id == moved.contact_id


def test_ordered_answers_are_kept_as_pairs(repo: DispositionRepo) -> None:
    pairs = [("reason", "order"), ("anything_else", "other"), ("reason", "payment")]
    saved = repo.save("call-4", "1001", None, "resolved", None, "looping", pairs, T0)
    assert saved.answers == [list(p) for p in pairs]
    assert repo.for_call("call-4")[0].answers == [list(p) for p in pairs]


def test_bad_input_is_refused_and_nothing_is_written(repo: DispositionRepo) -> None:
    with pytest.raises(UnknownCustomer, match="no customer 'ghost'"):
        repo.save("call-5", "1001", "ghost", "resolved", None, None, {}, T0)
    with pytest.raises(DispositionError, match="disposition"):
        repo.save("call-5", "1001", None, "", None, None, {}, T0)
    with pytest.raises(DispositionError, match="channel"):
        repo.save("call-5", "1001", None, "resolved", None, None, {}, T0, channel="fax")
    with pytest.raises(DispositionError, match="notes"):
        repo.save("call-5", "1001", None, "resolved", "x" * 10_001, None, {}, T0)
    with pytest.raises(DispositionError, match="answers"):
        repo.save("call-5", "1001", None, "resolved", None, None, "confirmed", T0)
    assert _count(repo, DispositionRow) == 0


def test_concurrent_saves_leave_one_row(repo: DispositionRepo, customer: str) -> None:
    def save(i: int) -> int:
        notes = f"메모 {i}"
        return repo.save("call-6", "1001", customer, "resolved", notes, None, {}, T0 + i).id

    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(save, range(8)))
    assert len(ids) == 1
    assert _count(repo, DispositionRow) == 1 and _count(repo, ContactRow) == 1
