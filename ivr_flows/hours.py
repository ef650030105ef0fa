"""Business-hours schedules: weekly opening ranges plus closed dates (holidays).

::

    hours:
      office:
        weekly:
          mon-fri: "09:00-18:00"            # a day, a day range, or a comma list: sat,sun
          sat: ["09:00-12:00", "13:00-15:00"] # one range, a list, or "09:00-12:00, 13:00-15:00"
        closed: [2026-01-01, 2026-02-16]    # whole days closed (YYYY-MM-DD)

A range includes its start and excludes its end (``09:00-18:00`` is closed at 18:00:00);
``24:00`` ends at midnight. Days not listed are closed. The time is the run's local time
(the server's ``timezone``), computed from ``now`` by the engine.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from ivr_flows.variables import WEEKDAYS

_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _as_str_list(value: object) -> object:
    """``"a, b"`` or ``[a, b]`` -> list of strings (YAML may give one string or a list)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check_days(spec: str) -> str:
    parse_days(spec)
    return spec


def _check_range(text: str) -> str:
    parse_range(text)
    return text


Days = Annotated[str, AfterValidator(_check_days)]
Ranges = Annotated[
    list[Annotated[str, AfterValidator(_check_range)]], BeforeValidator(_as_str_list)
]


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weekly: dict[Days, Ranges]
    closed: list[dt.date] = []

    def is_open(self, local: dt.datetime) -> bool:
        if local.date() in self.closed:
            return False
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        for days, ranges in self.weekly.items():
            if weekday not in parse_days(days):
                continue
            for text in ranges:
                start, end = parse_range(text)
                if start <= minute < end:
                    return True
        return False


def parse_days(spec: str) -> set[int]:
    """``mon-fri,sun`` -> {0, 1, 2, 3, 4, 6} (Monday is 0, as ``datetime.weekday``)."""
    found: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(
                f"day {part.strip()!r} must be one of {', '.join(WEEKDAYS)} or a range like mon-fri"
            )
        a = WEEKDAYS.index(first)
        b = WEEKDAYS.index(last) if last else a
        if b < a:
            raise ValueError(f"day range {part.strip()!r} runs backwards")
        found.update(range(a, b + 1))
    return found


def parse_range(text: str) -> tuple[int, int]:
    """``"09:00-18:00"`` -> minutes since midnight (540, 1080)."""
    m = _RANGE.match(text.strip())
    if m is None:
        raise ValueError(f"time range {text!r} must look like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start >= 24 * 60 or end > 24 * 60:
        raise ValueError(f"time range {text!r} has a time past 24:00")
    if end <= start:
        raise ValueError(f"time range {text!r} must end after it starts")
    return start, end
