"""The base of every event and its one wire format (``to_json``/``from_json``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    name: ClassVar[str] = "event"
    at: float


def to_json(event: Event) -> str:
    payload = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    payload["name"] = event.name
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str) -> Event:
    payload = json.loads(text)
    cls = event_types()[payload.pop("name")]
    known = {f.name for f in dataclasses.fields(cls)}
    args: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in payload.items() if k in known
    }
    return cls(**args)


def event_types() -> dict[str, type[Event]]:
    """Every concrete event class by wire name (subclasses anywhere in the code base)."""
    found: dict[str, type[Event]] = {}
    pending: list[type[Event]] = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found.setdefault(cls.name, cls)
        pending.extend(cls.__subclasses__())
    return found
