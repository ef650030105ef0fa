"""Retention: which recordings have outlived their queue's keep period.

Pure: the caller loads index rows, asks ``expired(rows, policy, now)``, deletes the files
(``sink.delete_files``) and then the rows of the files that are gone, so a crash between the two
leaves rows pointing at missing files (deleted again harmlessly next run), never orphan files.

A queue's ``keep_days`` overrides the default; ``None`` keeps forever. Voice messages may have
their own period (``voice_message_days``), since they are usually purged sooner than calls. A
row on legal hold is never expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

DAY_S: Final = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexRow:
    id: str
    path: str
    started_at: float
    queue: str | None = None
    kind: str = "call"
    hold: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPolicy:
    default_days: float | None = None
    queue_days: Mapping[str, float | None] = field(default_factory=dict)
    voice_message_days: float | None = None

    def __post_init__(self) -> None:
        periods = [self.default_days, self.voice_message_days, *self.queue_days.values()]
        bad = [d for d in periods if d is not None and d < 0]
        if bad:
            raise ValueError(f"retention periods must be >= 0 days, got {bad}")

    def keep_days(self, row: IndexRow) -> float | None:
        if row.kind == "voice_message" and self.voice_message_days is not None:
            return self.voice_message_days
        if row.queue is not None and row.queue in self.queue_days:
            return self.queue_days[row.queue]
        return self.default_days


def expires_at(row: IndexRow, policy: RetentionPolicy) -> float | None:
    days = policy.keep_days(row)
    return None if days is None or row.hold else row.started_at + days * DAY_S


def expired(
    rows: Iterable[IndexRow], policy: RetentionPolicy, now: float, limit: int | None = None
) -> list[IndexRow]:
    """Rows to delete now, oldest first; ``limit`` bounds one sweep's work."""
    due = [row for row in rows if (at := expires_at(row, policy)) is not None and at <= now]
    due.sort(key=lambda row: (row.started_at, row.id))
    return due if limit is None else due[:limit]
