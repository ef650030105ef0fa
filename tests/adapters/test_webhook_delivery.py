"""CRM webhooks end to end on the real reactor, SQLite and PostgreSQL: records go through the
record writer's journal and group commit into the outbox, and out to a receiver on a loopback
port (a twisted.web Site) that fails, refuses or answers too late. The receiver does what a
CRM should: checks the signature and keeps the Idempotency-Keys it accepted."""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.orm import Session
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from cti_server.adapters.record_writer import RecordWriter
from cti_server.adapters.webhook_service import WebhookService, attach_webhook_metrics
from cti_server.crm.outbox import OutboxStatus, verify
from cti_server.crm.webhook_settings import WebhookSettings
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.db import Database
from cti_server.storage.journal import Entry, Journal
from cti_server.storage.outbox import OutboxRepo
from cti_server.storage.record_repos import commit_entries
from cti_server.storage.tables import ContactRow, CustomerRow
from tests.storage.conftest import db_url, pg_repo_url, pg_server  # noqa: F401

pytestmark = pytest.mark.timeout(60)

SECRET = "crm-webhook-secret-0123456789"
EPOCH = 1_795_000_000.0


@pytest_twisted.async_yield_fixture
async def database(db_url: str) -> AsyncIterator[Database]:  # noqa: F811
    """A migrated database of each kind; both pools closed in the reactor's loop after."""
    opened = Database(db_url)
    yield opened
    await run_in_loop(opened.dispose())


class Receiver(Resource):
    """Fails each key's first ``fail_first`` attempts with 500 (or answers ``status`` to
    everything); with ``late_first`` it accepts a key's first attempt but answers after the
    sender gave up. Counts accepted keys once; a repeat is a duplicate, answered 200."""

    isLeaf = True

    def __init__(self, *, fail_first: int = 0, status: int = 200, late_first: float = 0.0):
        super().__init__()
        self.fail_first = fail_first
        self.status = status
        self.late_first = late_first
        self.attempts: Counter[str] = Counter()
        self.accepted: dict[str, Any] = {}
        self.duplicates = 0
        self.bad_signatures = 0

    def render_POST(self, request: Request) -> bytes | int:
        body = request.content.read() if request.content is not None else b""
        key = (request.getHeader("Idempotency-Key") or "").strip()
        signature = request.getHeader("X-CTI-Signature") or ""
        if not verify(SECRET.encode(), signature, body, now=time.time()):
            self.bad_signatures += 1
            request.setResponseCode(401)
            return b"bad signature"
        self.attempts[key] += 1
        if self.status != 200:
            request.setResponseCode(self.status)
            return "필수 항목 누락: customer".encode()
        if self.attempts[key] <= self.fail_first:
            request.setResponseCode(500)
            return b"try later"
        if key in self.accepted:
            self.duplicates += 1
            return b"already have it"
        self.accepted[key] = json.loads(body)
        if self.late_first and self.attempts[key] == 1:
            from twisted.internet import reactor

            gone: list[bool] = []
            request.notifyFinish().addErrback(lambda _: gone.append(True))
            reactor.callLater(self.late_first, lambda: gone or request.finish())
            return NOT_DONE_YET
        return b"ok"


async def _sleep(seconds: float) -> None:
    from twisted.internet import reactor

    await deferLater(reactor, seconds, lambda: None)


async def _until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    from twisted.internet import reactor

    start = reactor.seconds()
    while not check():
        if reactor.seconds() - start > timeout:
            raise AssertionError(f"not true after {timeout} s")
        await deferLater(reactor, 0.02, lambda: None)


class Rig:
    """Receiver on a port, the webhook service and a record writer feeding it."""

    def __init__(self, db: Database, tmp_path: Path, receiver: Receiver, **endpoint: Any):
        from twisted.internet import reactor

        self.receiver = receiver
        self.port = reactor.listenTCP(0, Site(receiver), interface="127.0.0.1")
        url = f"http://127.0.0.1:{self.port.getHost().port}/hooks/cti"
        settings = WebhookSettings.model_validate(
            {
                "endpoints": [
                    {"name": "crm", "url": url, "secret": SECRET, "timeout": 2.0,
                     "backoff_base": 0.05, "backoff_max": 0.2, "max_attempts": 6} | endpoint
                ],
                "poll_interval": 0.05,
                "hold_open_records": 30,
            }
        )  # fmt: skip
        self.db = db
        self.repo = OutboxRepo(db)
        self.service = WebhookService(settings, self.repo, reactor, rng=random.Random(5))
        commit = self.service.wrap_commit(lambda entries: commit_entries(db, entries))
        self.writer = RecordWriter(Journal(tmp_path / "journal"), commit, reactor)
        self.writer.start()
        self.service.start()

    def call(self, call_id: str, **fields: Any) -> None:
        record = {"call_id": call_id, "started_at": EPOCH, "ended_at": EPOCH + 60,
                  "caller": "01012345678", "disposition": "상담 완료"}  # fmt: skip
        self.writer.submit("call_record", call_id, record | fields)

    def contact(self, notes: str) -> int:
        """What ``DispositionRepo.save`` does once wired: the contact row and its outbox
        rows in one transaction."""
        at = datetime.fromtimestamp(EPOCH, UTC)
        with Session(self.db.sync_engine) as session, session.begin():
            if session.get(CustomerRow, "cust-1") is None:
                session.add(CustomerRow(id="cust-1", customer_number="10001", name="김민준",
                                        created_at=at, updated_at=at))  # fmt: skip
                session.flush()
            row = ContactRow(customer_id="cust-1", at=at, channel="call", call_id="C1",
                             agent_id="1001", category="배송", summary="배송 지연 문의",
                             notes=notes, disposition="resolved")  # fmt: skip
            session.add(row)
            session.flush()
            self.service.contact_hook(session, row, at)
            return row.id

    async def stop(self) -> None:
        await self.writer.stop()
        await self.service.stop()
        await self.port.stopListening()


