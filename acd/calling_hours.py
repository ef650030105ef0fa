"""Calling hours in the customer's own time zone: may we dial now, and if not, from when.

``now`` is POSIX seconds (what ``reactor.seconds()`` returns). Windows are wall-clock local
times, so a daylight-saving change moves them with the customer's clock: the epoch of
"09:00 local" is computed per day with ``zoneinfo`` (an hour that does not exist on a
spring-forward day resolves as ``zoneinfo`` resolves it, fold 0).

A lead's unknown or missing time zone falls back to the dialer's (``DialerSettings.time_zone``):
calling a customer in an unexpected zone inside our own hours beats never calling them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.dialer_settings import CallingHours, Window

SEARCH_DAYS = 400  # closed_dates holds at most 366 dates, so an open day is always found


@lru_cache(maxsize=256)
def _load(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str | None, default: str) -> ZoneInfo:
    """The customer's zone, or ``default`` when theirs is missing or unknown."""
    found = _load(name) if name else None
    if found is None:
        found = _load(default)
    if found is None:
        raise ValueError(f"unknown default time zone {default!r}")
    return found


def window_for(hours: CallingHours, day: date) -> Window | None:
    if day in hours.closed_dates:
        return None
    return hours.weekdays if day.weekday() < 5 else hours.weekends


def _at(day: date, minutes: int, tz: ZoneInfo) -> float:
    # Aware datetime + timedelta is wall-clock arithmetic: 24:00 is the next local midnight.
    return (datetime.combine(day, time(), tzinfo=tz) + timedelta(minutes=minutes)).timestamp()


def next_open(hours: CallingHours, now: float, tz: ZoneInfo) -> float:
    """The earliest moment at or after ``now`` inside a calling window (``now`` if open)."""
    today = datetime.fromtimestamp(now, tz).date()
    for offset in range(-1, SEARCH_DAYS):  # -1: a window of yesterday may still be open (DST)
        day = today + timedelta(days=offset)
        window = window_for(hours, day)
        if window is None:
            continue
        start, end = window.minutes
        if now < _at(day, end, tz):
            return max(now, _at(day, start, tz))
    raise ValueError("no calling window in the next 400 days")


def is_open(hours: CallingHours, now: float, tz: ZoneInfo) -> bool:
    return next_open(hours, now, tz) == now


def local_time(now: float, tz: ZoneInfo) -> datetime:
    """For messages and tests: ``now`` on the customer's clock."""
    return datetime.fromtimestamp(now, tz)
