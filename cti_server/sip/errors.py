"""Typed parse errors: each carries the status a response should use (h11's status hint)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cti_server.sip.message import SipRequest


class SipParseError(ValueError):
    """A message (or header) that cannot be understood; ``status_hint`` is the 4xx to answer.

    ``partial`` is set by the parser when a broken *request* still had a readable start line
    and at least one Via: the endpoint can then answer ``status_hint`` statelessly instead of
    dropping the datagram (RFC 3261 §8.2, RFC 4475 §3.1.2). It holds every header that was
    read, so any of From/To/Call-ID/CSeq may be missing or malformed in it.
    """

    def __init__(
        self, reason: str, status_hint: int = 400, partial: SipRequest | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status_hint = status_hint
        self.partial = partial