@pytest_twisted.ensureDeferred
async def test_each_record_arrives_once_after_two_failures(
    database: Database, tmp_path: Path
) -> None:
    receiver = Receiver(fail_first=2)
    rig = Rig(database, tmp_path, receiver)
    try:
        for i in range(5):
            rig.call(f"C{i}")
        # cleared while the agent wraps up, then complete: only the complete one is sent
        rig.call("C-wrap", wrap_up_started_at=EPOCH + 60, wrap_up_ended_at=None)
        rig.call("C-wrap", wrap_up_started_at=EPOCH + 60, wrap_up_ended_at=EPOCH + 90,
                 wrap_up_seconds=30.0)  # fmt: skip
        contact_id = rig.contact("고객이 재배송을 요청함")
        keys = {f"call_record:C{i}" for i in range(5)} | {"call_record:C-wrap",
                                                          f"contact:{contact_id}"}  # fmt: skip
        await _until(lambda: set(receiver.accepted) == keys)
        await _sleep(0.3)  # time for a duplicate to show
        assert receiver.bad_signatures == 0
        assert receiver.duplicates == 0
        assert all(receiver.attempts[k] == 3 for k in keys)  # 500, 500, accepted
        wrap = receiver.accepted["call_record:C-wrap"]
        assert wrap["type"] == "call_record" and wrap["data"]["wrap_up_seconds"] == 30.0
        assert receiver.accepted["call_record:C0"]["data"]["disposition"] == "상담 완료"
        contact = receiver.accepted[f"contact:{contact_id}"]
        assert contact["type"] == "contact"
        assert contact["data"]["notes"] == "고객이 재배송을 요청함"
        assert contact["data"]["customer_number"] == "10001"
        await _until(lambda: all(e.status is OutboxStatus.DELIVERED for e in rig.repo.entries()))
        entries = rig.repo.entries()
        assert len(entries) == 7 and {e.attempts for e in entries} == {3}
        assert rig.service.delivered == {"crm": 7} and rig.service.retried == {"crm": 14}
    finally:
        await rig.stop()


@pytest_twisted.ensureDeferred
async def test_a_replayed_journal_queues_nothing_twice(database: Database, tmp_path: Path) -> None:
    receiver = Receiver()
    rig = Rig(database, tmp_path, receiver)
    try:
        rig.call("C1")
        await _until(lambda: "call_record:C1" in receiver.accepted)
        # the batch again, as a restart replays a journal whose checkpoint was not written
        replay = [Entry("j", 1, "call_record", "C1", {"call_id": "C1", "started_at": EPOCH})]
        commit = rig.service.wrap_commit(lambda entries: commit_entries(database, entries))
        await commit(replay)
        await commit(replay)
        assert [e.key for e in rig.repo.entries()] == ["call_record:C1"]
        await _sleep(0.3)  # time for a duplicate to show
        assert receiver.attempts["call_record:C1"] == 1
    finally:
        await rig.stop()


@pytest_twisted.ensureDeferred
async def test_an_answer_lost_to_a_timeout_is_sent_again_and_deduplicated(
    database: Database, tmp_path: Path
) -> None:
    receiver = Receiver(late_first=1.0)
    rig = Rig(database, tmp_path, receiver, timeout=0.3)
    try:
        rig.call("C1")
        await _until(lambda: receiver.duplicates == 1)
        await _until(lambda: rig.repo.entries()[0].status is OutboxStatus.DELIVERED)
        assert list(receiver.accepted) == ["call_record:C1"]  # once, from its point of view
        [entry] = rig.repo.entries()
        assert entry.attempts == 2 and entry.last_status == 200
    finally:
        await rig.stop()


@pytest_twisted.ensureDeferred
async def test_a_refusal_is_dead_at_once_and_logged(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(status=400)
    rig = Rig(database, tmp_path, receiver)
    registry = CollectorRegistry()
    attach_webhook_metrics(registry, lambda: rig.service)
    try:
        with caplog.at_level(logging.ERROR, logger="cti_server.adapters.webhook_service"):
            rig.call("C1")
            await _until(lambda: rig.service.dead == {"crm": 1})
            await _until(lambda: rig.repo.entries()[0].status is OutboxStatus.DEAD)
        [entry] = rig.repo.entries()
        assert entry.attempts == 1 and entry.last_status == 400
        assert entry.last_error == "refused: HTTP 400: 필수 항목 누락: customer"
        assert receiver.attempts["call_record:C1"] == 1 and not receiver.accepted
        logged = [r.getMessage() for r in caplog.records]
        assert any("call_record:C1 not delivered, dead" in m and "HTTP 400" in m for m in logged)
        text = generate_latest(registry).decode()
        assert 'cti_webhook_dead_total{endpoint="crm"} 1.0' in text
        assert 'cti_webhook_delivered_total{endpoint="crm"} 0.0' in text
        assert "cti_webhook_outbox_pending" in text
    finally:
        await rig.stop()
