"""Caller authentication rules: PIN hashing, national-ID digests, masking and the lock-out.

Pure functions: the salt comes from the caller (``token_bytes(16)`` at the edge), time is a
float, and nothing here touches a database. The host runs the hashing in a thread pool
because one check costs tens of milliseconds by design.

PIN hashes are scrypt (RFC 7914) in a self-describing string, ``scrypt$n$r$p$salt$hash``
(standard base64), so raising the cost in the config keeps old hashes valid: ``verify_pin``
reads the cost from the string and ``needs_rehash`` says when to replace it after a good login.
A 4-digit PIN has only 10,000 values, so the hash protects a stolen table for a while at best;
the lock-out is what protects the phone line.

Measured on the development machine (AMD EPYC, 2 cores, Python 3.11, OpenSSL scrypt): one check
at the default cost n=2**14, r=8, p=1 takes ~44 ms (median of 60) and 16 MiB, so one core verifies
~23 IVR logins per second; ``hashlib.scrypt`` releases the GIL, so a thread pool scales with cores
(2 threads: ~34 checks/s). ``tests/unit/ivr_flows/test_auth.py::test_default_cost_timing``
logs the figure on other machines.

National IDs (Korean resident registration numbers, or their 6-digit date-of-birth prefix as
the IVR asks for) are never stored: a keyed HMAC-SHA256 finds them, a masked form shows them.
Without the key a digest of a 6-digit birth date cannot be reversed by trying all dates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ivr_flows.settings import LockoutSettings, PinHashSettings

SCHEME = "scrypt"
SALT_BYTES = 16
HASH_BYTES = 32
PIN_MIN, PIN_MAX = 4, 8
MASK = "*"
# Bounds on costs read back from a stored string, so a corrupted row cannot ask for gigabytes.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def valid_pin(pin: str) -> bool:
    """4 to 8 ASCII digits (``str.isdigit`` alone would accept '²' and Arabic-Indic digits)."""
    return PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL refuses above maxmem (32 MiB by default): allow what the parameters need.
    maxmem = min(128 * r * (n + p + 2) + (1 << 20), 2**31 - 1)
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=HASH_BYTES)


def hash_pin(pin: str, settings: PinHashSettings, salt: bytes) -> str:
    """The stored form of ``pin``; ``salt`` is fresh random bytes (16 or more) per hash."""
    if not valid_pin(pin):
        raise ValueError("a PIN is 4 to 8 digits")
    if len(salt) < SALT_BYTES:
        raise ValueError(f"salt must be at least {SALT_BYTES} bytes")
    digest = _scrypt(pin, salt, settings.n, settings.r, settings.p)
    salt_b64 = base64.b64encode(salt).decode()
    hash_b64 = base64.b64encode(digest).decode()
    return f"{SCHEME}${settings.n}${settings.r}${settings.p}${salt_b64}${hash_b64}"


@dataclass(frozen=True, slots=True)
class _Parsed:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _parse(stored: str) -> _Parsed | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    power_of_two = n > 1 and n & (n - 1) == 0
    if not (power_of_two and n <= _MAX_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        return None
    if not salt or not digest:
        return None
    return _Parsed(n, r, p, salt, digest)


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches; a malformed stored string never matches.

    An invalid PIN is still hashed, so a caller typing three digits cannot tell by the delay.
    """
    parsed = _parse(stored)
    if parsed is None:
        return False
    candidate = _scrypt(pin, parsed.salt, parsed.n, parsed.r, parsed.p)
    return hmac.compare_digest(candidate[: len(parsed.digest)], parsed.digest) and valid_pin(pin)


def needs_rehash(stored: str, settings: PinHashSettings) -> bool:
    """True when the stored hash is not at the configured cost (or unreadable)."""
    parsed = _parse(stored)
    if parsed is None:
        return True
    return (parsed.n, parsed.r, parsed.p, len(parsed.digest)) != (
        settings.n,
        settings.r,
        settings.p,
        HASH_BYTES,
    )


def digits(value: str) -> str:
    """Only the ASCII digits of ``value`` (``900101-1234567`` → ``9001011234567``)."""
    return "".join(c for c in value if "0" <= c <= "9")


def national_id_digest(national_id: str, key: bytes) -> str:
    """Keyed HMAC-SHA256 (hex) of the digits: equal for equal numbers, useless without the key."""
    normalized = digits(national_id)
    if not normalized:
        raise ValueError("a national ID needs digits")
    if not key:
        raise ValueError("the national ID key is empty")
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def mask_national_id(value: str) -> str:
    """``900101-*******`` for a full number, ``9001**`` for a 6-digit date of birth.

    A full number keeps its date-of-birth half (agents confirm it with the caller); a bare
    birth date keeps only year and month, since on its own it is the secret the IVR asked for.
    """
    normalized = digits(value)
    if len(normalized) > 6:
        return normalized[:6] + "-" + MASK * (len(normalized) - 6)
    keep = max(len(normalized) - 2, 0)
    return normalized[:keep] + MASK * (len(normalized) - keep)


def mask_number(value: str) -> str:
    """Keep the last 4 digits of a phone number (``*******5678``); shorter ones fully masked."""
    normalized = digits(value)
    if len(normalized) <= 4:
        return MASK * len(normalized)
    return MASK * (len(normalized) - 4) + normalized[-4:]


def normalize_number(value: str) -> str:
    """A phone number as digits in Korean national form: ``+82 10-1234-5678`` → ``01012345678``.

    Caller IDs arrive in either form, so lookups by phone and the merging of callback
    requests compare this form.
    """
    normalized = digits(value)
    if normalized.startswith("0082"):  # international prefix dialled from Korea
        normalized = normalized[2:]
    if normalized.startswith("82") and len(normalized) >= 10:  # no Korean number starts with 8
        rest = normalized[2:]
        return rest if rest.startswith("0") else "0" + rest
    return normalized


# --- lock-out --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LockDecision:
    """Whether the customer is locked at ``now``, until when, and whether this call locked it."""

    locked: bool
    locked_until: float | None
    newly_locked: bool = False
    attempts_left: int = 0


def lock_decision(
    failures_in_window: int,
    settings: LockoutSettings,
    now: float,
    locked_until: float | None,
) -> LockDecision:
    """The lock-out rule.

    ``max_failures`` wrong PINs within ``window_seconds`` lock the customer for
    ``lock_seconds``. A lock ends by time (``now >= locked_until``) or when an agent unlocks
    it; either way the failures before it no longer count (the caller counts them from the
    lock, the unlock or the last good login: ``failures_in_window`` is that count, including
    the attempt just made). A lock in force stays as it is: attempts while locked are not
    checked, so they neither extend it nor count.
    """
    if locked_until is not None and now < locked_until:
        return LockDecision(locked=True, locked_until=locked_until)
    if failures_in_window >= settings.max_failures:
        return LockDecision(
            locked=True, locked_until=now + settings.lock_seconds, newly_locked=True
        )
    return LockDecision(
        locked=False,
        locked_until=None,
        attempts_left=settings.max_failures - failures_in_window,
    )


__all__ = [
    "HASH_BYTES",
    "SALT_BYTES",
    "LockDecision",
    "digits",
    "hash_pin",
    "lock_decision",
    "mask_national_id",
    "mask_number",
    "national_id_digest",
    "needs_rehash",
    "normalize_number",
    "valid_pin",
    "verify_pin",
]
