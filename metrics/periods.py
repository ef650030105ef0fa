"""Calendar buckets in a time zone: which day, month, year or hour of day an instant falls in.

A report period is ``[start, end)`` of aware datetimes; buckets are the calendar units of the
report's time zone (``zoneinfo``), so the same calls bucket differently in Asia/Seoul and in
UTC, and a DST day has 23 or 25 hours. ``hour`` is the hour of day (00-23) summed over every
day of the period, as the proposal's hourly traffic chart. Each bucket also carries its
``windows``: the epoch intervals it covers inside the period (one per day, month or year;
one per day for an hour of day), which is what time-weighted figures (occupancy) need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

TIME_GROUPINGS: Final = ("day", "month", "year", "hour")
GROUPINGS: Final = (*TIME_GROUPINGS, "agent", "queue")


class PeriodError(ValueError):
    """A report period or grouping that cannot be computed (the API answers 400)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str  # 2026-12-01, 2026-12, 2026, or the hour of day 00..23
    start: datetime  # local start of the first window
    windows: tuple[tuple[float, float], ...]


def localize(moment: datetime, tz: ZoneInfo) -> datetime:
    """An aware datetime in ``tz``; a naive one is taken as wall-clock time in ``tz``."""
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def parse_moment(text: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A report bound typed by a person: ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or an ISO time
    (wall-clock in ``tz`` unless it has an offset). Returns the start and the end of the unit
    it names (the next year, month or day; a time names the 24 hours from it)."""
    try:
        if len(text) == 4 and text.isdigit():
            start = datetime(int(text), 1, 1, tzinfo=tz)
            return start, _next_unit(start, "year", tz)
        if len(text) == 7 and text[4] == "-":
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=tz)
            return start, _next_unit(start, "month", tz)
        moment = localize(datetime.fromisoformat(text), tz)
    except ValueError as exc:
        raise PeriodError(
            f"{text!r} is not a date: use YYYY-MM-DD, YYYY-MM, YYYY or YYYY-MM-DDTHH:MM"
        ) from exc
    if len(text) == 10:
        return moment, _next_unit(moment, "day", tz)
    return moment, moment + timedelta(days=1)


def check_period(start: datetime, end: datetime, by: str) -> None:
    if by not in GROUPINGS:
        raise PeriodError(f"unknown grouping {by!r}: one of {', '.join(GROUPINGS)}")
    if start.tzinfo is None or end.tzinfo is None:
        raise PeriodError("the period needs aware datetimes (localize them first)")
    if end <= start:
        raise PeriodError(f"the period ends ({end.isoformat()}) before it starts")


def time_key(at: float, by: str, tz: ZoneInfo) -> str:
    local = datetime.fromtimestamp(at, tz)
    if by == "day":
        return local.strftime("%Y-%m-%d")
    if by == "month":
        return local.strftime("%Y-%m")
    if by == "year":
        return local.strftime("%Y")
    if by == "hour":
        return local.strftime("%H")
    raise PeriodError(f"{by!r} is not a time grouping")


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _next_unit(local: datetime, by: str, tz: ZoneInfo) -> datetime:
    """The start of the calendar unit after the one ``local`` (a unit start) begins."""
    if by == "day":
        return _midnight(local.date() + timedelta(days=1), tz)
    if by == "month":
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return datetime(year, month, 1, tzinfo=tz)
    return datetime(local.year + 1, 1, 1, tzinfo=tz)


def _unit_start(local: datetime, by: str, tz: ZoneInfo) -> datetime:
    if by == "day":
        return _midnight(local.date(), tz)
    if by == "month":
        return datetime(local.year, local.month, 1, tzinfo=tz)
    return datetime(local.year, 1, 1, tzinfo=tz)


def time_buckets(start: datetime, end: datetime, by: str, tz: ZoneInfo) -> list[Bucket]:
    """Every bucket of the period, empty ones included, in order (hours: 00 to 23)."""
    check_period(start, end, by)
    lo, hi = start.timestamp(), end.timestamp()
    if by == "hour":
        return _hour_buckets(lo, hi, tz)
    out: list[Bucket] = []
    unit = _unit_start(localize(start, tz), by, tz)
    while unit.timestamp() < hi:
        following = _next_unit(unit, by, tz)
        window = (max(lo, unit.timestamp()), min(hi, following.timestamp()))
        first = datetime.fromtimestamp(window[0], tz)
        out.append(Bucket(time_key(unit.timestamp(), by, tz), first, (window,)))
        unit = following
    return out


def _hour_buckets(lo: float, hi: float, tz: ZoneInfo) -> list[Bucket]:
    """Hours of day: each window is one wall-clock hour; DST repeats or skips one."""
    windows: dict[str, list[tuple[float, float]]] = {f"{h:02d}": [] for h in range(24)}
    local = datetime.fromtimestamp(lo, tz)
    at = local.replace(minute=0, second=0, microsecond=0).timestamp()
    while at < hi:
        windows[time_key(at, "hour", tz)].append((max(lo, at), min(hi, at + 3600.0)))
        at += 3600.0
    return [
        Bucket(key, datetime.fromtimestamp(spans[0][0] if spans else lo, tz), tuple(spans))
        for key, spans in windows.items()
    ]
