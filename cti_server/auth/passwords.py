"""Desktop login passwords: scrypt (RFC 7914) with a per-user salt, in a self-describing string.

The stored form is ``scrypt$n$r$p$salt$hash`` (standard base64), the same shape as the IVR's
PIN hashes, so the cost can be raised later without invalidating old hashes: verification
reads the cost from the string. Comparison is constant-time (``hmac.compare_digest``), and a
malformed string never matches (``parse_hash`` says why, for ``check_hash_format``).

The salt comes from the caller (``secrets.token_bytes`` at the edge), so this module is pure.
One hash at the default cost takes ~40-50 ms and 16 MiB: the server runs it in a thread pool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

SCHEME = "scrypt"
SALT_BYTES = 16
HASH_BYTES = 32
PASSWORD_MIN, PASSWORD_MAX = 8, 256
# Bounds on costs read back from a stored string, so a corrupted row cannot ask for gigabytes.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


class PasswordHashError(ValueError):
    """A stored password hash that is not ``scrypt$n$r$p$salt$hash`` within bounds."""


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """n=2**14, r=8, p=1: ~45 ms and 16 MiB per hash; tests use a cheaper n."""

    n: int = 2**14
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        _check_cost(self.n, self.r, self.p)


def _check_cost(n: int, r: int, p: int) -> None:
    if not (n > 1 and n & (n - 1) == 0 and n <= _MAX_N):
        raise PasswordHashError(f"scrypt n must be a power of two up to {_MAX_N}, not {n}")
    if not (1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise PasswordHashError(f"scrypt r must be 1..{_MAX_R} and p 1..{_MAX_P}")


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be set (bilingual, for the CLI), or None when it can."""
    if len(password) < PASSWORD_MIN:
        return f"비밀번호는 {PASSWORD_MIN}자 이상 / the password needs {PASSWORD_MIN}+ characters"
    if len(password) > PASSWORD_MAX:
        return f"비밀번호가 너무 깁니다 / the password is longer than {PASSWORD_MAX} characters"
    return None


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    # OpenSSL refuses above maxmem (32 MiB by default): allow what the parameters need.
    maxmem = min(128 * cost.r * (cost.n + cost.p + 2) + (1 << 20), 2**31 - 1)
    return hashlib.scrypt(
        password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=maxmem, dklen=HASH_BYTES
    )


def hash_password(password: str, salt: bytes, cost: ScryptCost | None = None) -> str:
    """The stored form of ``password``; ``salt``: fresh random bytes (16 or more) per hash."""
    if len(salt) < SALT_BYTES:
        raise ValueError(f"salt must be at least {SALT_BYTES} bytes")
    cost = cost or ScryptCost()
    digest = _scrypt(password, salt, cost)
    salt_b64 = base64.b64encode(salt).decode()
    hash_b64 = base64.b64encode(digest).decode()
    return f"{SCHEME}${cost.n}${cost.r}${cost.p}${salt_b64}${hash_b64}"


@dataclass(frozen=True, slots=True)
class ParsedHash:
    cost: ScryptCost
    salt: bytes
    digest: bytes


def parse_hash(stored: str) -> ParsedHash:
    """The parts of a stored hash; raises :class:`PasswordHashError` naming what is wrong."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise PasswordHashError("expected scrypt$n$r$p$salt$hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise PasswordHashError(f"unreadable number or base64: {exc}") from None
    cost = ScryptCost(n, r, p)  # checks the bounds
    if len(salt) < SALT_BYTES or len(digest) != HASH_BYTES:
        raise PasswordHashError(f"salt must be {SALT_BYTES}+ bytes and hash {HASH_BYTES} bytes")
    return ParsedHash(cost, salt, digest)


def check_hash_format(stored: str) -> bool:
    try:
        parse_hash(stored)
    except PasswordHashError:
        return False
    return True


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed stored string never matches."""
    try:
        parsed = parse_hash(stored)
    except PasswordHashError:
        return False
    candidate = _scrypt(password, parsed.salt, parsed.cost)
    return hmac.compare_digest(candidate, parsed.digest)


def needs_rehash(stored: str, cost: ScryptCost) -> bool:
    """True when ``stored`` is not at ``cost`` (or unreadable): re-hash after a good login."""
    try:
        return parse_hash(stored).cost != cost
    except PasswordHashError:
        return True
