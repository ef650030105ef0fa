"""The CRM webhook outbox's decisions: entry states, retry timing, signatures, keys.

Theory of operation. A call record or contact-history entry is written to the outbox (one
row per endpoint) in the flow that stores it in SQL, so it is durable before it counts as
done. The delivery loop claims due rows (``pending`` → ``delivering``, with a lease: a node
that dies mid-request leaves a row another poll takes back once the lease is over), POSTs
each and files the answer: 2xx → ``delivered``; 408, 429, 5xx, 3xx, a timeout or a refused
connection → ``pending`` again after an exponential, jittered backoff, or ``dead`` once
``max_attempts`` were made; any other 4xx → ``dead`` at once (the receiver refuses the data
itself; retrying cannot help). ``dead`` and ``delivered`` are final.

Because a row can be sent again (a lost answer, an expired lease), every request carries an
``Idempotency-Key`` that is the same on every attempt: ``<kind>:<source id>``. A receiver
that keeps the keys it has accepted sees each record exactly once. The body is signed as
Stripe signs: ``X-CTI-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``, so a
receiver can check both who sent it and that it is fresh (a replayed old request fails the
time check).

Pure: the caller passes ``now`` and a ``random.Random``-like object; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

SIGNATURE_HEADER = "X-CTI-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-CTI-Event"
USER_AGENT = "cti-server-webhooks/1"
SIGNATURE_TOLERANCE = 300.0  # seconds a receiver should accept a signature's timestamp for
LEASE_MARGIN = 30.0  # a claim's lease: the request timeout plus this
RETRYABLE_4XX = frozenset({408, 429})


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"


STATUSES = tuple(s.value for s in OutboxStatus)


class OutboxEvent(StrEnum):
    CLAIM = "claim"  # the loop takes a due row (a lapsed lease counts as due)
    UPDATE = "update"  # a newer version of the same record, not sent yet: replace the payload
    SUCCEEDED = "succeeded"  # 2xx
    RETRY = "retry"  # a retryable failure with attempts left
    GAVE_UP = "gave_up"  # a permanent failure, or the last attempt failed


_P, _D, _OK, _X = (OutboxStatus.PENDING, OutboxStatus.DELIVERING, OutboxStatus.DELIVERED,
                   OutboxStatus.DEAD)  # fmt: skip
TRANSITIONS: Mapping[tuple[OutboxStatus, OutboxEvent], OutboxStatus] = {
    (_P, OutboxEvent.CLAIM): _D,
    (_D, OutboxEvent.CLAIM): _D,  # the lease lapsed: whoever held it is gone
    (_P, OutboxEvent.UPDATE): _P,
    (_D, OutboxEvent.SUCCEEDED): _OK,
    (_D, OutboxEvent.RETRY): _P,
    (_D, OutboxEvent.GAVE_UP): _X,
}


class IllegalOutboxTransition(ValueError):
    def __init__(self, status: OutboxStatus, event: OutboxEvent) -> None:
        super().__init__(f"outbox entry {status.value}: {event.value} is not allowed")
        self.status = status
        self.event = event


def transition(status: OutboxStatus, event: OutboxEvent) -> OutboxStatus:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalOutboxTransition(status, event) from None


def sources(event: OutboxEvent) -> tuple[str, ...]:
    """The states ``event`` applies in: the guard of the storage's ``UPDATE ... WHERE``."""
    return tuple(s.value for (s, e) in TRANSITIONS if e is event)


# --- keys and payloads ---------------------------------------------------------------------------


def idempotency_key(kind: str, source_id: object) -> str:
    """``call_record:<call id>``, ``contact:<contact-history id>``: stable across retries."""
    text = str(source_id)
    if not kind or not text:
        raise ValueError("an idempotency key needs a kind and a source id")
    return f"{kind}:{text}"


