"""The webhook outbox core: signatures, backoff, states, keys, verdicts; and its settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from cti_server.crm import outbox as core
from cti_server.crm.outbox import (
    IllegalOutboxTransition,
    OutboxEvent,
    OutboxStatus,
    RetryPolicy,
    Verdict,
)
from cti_server.crm.webhook_settings import SecretError, WebhookEndpoint, WebhookSettings

SECRET = b"0123456789abcdef-secret"
CREATED = datetime(2026, 12, 3, 1, 2, 3, tzinfo=UTC)


class Fixed:
    """A ``random()`` that answers what it is told."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


# --- signatures ----------------------------------------------------------------------------------


def test_signature_is_stripe_style_hmac_over_timestamp_dot_body() -> None:
    body = '{"id":"call_record:C1","data":{"notes":"배송 지연"}}'.encode()
    header = core.signature(SECRET, 1_765_000_000, body)
    expected = hmac.new(SECRET, b"1765000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1765000000,v1={expected}"


def test_verify_accepts_the_right_signature_in_its_time_window() -> None:
    body = b'{"a":1}'
    header = core.signature(SECRET, 1000, body)
    assert core.verify(SECRET, header, body, now=1000)
    assert core.verify(SECRET, header, body, now=1000 + core.SIGNATURE_TOLERANCE)
    assert not core.verify(SECRET, header, body, now=1000 + core.SIGNATURE_TOLERANCE + 1)
    assert not core.verify(SECRET, header, b'{"a":2}', now=1000)  # body changed
    assert not core.verify(b"another-secret-of-16+", header, body, now=1000)


def test_verify_takes_any_matching_v1_and_refuses_garbage() -> None:
    body = b"x"
    good = core.signature(SECRET, 50, body).split("v1=")[1]
    assert core.verify(SECRET, f"t=50,v1=deadbeef,v1={good}", body, now=50)  # key rotation
    assert not core.verify(SECRET, "v1=" + good, body, now=50)  # no timestamp
    assert not core.verify(SECRET, f"t=soon,v1={good}", body, now=50)
    assert not core.verify(SECRET, "", body, now=50)


def test_request_headers_carry_key_event_and_signature() -> None:
    body = core.body("contact", "contact:7", CREATED, {"notes": "재문의"})
    headers = core.request_headers(SECRET, "contact", "contact:7", body, now=1234.9)
    assert headers["Idempotency-Key"] == "contact:7"
    assert headers["X-CTI-Event"] == "contact"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-CTI-Signature"].startswith("t=1234,v1=")
    assert core.verify(SECRET, headers["X-CTI-Signature"], body, now=1235)


def test_body_is_stable_utf8_json_with_an_envelope() -> None:
    payload = {"call_id": "C1", "notes": "고객 불만", "b": 2, "a": 1}
    first = core.body("call_record", "call_record:C1", CREATED, payload)
    again = core.body("call_record", "call_record:C1", CREATED, dict(reversed(payload.items())))
    assert first == again  # byte for byte on every attempt
    assert "고객 불만".encode() in first
    assert json.loads(first) == {
        "id": "call_record:C1",
        "type": "call_record",
        "created_at": "2026-12-03T01:02:03+00:00",
        "data": payload,
    }


# --- keys and open records -----------------------------------------------------------------------


def test_idempotency_key_is_kind_and_source_id() -> None:
    assert core.idempotency_key("call_record", "C-42") == "call_record:C-42"
    assert core.idempotency_key("contact", 17) == "contact:17"
    with pytest.raises(ValueError):
        core.idempotency_key("contact", "")


def test_open_record_is_one_whose_wrap_up_is_running() -> None:
    assert core.is_open_record({"wrap_up_started_at": 10.0, "wrap_up_ended_at": None})
    assert not core.is_open_record({"wrap_up_started_at": 10.0, "wrap_up_ended_at": 30.0})
    assert not core.is_open_record({"call_id": "C1"})  # no agent, nothing to wait for


# --- states --------------------------------------------------------------------------------------


def test_transition_table() -> None:
    P, D, OK, X = (OutboxStatus.PENDING, OutboxStatus.DELIVERING, OutboxStatus.DELIVERED,
                   OutboxStatus.DEAD)  # fmt: skip
    assert core.transition(P, OutboxEvent.CLAIM) is D
    assert core.transition(D, OutboxEvent.CLAIM) is D  # a lapsed lease
    assert core.transition(D, OutboxEvent.SUCCEEDED) is OK
    assert core.transition(D, OutboxEvent.RETRY) is P
    assert core.transition(D, OutboxEvent.GAVE_UP) is X
    assert core.transition(P, OutboxEvent.UPDATE) is P


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (OutboxStatus.DELIVERED, OutboxEvent.CLAIM),
        (OutboxStatus.DEAD, OutboxEvent.CLAIM),
        (OutboxStatus.PENDING, OutboxEvent.SUCCEEDED),
        (OutboxStatus.DELIVERING, OutboxEvent.UPDATE),
        (OutboxStatus.DELIVERED, OutboxEvent.UPDATE),
        (OutboxStatus.DEAD, OutboxEvent.RETRY),
    ],
)
def test_illegal_transitions_name_state_and_event(status: OutboxStatus, event: OutboxEvent) -> None:
    with pytest.raises(IllegalOutboxTransition) as raised:
        core.transition(status, event)
    assert raised.value.status is status and raised.value.event is event
    assert status.value in str(raised.value) and event.value in str(raised.value)


def test_sources_are_the_storage_guards() -> None:
    assert set(core.sources(OutboxEvent.CLAIM)) == {"pending", "delivering"}
    assert core.sources(OutboxEvent.SUCCEEDED) == ("delivering",)
    assert core.sources(OutboxEvent.UPDATE) == ("pending",)


