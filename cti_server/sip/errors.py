"""Typed parse errors: each carries the status a response should use (h11's status hint)."""

from __future__ import annotations


class SipParseError(ValueError):
    """A message (or header) that cannot be understood; ``status_hint`` is the 4xx to answer."""

    def __init__(self, reason: str, status_hint: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
