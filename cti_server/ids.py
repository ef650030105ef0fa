"""Identifier types and the injected id factory: cores never draw randomness themselves."""

from __future__ import annotations

from typing import NewType, Protocol

CallId = NewType("CallId", str)
LegId = NewType("LegId", str)
AgentId = NewType("AgentId", str)
QueueName = NewType("QueueName", str)


class RandomSource(Protocol):
    def getrandbits(self, k: int, /) -> int: ...


class IdFactory:
    """Tags, branches, Call-IDs and nonces from an injected random source.

    Production passes ``random.SystemRandom()`` (nonces must be unguessable); tests pass a
    seeded ``random.Random`` so every run produces the same identifiers.
    """

    def __init__(self, rng: RandomSource, host: str = "cti.local") -> None:
        self._rng = rng
        self._host = host
        self._counter = 0

    def _hex(self, bits: int) -> str:
        return f"{self._rng.getrandbits(bits):0{bits // 4}x}"

    def tag(self) -> str:
        return self._hex(48)

    def branch(self) -> str:
        # RFC 3261 §8.1.1.7: the magic cookie marks an RFC 3261 branch.
        return "z9hG4bK" + self._hex(64)

    def call_id(self) -> str:
        return f"{self._hex(96)}@{self._host}"

    def nonce(self) -> str:
        return self._hex(128)

    def sequence(self, prefix: str) -> str:
        """A short, ordered, process-unique id for calls and legs (readable in logs)."""
        self._counter += 1
        return f"{prefix}{self._counter:x}-{self._hex(24)}"
