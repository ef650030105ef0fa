"""Typed answers to bad requests, so the API can map them to a status without parsing text.

Each error also derives from the builtin the web layer already catches (``LookupError`` for
something unknown, ``ValueError`` for a bad value, ``RuntimeError`` for a request the current
state forbids), which is how ``cti_server.api.agents`` turns them into 404/409 answers.
"""

from __future__ import annotations


class AcdError(Exception):
    """Base of every error the distributor raises on purpose."""


class UnknownAgentError(AcdError, LookupError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"no ACD agent {agent_id!r}")
        self.agent_id = agent_id


class UnknownQueueError(AcdError, LookupError):
    def __init__(self, queue: str) -> None:
        super().__init__(f"no ACD queue {queue!r}")
        self.queue = queue


class DuplicateCallError(AcdError, ValueError):
    def __init__(self, call_id: str, queue: str) -> None:
        super().__init__(f"call {call_id!r} is already waiting in queue {queue!r}")
        self.call_id = call_id


class UnknownReasonError(AcdError, ValueError):
    def __init__(self, reason: str, known: list[str]) -> None:
        super().__init__(f"unknown not-ready reason {reason!r}; known: {', '.join(known)}")
        self.reason = reason
