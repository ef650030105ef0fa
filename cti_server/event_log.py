"""A bus subscriber that logs every domain event as one readable line in the local zone."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from cti_server.events import Event

log = logging.getLogger("cti.events")
MASKED = frozenset({"digit", "digits", "pin"})  # never in a log line: they may be PINs


class EventLogger:
    def __init__(self, timezone: str) -> None:
        self._zone = ZoneInfo(timezone)

    def __call__(self, event: Event) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        stamp = datetime.fromtimestamp(event.at, self._zone).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(
            f"{f.name}={'*' if f.name in MASKED else getattr(event, f.name)}"
            for f in dataclasses.fields(event)
            if f.name != "at" and getattr(event, f.name) not in (None, "")
        )
        log.info("%s %-22s %s", stamp, event.name, fields)
