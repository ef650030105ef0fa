"""The customer directory on SQLite and PostgreSQL: lookups, PIN checks, lock-out, audit,
screen pop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cti_server.config import Config
from cti_server.crm.screenpop import (
    PastInquiry,
    PaymentMethod,
    assemble_screen_pop,
    build_screen_pop,
)
from cti_server.storage.customers import (
    CustomerDirectory,
    CustomerError,
    DuplicateCustomer,
    national_id_key,
)
from cti_server.storage.db import Database
from cti_server.storage.demo_data import CUSTOMERS, load_demo_data
from cti_server.storage.tables import AuthAttemptRow, Base, CustomerRow
from ivr_flows.settings import IvrSettings, LockoutSettings, PinHashSettings

FAST = PinHashSettings(n=2**10)
LOCKOUT = LockoutSettings(max_failures=3, window_seconds=60.0, lock_seconds=300.0)
KEY = b"test-national-id-key-0123456789a"
T0 = 1_800_000_000.0  # 2027-01-15, epoch seconds as reactor.seconds() gives them
PIN = "97531"
NATIONAL_ID = "900101-2468013"
CALLER = "+82 10-5550-1234"  # not the customer's own phone


@pytest.fixture
def directory(db_url: str) -> Iterator[CustomerDirectory]:
    database = Database(db_url)
    yield CustomerDirectory(database, national_id_key=KEY, pin_settings=FAST, lockout=LOCKOUT)
    database.dispose_sync()


@pytest.fixture
def customer_id(directory: CustomerDirectory) -> str:
    return directory.add_customer(
        customer_number="20001",
        name="김철수",
        phone="010-9876-5432",
        email="chulsoo@example.com",
        vip=True,
        segment="gold",
        language="ko",
        assigned_agent="1001",
        pin=PIN,
        national_id=NATIONAL_ID,
        now=T0,
    )


def attempts(directory: CustomerDirectory) -> list[AuthAttemptRow]:
    with Session(directory.database.sync_engine) as session:
        return list(session.scalars(select(AuthAttemptRow).order_by(AuthAttemptRow.id)))


def verify(directory: CustomerDirectory, pin: str, at: float, value: str = "20001") -> str:
    outcome, _ = directory.verify_pin(
        "customer_number", value, pin, call_id="call-1", caller=CALLER, now=at
    )
    return outcome


# --- lookups ---------------------------------------------------------------------------------


def test_lookup_by_number_phone_and_national_id(
    directory: CustomerDirectory, customer_id: str
) -> None:
    view = directory.lookup("customer_number", "20001")
    assert view is not None
    assert (view.customer_id, view.name, view.vip, view.assigned_agent) == (
        customer_id,
        "김철수",
        True,
        "1001",
    )
    assert directory.lookup("caller_number", "+82 10 9876 5432") == view
    assert directory.lookup("caller_number", "01098765432") == view
    assert directory.lookup("national_id", "9001012468013") == view
    assert directory.lookup("national_id", "900101") == view  # the IVR asks for 6 digits
    assert directory.lookup("customer_number", "99999") is None
    assert directory.lookup("national_id", "900102") is None
    assert directory.lookup("national_id", "12") is None


def test_a_shared_birth_date_is_ambiguous_unless_the_caller_settles_it(
    directory: CustomerDirectory, customer_id: str
) -> None:
    other = directory.add_customer(
        customer_number="20002",
        name="이영희",
        phone="010-1111-2222",
        pin="1357",
        national_id="900101-1000001",
        now=T0,
    )
    assert directory.lookup("national_id", "900101") is None
    view = directory.lookup("national_id", "900101", caller="010-1111-2222")
    assert view is not None and view.customer_id == other
    outcome, who = directory.verify_pin(
        "national_id", "900101", PIN, call_id="c", caller="01098765432", now=T0
    )
    assert outcome == "ok" and who is not None and who.customer_id == customer_id


def test_get_shows_only_masked_secrets(directory: CustomerDirectory, customer_id: str) -> None:
    customer = directory.get(customer_id)
    assert customer is not None
    assert customer.national_id_masked == "900101-*******"
    assert customer.phone == "01098765432"
    assert customer.has_pin
    assert not hasattr(customer, "pin_hash")
    assert customer.created_at == datetime.fromtimestamp(T0, UTC)
    assert directory.get("nobody") is None


def test_add_customer_refuses_duplicates_and_bad_data(
    directory: CustomerDirectory, customer_id: str
) -> None:
    with pytest.raises(DuplicateCustomer):
        directory.add_customer(customer_number="20001", name="중복", now=T0)
    with pytest.raises(DuplicateCustomer):
        directory.add_customer(customer_number="20009", name="중복", national_id=NATIONAL_ID)
    with pytest.raises(CustomerError, match="pin"):
        directory.add_customer(customer_number="20010", name="가", pin="12")
    with pytest.raises(CustomerError, match="national_id"):
        directory.add_customer(customer_number="20011", name="나", national_id="90-01")
    with pytest.raises(CustomerError, match="customer_number"):
        directory.add_customer(customer_number=" ", name="다")


# --- PIN checks ------------------------------------------------------------------------------


def test_good_pin_is_ok_and_audited_with_a_masked_caller(
    directory: CustomerDirectory, customer_id: str
) -> None:
    outcome, view = directory.verify_pin(
        "customer_number", "20001", PIN, call_id="call-7", caller=CALLER, now=T0
    )
    assert outcome == "ok"
    assert view is not None and view.customer_id == customer_id
    [row] = attempts(directory)
    assert (row.outcome, row.customer_id, row.call_id, row.method) == (
        "ok",
        customer_id,
        "call-7",
        "customer_number",
    )
    assert row.caller_masked == "*******1234"
    assert row.at == datetime.fromtimestamp(T0, UTC)


def test_bad_pin_and_unknown_customer(directory: CustomerDirectory, customer_id: str) -> None:
    assert verify(directory, "0000", T0) == "bad_pin"
    assert verify(directory, PIN, T0, value="55555") == "unknown"
    bad, unknown = attempts(directory)
    assert (bad.outcome, bad.customer_id) == ("bad_pin", customer_id)
    assert (unknown.outcome, unknown.customer_id) == ("unknown", None)


def test_an_unknown_customer_costs_a_hash_too(db_url: str) -> None:
    """Timing must not tell a caller whether a customer number exists: at a cost where the
    hash dominates (2**13, ~20 ms), a wrong PIN and an unknown number take about as long."""
    database = Database(db_url)
    slow = CustomerDirectory(database, national_id_key=KEY, pin_settings=PinHashSettings(n=2**13))
    slow.add_customer(customer_number="20002", name="이영희", pin="1357", now=T0)

    def fastest(value: str) -> float:
        times = []
        for k in range(3):
            started = time.perf_counter()
            slow.verify_pin("customer_number", value, "0000", call_id=None, caller=None, now=T0 + k)
            times.append(time.perf_counter() - started)
        return min(times)

    known, unknown = fastest("20002"), fastest("55555")
    database.dispose_sync()
    assert 0.5 < unknown / known < 2, (unknown, known)


def test_failures_lock_the_customer_until_time_passes(
    directory: CustomerDirectory, customer_id: str
) -> None:
    assert verify(directory, "0000", T0) == "bad_pin"
    assert verify(directory, "0001", T0 + 1) == "bad_pin"
    assert verify(directory, "0002", T0 + 2) == "locked"  # the third sets the lock
    assert verify(directory, PIN, T0 + 3) == "locked"  # not even checked now
    assert verify(directory, PIN, T0 + 2 + 299) == "locked"

    assert verify(directory, "0003", T0 + 2 + 300) == "bad_pin"  # failures count afresh
    assert verify(directory, PIN, T0 + 2 + 301) == "ok"
    outcomes = [a.outcome for a in attempts(directory)]
    assert outcomes == ["bad_pin", "bad_pin", "bad_pin", "locked", "locked", "bad_pin", "ok"]


def test_an_agent_unlocks_and_earlier_failures_stop_counting(
    directory: CustomerDirectory, customer_id: str
) -> None:
    for k in range(3):
        verify(directory, "0000", T0 + k)
    assert verify(directory, PIN, T0 + 10) == "locked"

    assert directory.unlock(customer_id, "1001", now=T0 + 20)
    assert verify(directory, "0000", T0 + 21) == "bad_pin"  # not a fourth failure
    assert verify(directory, PIN, T0 + 22) == "ok"
    unlock = next(a for a in attempts(directory) if a.outcome == "unlocked")
    assert (unlock.agent_id, unlock.method, unlock.customer_id) == (
        "1001",
        "agent_unlock",
        customer_id,
    )
    assert not directory.unlock("nobody", "1001")


def test_failures_outside_the_window_or_before_a_good_login_do_not_add_up(
    directory: CustomerDirectory, customer_id: str
) -> None:
    verify(directory, "0000", T0)
    verify(directory, "0000", T0 + 1)
    assert verify(directory, "0000", T0 + 61) == "bad_pin"  # the first left the window
    assert verify(directory, PIN, T0 + 62) == "ok"
    assert verify(directory, "0000", T0 + 63) == "bad_pin"
    assert verify(directory, "0000", T0 + 64) == "bad_pin"


def test_parallel_guesses_cannot_pass_the_lock(
    directory: CustomerDirectory, customer_id: str
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda k: verify(directory, f"{k:04d}", T0), range(8)))
    assert outcomes.count("bad_pin") == 2
    assert outcomes.count("locked") == 6
    assert sum(a.outcome == "bad_pin" for a in attempts(directory)) == 3
    assert verify(directory, PIN, T0 + 1) == "locked"


def test_a_good_login_rehashes_at_a_raised_cost(
    directory: CustomerDirectory, customer_id: str
) -> None:
    stronger = CustomerDirectory(
        directory.database,
        national_id_key=KEY,
        pin_settings=PinHashSettings(n=2**11),
        lockout=LOCKOUT,
    )
    assert verify(stronger, PIN, T0) == "ok"
    with Session(directory.database.sync_engine) as session:
        stored = session.scalars(select(CustomerRow.pin_hash)).one()
    assert stored is not None and stored.startswith("scrypt$2048$")
    assert verify(directory, PIN, T0 + 1) == "ok"


def test_set_pin(directory: CustomerDirectory, customer_id: str) -> None:
    assert directory.set_pin(customer_id, "2468", now=T0)
    assert verify(directory, PIN, T0 + 1) == "bad_pin"
    assert verify(directory, "2468", T0 + 2) == "ok"
    assert not directory.set_pin("nobody", "2468")
    with pytest.raises(CustomerError):
        directory.set_pin(customer_id, "abc")


def test_no_pin_or_national_id_is_stored_anywhere(
    directory: CustomerDirectory, customer_id: str
) -> None:
    verify(directory, PIN, T0)
    verify(directory, "86420", T0 + 1)
    directory.verify_pin("national_id", "900101", PIN, call_id="c", caller=CALLER, now=T0 + 2)
    directory.add_contact(customer_id, at=T0, summary="PIN 재설정 문의", notes="본인 확인 완료")
    secrets = {PIN, "86420", "2468013", "9001012468013", NATIONAL_ID, "01055501234"}
    with Session(directory.database.sync_engine) as session:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            for row in session.execute(select(*text_columns)):
                for value in row:
                    assert not any(s in str(value) for s in secrets), (table.name, value)


def test_database_errors_propagate(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # never migrated
    directory = CustomerDirectory(database, national_id_key=KEY, pin_settings=FAST)
    with pytest.raises(SQLAlchemyError):
        directory.verify_pin("customer_number", "1", "1234", call_id="c", caller=None, now=T0)
    database.dispose_sync()


def test_national_id_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    config = Config(data_dir=str(tmp_path))
    key = national_id_key(config)
    path = tmp_path / "secrets" / "national_id.key"
    assert len(key) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert national_id_key(config) == key
    configured = Config(data_dir=str(tmp_path), ivr=IvrSettings(national_id_key="from-config"))
    assert national_id_key(configured) == b"from-config"


# --- screen pop ------------------------------------------------------------------------------


def test_screen_pop_of_demo_customer_10001(directory: CustomerDirectory) -> None:
    assert load_demo_data(directory, now=T0) == len(CUSTOMERS) == 20
    assert load_demo_data(directory, now=T0) == 0  # idempotent
    view = directory.lookup("customer_number", "10001")
    assert view is not None

    pop = build_screen_pop(
        directory, view.customer_id, auth_method="customer_number", auth_outcome="ok"
    )
    assert pop is not None
    assert (pop.name, pop.vip, pop.assigned_agent, pop.segment) == ("김민준", True, "1001", "gold")
    assert pop.national_id_masked == "850315-*******"
    assert (pop.auth_method, pop.auth_outcome) == ("customer_number", "ok")
    assert pop.usual_payment is not None and pop.usual_payment.label == "신한카드 ****1234"
    assert [p.times_ordered for p in pop.frequent_products] == [12, 7, 4]
    assert [i.category for i in pop.inquiries] == ["배송", "결제", "반품"]  # newest first
    assert pop.inquiries[0].notes is not None and "도착 예정" in pop.inquiries[0].notes
    assert all(i.agent_id == "1001" for i in pop.inquiries)

    payload = json.loads(pop.to_json())
    assert payload["name"] == "김민준"
    assert "김민준" in pop.to_json()  # not \\u-escaped
    assert payload["inquiries"][0]["at"].endswith("+00:00")
    assert not [k for k in payload if "pin" in k or "hash" in k]
    assert build_screen_pop(directory, "nobody", auth_method="", auth_outcome="") is None


def test_demo_logins(directory: CustomerDirectory) -> None:
    load_demo_data(directory, now=T0)
    assert verify(directory, "1234", T0, value="10001") == "ok"
    outcome, view = directory.verify_pin(
        "national_id", "900101", "5678", call_id="c", caller=None, now=T0
    )
    assert outcome == "ok" and view is not None and view.customer_number == "10002"
    assert directory.lookup("caller_number", "010-3482-1937") is not None


def test_assemble_limits_and_does_not_guess_a_usual_payment(
    directory: CustomerDirectory, customer_id: str
) -> None:
    customer = directory.get(customer_id)
    assert customer is not None
    inquiries = [
        PastInquiry(
            at=datetime.fromtimestamp(T0 + k, UTC), channel="call", category=str(k), summary=""
        )
        for k in range(8)
    ]
    pop = assemble_screen_pop(
        customer,
        inquiries,
        [PaymentMethod(kind="card", label="국민카드 ****0001")],
        [],
        auth_method="caller_number",
        auth_outcome="unknown",
        limit=3,
    )
    assert [i.category for i in pop.inquiries] == ["7", "6", "5"]
    assert pop.usual_payment is None
    assert pop.frequent_products == ()
