"""CRM webhook configuration (the ``webhooks:`` section): where call records and contact
history go, how they are signed and how hard a failing endpoint is retried.

Imports nothing but pydantic and the standard library: ``cti_server.config`` builds its
``Config`` from this. A ``secret_file`` is read when the delivery service is built, not at
load, so ``check-config`` works on a machine without the secret; ``secret`` inline is for
tests and demos (it ends up in the config file and in backups of it).

Example::

    webhooks:
      endpoints:
        - name: crm
          url: https://crm.example.com/hooks/cti
          secret_file: /etc/cti/crm-webhook.secret
          events: [call_record, contact]
          timeout: 10
          max_attempts: 12
          backoff_base: 2
          backoff_max: 3600
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

EventKind = Literal["call_record", "contact"]
EVENT_KINDS: tuple[EventKind, ...] = ("call_record", "contact")
_Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
MIN_SECRET = 16  # bytes: an HMAC key shorter than this is guessable


class SecretError(ValueError):
    """An endpoint's secret cannot be had (the file is missing, unreadable or too short)."""


class WebhookEndpoint(BaseModel):
    """One receiver. Each event kind in ``events`` is delivered to it once per record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: _Name = Field(description="label in logs, metrics and the outbox; keep it stable")
    url: str = Field(description="http:// or https:// URL the records are POSTed to")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key (or secret_file)")
    secret_file: str | None = Field(None, description="file holding the key (first line)")
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS), min_length=1)
    timeout: float = Field(10.0, gt=0, le=300, description="seconds per attempt")
    max_attempts: int = Field(12, ge=1, le=100, description="then the entry is dead")
    backoff_base: float = Field(2.0, gt=0, le=3600, description="first retry delay, seconds")
    backoff_max: float = Field(3600.0, gt=0, le=86_400, description="longest retry delay")
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r}: an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("no credentials in the URL: the signature authenticates us")
        return url

    @field_validator("events")
    @classmethod
    def _unique_events(cls, events: list[EventKind]) -> list[EventKind]:
        if len(set(events)) != len(events):
            raise ValueError("an event kind is listed twice")
        return events

    @model_validator(mode="after")
    def _one_secret(self) -> WebhookEndpoint:
        if (self.secret is None) == (self.secret_file is None):
            raise ValueError(f"endpoint {self.name!r}: give secret or secret_file (one)")
        if self.secret is not None and len(self.secret.get_secret_value()) < MIN_SECRET:
            raise ValueError(f"endpoint {self.name!r}: secret shorter than {MIN_SECRET}")
        if self.backoff_max < self.backoff_base:
            raise ValueError(f"endpoint {self.name!r}: backoff_max below backoff_base")
        return self

    def secret_bytes(self) -> bytes:
        """The HMAC key: ``secret``, or the first line of ``secret_file``."""
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        assert self.secret_file is not None
        try:
            text = Path(self.secret_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(
                f"webhooks endpoint {self.name!r}: secret_file {self.secret_file}: {exc}"
            ) from None
        lines = text.strip().splitlines()
        key = lines[0].strip().encode() if lines else b""
        if len(key) < MIN_SECRET:
            raise SecretError(
                f"webhooks endpoint {self.name!r}: secret_file {self.secret_file} holds "
                f"fewer than {MIN_SECRET} bytes"
            )
        return key


class WebhookSettings(BaseModel):
    """No endpoints (the default): nothing is queued and no delivery loop runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: list[WebhookEndpoint] = Field(default_factory=list)
    poll_interval: float = Field(1.0, gt=0, le=60, description="seconds between outbox polls")
    hold_open_records: float = Field(
        900.0,
        ge=0,
        le=86_400,
        description="a record stored while its agent is still in wrap-up waits this long for "
        "the complete one (keep it at least the call folder's max_wrap_up)",
    )
    keep_delivered_days: float = Field(
        30.0, gt=0, description="delivered entries are pruned after this many days"
    )

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, endpoints: list[WebhookEndpoint]) -> list[WebhookEndpoint]:
        names = [e.name for e in endpoints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate endpoint names: {', '.join(dupes)}")
        return endpoints

    def for_kind(self, kind: str) -> list[WebhookEndpoint]:
        return [e for e in self.endpoints if kind in e.events]


__all__ = [
    "EVENT_KINDS",
    "EventKind",
    "SecretError",
    "WebhookEndpoint",
    "WebhookSettings",
]
