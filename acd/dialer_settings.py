"""Dialer configuration (the ``dialer:`` section): callbacks per queue and outbound campaigns.

Validated with pydantic at load time like ``acd.settings``, so a bad time zone, a window
that ends before it starts or a ratio of 5 is a ``file:line: reason`` error at start-up.

Why the defaults are what they are:
- Retry backoff (busy 5 min, no answer 30 min, failure 10 min, growing by ``factor`` per
  attempt, capped by ``max_delay``): a busy line frees soon, an absent customer does not.
- ``abandoned`` 72 h: UK Ofcom's drop lock-out (features.md [V2]): a customer whose call was
  dropped is not called again by the dialer for three days.
- Calling hours are local to the *customer* (their ``time_zone``, else ``time_zone`` here,
  Asia/Seoul), 09:00-20:00 on weekdays and 10:00-18:00 on weekends: Korean law forbids
  unsolicited calls 21:00-08:00, and a margin keeps us clear of it.
- The abandon cap is 3 % of live answers over a rolling 24 h (Ofcom's 24 h window, FCC's 3 %):
  a live answer not connected to an agent within ``answer_grace`` (2 s) is abandoned.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("a name is 1-64 letters, digits, '_', '-' or '.'")
    return value


class Window(_Model):
    """One day's calling window in the customer's local time, ``[start, end)``."""

    start: str = "09:00"
    end: str = "20:00"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("a time of day is HH:MM (00:00-24:00)")
        return value

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.minutes[0] >= self.minutes[1]:
            raise ValueError(f"calling window {self.start}-{self.end} ends before it starts")
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes after local midnight."""
        hours, minutes = self.start.split(":")
        end_hours, end_minutes = self.end.split(":")
        return int(hours) * 60 + int(minutes), int(end_hours) * 60 + int(end_minutes)


class CallingHours(_Model):
    weekdays: Window | None = Window()
    weekends: Window | None = Window(start="10:00", end="18:00")
    closed_dates: list[date] = Field(
        default_factory=list, max_length=366, description="local dates with no calls (holidays)"
    )

    @model_validator(mode="after")
    def _some_window(self) -> CallingHours:
        if self.weekdays is None and self.weekends is None:
            raise ValueError("calling hours need a weekday or a weekend window")
        return self


class RetrySettings(_Model):
    """Seconds before the next attempt, by the outcome of the last one; the n-th failed
    attempt waits ``base * factor ** (n - 1)``, at most ``max_delay`` (never below base)."""

    busy: float = Field(300.0, gt=0)
    no_answer: float = Field(1800.0, gt=0)
    failed: float = Field(600.0, gt=0)
    abandoned: float = Field(72 * 3600.0, gt=0)
    factor: float = Field(2.0, ge=1.0, le=10.0)
    max_delay: float = Field(24 * 3600.0, gt=0)


class DialPolicy(_Model):
    """How one queue's callbacks (or one campaign's leads) are dialled."""

    caller_id: str = Field("", description="shown to the customer; '' = the dialer's default")
    max_attempts: int = Field(3, ge=1, le=20)
    retry: RetrySettings = RetrySettings()
    calling_hours: CallingHours = CallingHours()
    ring_timeout: float = Field(30.0, gt=0, le=300, description="customer rings, then no_answer")
    reserve_timeout: float = Field(30.0, gt=0, le=300, description="agent-first: agent accepts")
    reserve_retry: float = Field(10.0, gt=0, le=3600, description="after no agent was found")


class QueueDialSettings(DialPolicy):
    """Callbacks of one ACD queue (always agent-first)."""

    name: str

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value)


class PacingSettings(_Model):
    ratio: float = Field(1.0, ge=1.0, le=3.0, description="highest dial level: lines per agent")
    abandon_cap: float = Field(0.03, gt=0, le=0.5)
    window: float = Field(24 * 3600.0, ge=60, description="rolling abandon-rate window, s")
    answer_grace: float = Field(2.0, gt=0, le=30, description="live answer to agent, s")
    step: float = Field(0.1, gt=0, le=1.0, description="level change per adjustment")
    adjust_every: float = Field(15.0, gt=0, le=3600)
    taper: float = Field(0.8, gt=0, le=1.0, description="above taper*cap the level falls")
    max_lines: int = Field(100, ge=1, description="customer legs in progress at most")


class CampaignSettings(DialPolicy):
    name: str
    title: str = ""
    queue: str = Field(description="the ACD queue whose agents take the campaign's calls")
    customer_first: bool = Field(True, description="False: reserve an agent first, as callbacks")
    pacing: PacingSettings = PacingSettings()
    autostart: bool = False

    @field_validator("name", "queue")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value)


class InboundProtection(_Model):
    """Blending: inbound callers come first. Outbound for a queue stops while one of its
    callers has waited longer than ``max_inbound_wait`` or its service level is below target."""

    max_inbound_wait: float = Field(10.0, ge=0)
    service_level_target: float | None = Field(0.8, ge=0, le=1)


class DialerSettings(_Model):
    time_zone: str = "Asia/Seoul"
    caller_id: str = ""
    callbacks: DialPolicy = DialPolicy()
    queues: list[QueueDialSettings] = []
    campaigns: list[CampaignSettings] = []
    protection: InboundProtection = InboundProtection()
    dnc: list[str] = Field(default_factory=list, description="numbers never dialled")
    poll_interval: float = Field(5.0, gt=0, le=300, description="re-check a blocked dialer")

    @field_validator("time_zone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        return _zone(value)

    @model_validator(mode="after")
    def _unique(self) -> DialerSettings:
        for what, names in (
            ("queues", [q.name for q in self.queues]),
            ("campaigns", [c.name for c in self.campaigns]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate dialer {what}: {', '.join(dupes)}")
        return self

    def queue_policy(self, queue: str) -> DialPolicy:
        """A listed queue's policy replaces ``callbacks`` as a whole."""
        for entry in self.queues:
            if entry.name == queue:
                return entry
        return self.callbacks

    def campaign(self, name: str) -> CampaignSettings | None:
        for entry in self.campaigns:
            if entry.name == name:
                return entry
        return None
