"""One re-armable DelayedCall per core: the adapter side of ``get_timer()``/``handle_timer``."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IReactorTime


class DeadlineTimer:
    def __init__(self, clock: IReactorTime, fire: Callable[[float], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._call: DelayedCall | None = None
        self._when: float | None = None

    def rearm(self, when: float | None) -> None:
        if when == self._when and self._call is not None and self._call.active():
            return
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._when = when
        if when is not None:
            delay = max(0.0, when - self._clock.seconds())
            self._call = self._clock.callLater(delay, self._expired)  # type: ignore[assignment]

    def _expired(self) -> None:
        self._call = None
        self._when = None
        self._fire(self._clock.seconds())

    def stop(self) -> None:
        self.rearm(None)
