"""The CRM feed at the Twisted edge: records into the outbox, the outbox out to webhooks.

Enqueueing rides on the flows that already make records durable, so nothing is lost:

- call records: :meth:`WebhookService.wrap_commit` wraps the record writer's group commit;
  once a batch is in SQL its call records are queued (one transaction, in the thread pool)
  before the writer marks the journal entries committed. If queueing fails the whole batch
  is retried, and both steps are idempotent (upsert by call id; the outbox by key).
- contact history: :meth:`contact_hook` queues inside the transaction that writes the
  contact-history row (``DispositionRepo``); :meth:`on_contact` and :meth:`on_record` are
  for other callers and queue in a transaction of their own.

A call record stored while its agent is still in wrap-up is held back
``hold_open_records`` seconds; the complete record replaces it if it comes in time, so
the receiver gets one record per call, complete.

Delivery: every ``poll_interval`` the loop claims due entries per endpoint (no more than
the endpoint's ``concurrency`` in flight), POSTs them signed, and files each answer as
:mod:`cti_server.crm.outbox` decides. A full claim means more may be due: the loop polls
again as soon as a request ends instead of waiting for the next interval.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from cti_server.adapters.webhook_http import AgentPoster, Poster, describe, tls_available
from cti_server.crm import outbox as core
from cti_server.crm.export import contact_payload
from cti_server.crm.webhook_settings import WebhookSettings
from cti_server.storage.customer_records import Instant
from cti_server.storage.db import Database
from cti_server.storage.journal import Entry
from cti_server.storage.outbox import NewEntry, OutboxEntry, OutboxRepo, enqueue_in
from cti_server.storage.record_repos import CALL_RECORD, call_record_from
from cti_server.storage.tables import ContactRow, CustomerRow

log = logging.getLogger(__name__)

CONTACT = "contact"
COUNT_EVERY = 10  # polls between refreshes of the pending gauge
PRUNE_EVERY = 3600.0
InThread = Callable[..., Deferred[Any]]
Commit = Callable[[list[Entry]], Any]


class WebhookService:
    def __init__(
        self,
        settings: WebhookSettings,
        repo: OutboxRepo,
        reactor: Any,
        *,
        rng: core.Uniform | None = None,
        poster: Poster | None = None,
        run_in_thread: InThread | None = None,
        secrets: dict[str, bytes] | None = None,
    ) -> None:
        """``secrets`` defaults to each endpoint's ``secret_bytes()`` (a missing
        ``secret_file`` raises :class:`~cti_server.crm.webhook_settings.SecretError` here)."""
        self.settings = settings
        self.repo = repo
        self._reactor = reactor
        self._rng = rng or random.SystemRandom()
        self.endpoints = {e.name: e for e in settings.endpoints}
        https = any(e.url.startswith("https:") for e in settings.endpoints)
        if https and poster is None and not tls_available():
            raise ValueError("webhooks: https endpoints need pyOpenSSL and service_identity")
        self._secrets = secrets or {e.name: e.secret_bytes() for e in settings.endpoints}
        self._policies = {
            e.name: core.RetryPolicy(e.max_attempts, e.backoff_base, e.backoff_max, e.timeout)
            for e in settings.endpoints
        }
        per_host = max((e.concurrency for e in settings.endpoints), default=1)
        self._poster = poster or AgentPoster(reactor, per_host)
        self._in_thread = run_in_thread or self._pool_thread
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._inflight = dict.fromkeys(self.endpoints, 0)
        self._more = False
        self._polling = False
        self._kicked: Any = None
        self._busy: set[Deferred[Any]] = set()
        self._polls = 0
        self._last_prune = float("-inf")
        self.delivered = dict.fromkeys(self.endpoints, 0)
        self.retried = dict.fromkeys(self.endpoints, 0)
        self.dead = dict.fromkeys(self.endpoints, 0)
        self.pending: dict[str, int] = dict.fromkeys(self.endpoints, 0)
        self.store_failures = 0

    def _pool_thread(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), f, *args)

    # --- into the outbox ------------------------------------------------------------------

    def entries_for(self, kind: str, source_id: object, payload: dict[str, Any], now: float
                    ) -> list[NewEntry]:  # fmt: skip
        """One entry per endpoint that takes ``kind``; an open call record is held back."""
        key = core.idempotency_key(kind, source_id)
        hold = kind == CALL_RECORD and core.is_open_record(payload)
        not_before = now + self.settings.hold_open_records if hold else None
        return [
            NewEntry(endpoint=e.name, kind=kind, key=key, payload=payload, not_before=not_before)
            for e in self.settings.for_kind(kind)
        ]

    def journal_entries(self, batch: Sequence[Entry], now: float) -> list[NewEntry]:
        """The outbox entries of a committed journal batch: its call records (those the
        group commit could store: the same parse)."""
        out: list[NewEntry] = []
        for entry in batch:
            if entry.kind != CALL_RECORD:
                continue
            try:
                call_id = call_record_from(entry).call_id
            except (ValueError, TypeError, OverflowError):
                continue  # rejected and logged by the commit
            out += self.entries_for(CALL_RECORD, call_id, entry.payload, now)
        return out

    def wrap_commit(self, commit: Commit) -> Callable[[list[Entry]], Deferred[Any]]:
        """The record writer's commit, then this batch's call records into the outbox."""

        def commit_then_queue(batch: list[Entry]) -> Deferred[Any]:
            d = _as_deferred(commit(batch))

            def queue(result: Any) -> Deferred[Any]:
                entries = self.journal_entries(batch, self._reactor.seconds())
                if not entries:
                    return succeed(result)
                now = self._reactor.seconds()
                queued = self._in_thread(self.repo.enqueue, entries, now)
                return queued.addCallback(lambda _: result)

            return d.addCallback(queue)

        return commit_then_queue

    def on_record(self, record: dict[str, Any]) -> Deferred[int]:
        """Queue one call record (``CallRecord.to_dict()``) in a transaction of its own."""
        entries = self.entries_for(CALL_RECORD, record["call_id"], record, self._reactor.seconds())
        return self._in_thread(self.repo.enqueue, entries, self._reactor.seconds())

    def on_contact(self, entry: dict[str, Any]) -> Deferred[int]:
        """Queue one contact-history entry (``crm.export.contact_payload``) on its own."""
        entries = self.entries_for(CONTACT, entry["id"], entry, self._reactor.seconds())
        return self._in_thread(self.repo.enqueue, entries, self._reactor.seconds())

    def contact_hook(self, session: Session, row: ContactRow, now: Instant) -> None:
        """Inside the transaction that wrote ``row`` (flushed, so it has its id)."""
        if not self.settings.for_kind(CONTACT):
            return
        customer = session.get(CustomerRow, row.customer_id)
        payload = contact_payload(row, customer.customer_number if customer else None)
        seconds = now if isinstance(now, int | float) else now.timestamp()
        enqueue_in(session, self.entries_for(CONTACT, row.id, payload, seconds), now)

    # --- out of the outbox ----------------------------------------------------------------

    def start(self) -> None:
        if self.endpoints and not self._loop.running:
            self._loop.start(self.settings.poll_interval, now=False)

    def stop(self) -> Deferred[None]:
        """Stop polling and wait for the work in flight (each request is bounded by its
        timeout); an entry whose answer is not stored is sent again once its lease lapses,
        with the same idempotency key."""
        if self._loop.running:
            self._loop.stop()
        if self._kicked is not None and self._kicked.active():
            self._kicked.cancel()
        self._kicked = None
        d: Deferred[Any] = DeferredList(list(self._busy), consumeErrors=True)
        return d.addCallback(lambda _: self._poster.close())

    def _track(self, d: Deferred[Any]) -> Deferred[Any]:
        self._busy.add(d)

        def done(result: Any) -> Any:
            self._busy.discard(d)
            return result

        return d.addBoth(done)

    def _tick(self) -> None:
        self._kicked = None
        if self._polling:
            return
        wants = {n: e.concurrency - self._inflight[n] for n, e in self.endpoints.items()}
        wants = {n: k for n, k in wants.items() if k > 0}
        if not wants:
            return
        self._polling = True
        self._polls += 1
        now = self._reactor.seconds()
        count = self._polls % COUNT_EVERY == 1
        prune = now - self._last_prune >= PRUNE_EVERY
        if prune:
            self._last_prune = now
        d = self._in_thread(self._claim, wants, now, count, prune)
        d.addCallbacks(self._claimed, self._poll_failed, callbackArgs=(wants,))
        self._track(d.addBoth(self._polled))

    def _claim(self, wants: dict[str, int], now: float, count: bool, prune: bool
               ) -> tuple[list[OutboxEntry], dict[tuple[str, str], int] | None]:  # fmt: skip
        """In the thread: claim per endpoint; now and then count and prune too."""
        if prune:
            kept = self.settings.keep_delivered_days * 86_400
            pruned = self.repo.prune_delivered(now - kept)
            if pruned:
                log.info("webhook outbox: %d delivered entries pruned", pruned)
        claimed: list[OutboxEntry] = []
        for name, limit in wants.items():
            lease = now + self._policies[name].lease
            claimed += self.repo.claim(name, now, limit, lease)
        return claimed, (self.repo.counts() if count else None)

    def _claimed(self, result: Any, wants: dict[str, int]) -> None:
        claimed, counts = result
        if counts is not None:
            self.pending = {
                n: counts.get((n, "pending"), 0) + counts.get((n, "delivering"), 0)
                for n in self.endpoints
            }
        self._more = len(claimed) >= sum(wants.values())
        for entry in claimed:
            self._send(entry)

    def _poll_failed(self, failure: Failure) -> None:
        log.warning("webhook outbox poll failed: %s", failure.getErrorMessage())

    def _polled(self, _: object) -> None:
        self._polling = False

    def _send(self, entry: OutboxEntry) -> None:
        endpoint = self.endpoints[entry.endpoint]  # only configured endpoints are claimed
        self._inflight[entry.endpoint] += 1
        payload = core.body(entry.kind, entry.key, entry.created_at, entry.payload)
        headers = core.request_headers(
            self._secrets[entry.endpoint], entry.kind, entry.key, payload, self._reactor.seconds()
        )
        d = self._poster.post(endpoint.url, headers, payload, endpoint.timeout)
        d.addCallbacks(
            lambda answer: self._answered(entry, answer[0], answer[1], None),
            lambda failure: self._answered(entry, None, b"", describe(failure)),
        )
        d.addErrback(self._store_failed, entry)
        self._track(d.addBoth(self._finished, entry.endpoint))

    def _answered(self, entry: OutboxEntry, status: int | None, snippet: bytes,
                  error: str | None) -> Deferred[Any]:  # fmt: skip
        now = self._reactor.seconds()
        decision = core.after_attempt(
            entry.attempts, status, error, now, self._policies[entry.endpoint], self._rng
        )
        name, key = entry.endpoint, entry.key
        if decision.event is core.OutboxEvent.SUCCEEDED:
            self.delivered[name] += 1
            return self._in_thread(self.repo.mark_delivered, entry.id, entry.attempts, now, status)
        text = snippet.decode("utf-8", "replace").strip()
        detail = f"{decision.reason}: {text[:200]}" if text else decision.reason
        if decision.event is core.OutboxEvent.RETRY:
            self.retried[name] += 1
            assert decision.next_attempt_at is not None
            log.warning(
                "webhook %s: %s attempt %d failed (%s); next in %.0f s",
                name, key, entry.attempts, detail, decision.next_attempt_at - now,
            )  # fmt: skip
            return self._in_thread(self.repo.mark_failed, entry.id, entry.attempts,
                                   decision.next_attempt_at, status, detail)  # fmt: skip
        self.dead[name] += 1
        log.error("webhook %s: %s not delivered, dead: %s", name, key, detail)
        return self._in_thread(self.repo.mark_dead, entry.id, entry.attempts, status, detail)

    def _store_failed(self, failure: Failure, entry: OutboxEntry) -> None:
        self.store_failures += 1
        log.error(
            "webhook %s: could not store the answer for %s (%s); it is sent again once "
            "its lease lapses, with the same Idempotency-Key",
            entry.endpoint, entry.key, failure.getErrorMessage(),
        )  # fmt: skip

    def _finished(self, _: object, name: str) -> None:
        self._inflight[name] -= 1
        if self._more and self._loop.running and self._kicked is None:
            self._kicked = self._reactor.callLater(0, self._tick)


def _as_deferred(result: Any) -> Deferred[Any]:
    if isinstance(result, Deferred):
        return result
    if inspect.isawaitable(result):
        return Deferred.fromFuture(asyncio.ensure_future(_awaited(result)))
    return succeed(result)


async def _awaited(result: Awaitable[Any]) -> Any:
    return await result


# --- metrics ------------------------------------------------------------------------------------


class WebhookCollector(Collector):
    """``cti_webhook_{delivered,retried,dead}_total{endpoint}`` and
    ``cti_webhook_outbox_pending{endpoint}`` (pending or in flight, refreshed every ~10 s)."""

    def __init__(self, service: Callable[[], WebhookService | None]) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        service = self._service()
        for name, doc, attr in (
            ("cti_webhook_delivered", "Webhook deliveries accepted (2xx)", "delivered"),
            ("cti_webhook_retried", "Webhook attempts that failed and will be retried", "retried"),
            ("cti_webhook_dead", "Webhook entries given up (refused or out of attempts)", "dead"),
        ):
            family = CounterMetricFamily(name, doc, labels=["endpoint"])
            for endpoint, value in (getattr(service, attr) if service else {}).items():
                family.add_metric([endpoint], value)
            yield family
        gauge = GaugeMetricFamily(
            "cti_webhook_outbox_pending", "Outbox entries not delivered yet", labels=["endpoint"]
        )
        for endpoint, value in (service.pending if service else {}).items():
            gauge.add_metric([endpoint], value)
        yield gauge


def attach_webhook_metrics(
    registry: CollectorRegistry, service: Callable[[], WebhookService | None]
) -> WebhookCollector:
    collector = WebhookCollector(service)
    registry.register(collector)
    return collector


def build_webhook_service(
    settings: WebhookSettings, database: Database, reactor: Any
) -> WebhookService | None:
    """None without endpoints: nothing is queued, no loop runs."""
    if not settings.endpoints:
        return None
    return WebhookService(settings, OutboxRepo(database), reactor)


__all__ = [
    "WebhookCollector",
    "WebhookService",
    "attach_webhook_metrics",
    "build_webhook_service",
]