def is_open_record(record: Mapping[str, Any]) -> bool:
    """A call record stored while its agent was still in wrap-up: a complete version follows
    (``CdrService`` submits both), so it waits a while before it is sent."""
    return record.get("wrap_up_started_at") is not None and record.get("wrap_up_ended_at") is None


def body(kind: str, key: str, created_at: datetime, payload: Mapping[str, Any]) -> bytes:
    """The JSON a receiver gets; byte for byte the same on every attempt (the key order is
    fixed and Korean text stays UTF-8)."""
    envelope = {
        "id": key,
        "type": kind,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "data": payload,
    }
    text = json.dumps(envelope, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


# --- signatures ----------------------------------------------------------------------------------


def signature(secret: bytes, timestamp: int, payload: bytes) -> str:
    """The header value: ``t=<unix>,v1=<hex HMAC-SHA256 over "<t>." + body>``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: bytes,
    header: str,
    payload: bytes,
    now: float,
    tolerance: float = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver does: a ``v1`` matches (constant time) and ``t`` is recent."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, payload).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


def request_headers(
    secret: bytes, kind: str, key: str, payload: bytes, now: float
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: kind,
        IDEMPOTENCY_HEADER: key,
        SIGNATURE_HEADER: signature(secret, int(now), payload),
    }


# --- retries -------------------------------------------------------------------------------------


class Uniform(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 12
    base: float = 2.0
    cap: float = 3600.0
    timeout: float = 10.0

    @property
    def lease(self) -> float:
        return self.timeout + LEASE_MARGIN


def backoff_delay(attempt: int, base: float, cap: float, rng: Uniform) -> float:
    """Seconds before attempt ``attempt + 1``: ``base * 2**(attempt-1)`` capped at ``cap``,
    then drawn from its upper half ("equal jitter"): never sooner than half the step, and
    many entries failing together do not come back together."""
    if attempt < 1:
        raise ValueError(f"attempt {attempt}: attempts count from 1")
    step = min(cap, base * 2.0 ** min(attempt - 1, 62))
    return step / 2 + rng.random() * step / 2


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


def classify(http_status: int | None) -> Verdict:
    """None is no answer at all (timeout, refused, reset): the receiver may be back soon."""
    if http_status is None:
        return Verdict.RETRY
    if 200 <= http_status < 300:
        return Verdict.DELIVERED
    if 400 <= http_status < 500 and http_status not in RETRYABLE_4XX:
        return Verdict.DEAD
    return Verdict.RETRY


@dataclass(frozen=True, slots=True)
class Decision:
    """What to store after an attempt: the event, and for a retry when to try again."""

    event: OutboxEvent
    verdict: Verdict
    next_attempt_at: float | None = None
    reason: str = ""


def after_attempt(
    attempts: int,
    http_status: int | None,
    error: str | None,
    now: float,
    policy: RetryPolicy,
    rng: Uniform,
) -> Decision:
    """``attempts`` counts the one just made."""
    verdict = classify(http_status)
    what = error or (f"HTTP {http_status}" if http_status is not None else "no answer")
    if verdict is Verdict.DELIVERED:
        return Decision(OutboxEvent.SUCCEEDED, verdict)
    if verdict is Verdict.DEAD:
        return Decision(OutboxEvent.GAVE_UP, verdict, reason=f"refused: {what}")
    if attempts >= policy.max_attempts:
        return Decision(
            OutboxEvent.GAVE_UP, Verdict.DEAD, reason=f"{what}; gave up after {attempts} attempts"
        )
    delay = backoff_delay(attempts, policy.base, policy.cap, rng)
    return Decision(OutboxEvent.RETRY, verdict, now + delay, what)


__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "Decision",
    "IllegalOutboxTransition",
    "OutboxEvent",
    "OutboxStatus",
    "RetryPolicy",
    "Verdict",
    "after_attempt",
    "backoff_delay",
    "body",
    "classify",
    "idempotency_key",
    "is_open_record",
    "request_headers",
    "signature",
    "sources",
    "transition",
    "verify",
]
