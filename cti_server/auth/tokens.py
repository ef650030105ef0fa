"""Bearer tokens for the desktop API: random, expiring, revocable.

A token is 32 random bytes (from an injected source) in URL-safe base64. Stores keep only
its SHA-256 (:func:`token_key`), so a dump of the store or of Redis gives nobody a session.
A session holds the principal as it was at login and when it ends; a token past its
``expires_at`` is refused even if a store still holds it, so the expiry does not depend on
the store's own TTL. Logout deletes the session.

:class:`MemoryTokenStore` is the single-node store; with ``redis.url`` set the web layer
keeps the same :class:`TokenSession` JSON in Redis with a TTL, so another node accepts it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cti_server.auth.principal import Principal, Role

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128  # anything longer is not one of ours: refuse without hashing it
DEFAULT_TTL = 8 * 3600.0  # a shift


def new_token(token_bytes: Callable[[int], bytes]) -> str:
    raw = token_bytes(TOKEN_BYTES)
    if len(raw) < TOKEN_BYTES:
        raise ValueError(f"a token needs {TOKEN_BYTES} random bytes")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token_key(token: str) -> str:
    """What a store files a token under: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def plausible(token: str) -> bool:
    return 0 < len(token) <= MAX_TOKEN_LENGTH and token.isascii()


@dataclass(frozen=True, slots=True)
class TokenSession:
    principal: Principal
    issued_at: float
    expires_at: float

    def valid_at(self, now: float) -> bool:
        return self.issued_at - 60 <= now < self.expires_at  # a minute of clock skew

    @property
    def expires_iso(self) -> str:
        """ISO 8601 UTC with a ``Z``, as the login answer gives it."""
        return iso_utc(self.expires_at)

    def to_json(self) -> dict[str, Any]:
        p = self.principal
        return {
            "username": p.username,
            "role": p.role.value,
            "agent_id": p.agent_id,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSession:
        principal = Principal(str(data["username"]), Role(data["role"]), data.get("agent_id"))
        return cls(principal, float(data["issued_at"]), float(data["expires_at"]))


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    session: TokenSession


class TokenIssuer:
    """Makes sessions; the store they go to is the caller's (memory here, Redis at the edge)."""

    def __init__(self, token_bytes: Callable[[int], bytes], ttl: float = DEFAULT_TTL) -> None:
        if ttl <= 0:
            raise ValueError("a token lifetime must be positive")
        self._token_bytes = token_bytes
        self.ttl = ttl

    def issue(self, principal: Principal, now: float) -> IssuedToken:
        session = TokenSession(principal, now, now + self.ttl)
        return IssuedToken(new_token(self._token_bytes), session)


class MemoryTokenStore:
    """Sessions of one node by token key; expired ones go on the next lookup or ``prune``."""

    def __init__(self) -> None:
        self._sessions: dict[str, TokenSession] = {}

    def put(self, key: str, session: TokenSession) -> None:
        self._sessions[key] = session

    def get(self, key: str, now: float) -> TokenSession | None:
        session = self._sessions.get(key)
        if session is None:
            return None
        if not session.valid_at(now):
            if now >= session.expires_at:
                del self._sessions[key]
            return None
        return session

    def delete(self, key: str) -> None:
        self._sessions.pop(key, None)

    def prune(self, now: float) -> int:
        gone = [k for k, s in self._sessions.items() if now >= s.expires_at]
        for key in gone:
            del self._sessions[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)