# --- backoff and verdicts ------------------------------------------------------------------------


def test_backoff_doubles_within_its_upper_half_and_is_capped() -> None:
    assert core.backoff_delay(1, 2.0, 3600, Fixed(0.0)) == 1.0
    assert core.backoff_delay(1, 2.0, 3600, Fixed(0.999999)) == pytest.approx(2.0, abs=1e-5)
    assert core.backoff_delay(4, 2.0, 3600, Fixed(0.5)) == 16 * 0.75
    assert core.backoff_delay(30, 2.0, 60, Fixed(1.0)) == 60
    assert core.backoff_delay(10_000, 2.0, 60, Fixed(0.0)) == 30  # no overflow
    with pytest.raises(ValueError):
        core.backoff_delay(0, 2.0, 60, Fixed(0.0))


def test_backoff_jitter_comes_from_the_injected_random() -> None:
    delays = [core.backoff_delay(3, 1.0, 60, random.Random(seed)) for seed in range(50)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) == 50  # spread, not one herd
    again = [core.backoff_delay(3, 1.0, 60, random.Random(seed)) for seed in range(50)]
    assert delays == again


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED), (201, Verdict.DELIVERED), (204, Verdict.DELIVERED),
        (400, Verdict.DEAD), (401, Verdict.DEAD), (404, Verdict.DEAD), (422, Verdict.DEAD),
        (408, Verdict.RETRY), (429, Verdict.RETRY), (500, Verdict.RETRY), (503, Verdict.RETRY),
        (301, Verdict.RETRY), (None, Verdict.RETRY),
    ],
)  # fmt: skip
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert core.classify(status) is verdict


def test_after_attempt_retries_then_gives_up() -> None:
    policy = RetryPolicy(max_attempts=3, base=10.0, cap=100.0)
    first = core.after_attempt(1, 503, None, 1000.0, policy, Fixed(0.0))
    assert (first.event, first.next_attempt_at, first.reason) == (OutboxEvent.RETRY, 1005.0,
                                                                 "HTTP 503")  # fmt: skip
    second = core.after_attempt(2, None, "timed out", 1000.0, policy, Fixed(0.0))
    assert second.next_attempt_at == 1010.0 and second.reason == "timed out"
    last = core.after_attempt(3, 500, None, 1000.0, policy, Fixed(0.0))
    assert last.event is OutboxEvent.GAVE_UP and last.verdict is Verdict.DEAD
    assert last.next_attempt_at is None and "gave up after 3 attempts" in last.reason


def test_after_attempt_success_and_refusal() -> None:
    policy = RetryPolicy()
    ok = core.after_attempt(1, 200, None, 0.0, policy, Fixed(0.5))
    assert ok.event is OutboxEvent.SUCCEEDED and ok.verdict is Verdict.DELIVERED
    refused = core.after_attempt(1, 400, None, 0.0, policy, Fixed(0.5))
    assert refused.event is OutboxEvent.GAVE_UP and refused.reason == "refused: HTTP 400"
    assert policy.lease == policy.timeout + core.LEASE_MARGIN


# --- settings ------------------------------------------------------------------------------------


def _endpoint(**changes: object) -> dict[str, object]:
    return {"name": "crm", "url": "https://crm.example.com/hook", "secret": "s" * 20} | changes


def test_settings_defaults_and_kinds() -> None:
    settings = WebhookSettings.model_validate(
        {"endpoints": [_endpoint(), _endpoint(name="bi", events=["call_record"])]}
    )
    assert [e.name for e in settings.for_kind("contact")] == ["crm"]
    assert [e.name for e in settings.for_kind("call_record")] == ["crm", "bi"]
    crm = settings.endpoints[0]
    assert (crm.timeout, crm.max_attempts, crm.concurrency) == (10.0, 12, 4)
    assert crm.secret_bytes() == b"s" * 20
    assert "s" * 20 not in repr(settings)  # the secret is not printed
    assert WebhookSettings().endpoints == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://crm.example.com/"}, "http:// or https://"),
        ({"url": "https:///nohost"}, "http:// or https://"),
        ({"url": "https://user:pw@crm.example.com/"}, "no credentials"),
        ({"secret": None}, "give secret or secret_file"),
        ({"secret_file": "/x"}, "give secret or secret_file"),
        ({"secret": "short"}, "shorter than 16"),
        ({"events": []}, "at least 1"),
        ({"events": ["call_record", "call_record"]}, "listed twice"),
        ({"events": ["recording"]}, "call_record"),
        ({"backoff_base": 10, "backoff_max": 5}, "backoff_max below backoff_base"),
        ({"timeout": 0}, "greater than 0"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_bad_endpoints_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        WebhookEndpoint.model_validate(_endpoint(**changes))
    assert message in str(raised.value)


def test_duplicate_endpoint_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate endpoint names: crm"):
        WebhookSettings.model_validate({"endpoints": [_endpoint(), _endpoint()]})


def test_secret_file_is_read_when_needed(tmp_path: Path) -> None:
    path = tmp_path / "hook.secret"
    endpoint = WebhookEndpoint.model_validate(_endpoint(secret=None, secret_file=str(path)))
    with pytest.raises(SecretError, match=r"hook\.secret"):
        endpoint.secret_bytes()
    path.write_text("short\n")
    with pytest.raises(SecretError, match="fewer than 16"):
        endpoint.secret_bytes()
    path.write_text("a-long-enough-webhook-key\nignored\n")
    assert endpoint.secret_bytes() == b"a-long-enough-webhook-key"
