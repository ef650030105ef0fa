"""PIN hashing, national-ID digests, masking and the lock-out rule (pure, injected clock)."""

from __future__ import annotations

import logging
import time

import pytest

from ivr_flows.auth import (
    HASH_BYTES,
    hash_pin,
    lock_decision,
    mask_national_id,
    mask_number,
    national_id_digest,
    needs_rehash,
    normalize_number,
    valid_pin,
    verify_pin,
)
from ivr_flows.settings import LockoutSettings, PinHashSettings

log = logging.getLogger(__name__)
FAST = PinHashSettings(n=2**10, r=8, p=1)
SALT = bytes(range(16))
OTHER_SALT = bytes(range(16, 32))


def test_hash_is_self_describing_and_verifies() -> None:
    stored = hash_pin("1234", FAST, SALT)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "1024", "8", "1")
    assert salt and digest
    assert "1234" not in stored
    assert verify_pin("1234", stored)
    assert not verify_pin("1235", stored)
    assert not verify_pin("12345", stored)


def test_salt_makes_equal_pins_hash_differently() -> None:
    assert hash_pin("1234", FAST, SALT) != hash_pin("1234", FAST, OTHER_SALT)


@pytest.mark.parametrize("pin", ["1234", "00000000", "98765"])
def test_valid_pins(pin: str) -> None:
    assert valid_pin(pin)


@pytest.mark.parametrize("pin", ["", "123", "123456789", "12a4", "12 34", "²²²²", "١٢٣٤"])
def test_invalid_pins(pin: str) -> None:
    assert not valid_pin(pin)
    with pytest.raises(ValueError, match="4 to 8 digits"):
        hash_pin(pin, FAST, SALT)


def test_short_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt"):
        hash_pin("1234", FAST, b"short")


def test_raising_the_cost_keeps_old_hashes_valid_and_asks_for_a_rehash() -> None:
    old = hash_pin("4321", FAST, SALT)
    stronger = PinHashSettings(n=2**11, r=8, p=1)
    assert verify_pin("4321", old)  # the cost comes from the string, not the settings
    assert needs_rehash(old, stronger)
    assert not needs_rehash(old, FAST)
    assert not needs_rehash(hash_pin("4321", stronger, SALT), stronger)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain1234",
        "bcrypt$1024$8$1$AAAA$AAAA",
        "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # n not a power of two
        "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # 2**30: gigabytes, refused
        "scrypt$1024$8$1$not*base64$AAAA",
        "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==",
    ],
)
def test_malformed_stored_hashes_never_match(stored: str) -> None:
    assert not verify_pin("1234", stored)
    assert needs_rehash(stored, FAST)


def test_default_cost_timing() -> None:
    """One check at the default cost (n=2**14, r=8, p=1): the README's IVR-login rate.

    See the figure with ``-o log_cli=true --log-cli-level=INFO``.
    """
    settings = PinHashSettings()
    stored = hash_pin("1234", settings, SALT)
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        assert verify_pin("1234", stored)
    ms = (time.perf_counter() - started) / rounds * 1000
    log.info("scrypt n=2**14 r=8 p=1: %.1f ms per check, %.1f logins/s per core", ms, 1000 / ms)
    assert len(stored.split("$")[5]) == len("A" * 44)  # 32 bytes of base64
    assert HASH_BYTES == 32
    assert 1 < ms < 1000, f"{ms:.1f} ms per check"


def test_national_id_digest_is_keyed_and_normalised() -> None:
    key, other = b"k" * 32, b"o" * 32
    digest = national_id_digest("900101-1234567", key)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert national_id_digest(" 9001011234567 ", key) == digest
    assert national_id_digest("900101-1234567", other) != digest
    assert national_id_digest("900101", key) != digest
    assert "900101" not in digest
    with pytest.raises(ValueError):
        national_id_digest("--", key)
    with pytest.raises(ValueError):
        national_id_digest("900101", b"")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("900101-1234567", "900101-*******"),
        ("9001011234567", "900101-*******"),
        ("900101", "9001**"),
        ("", ""),
    ],
)
def test_mask_national_id(value: str, masked: str) -> None:
    assert mask_national_id(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("010-1234-5678", "*******5678"),
        ("+82 10 1234 5678", "********5678"),
        ("1001", "****"),
        ("", ""),
    ],
)
def test_mask_number_keeps_the_last_four_digits(value: str, masked: str) -> None:
    assert mask_number(value) == masked


@pytest.mark.parametrize(
    ("value", "normalized"),
    [
        ("010-1234-5678", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("+82-2-123-4567", "021234567"),
        ("00821012345678", "01012345678"),
        ("sip:01012345678", "01012345678"),
        ("1001", "1001"),
    ],
)
def test_normalize_number(value: str, normalized: str) -> None:
    assert normalize_number(value) == normalized


# --- lock-out on an injected clock ----------------------------------------------------------

LOCKOUT = LockoutSettings(max_failures=3, window_seconds=60.0, lock_seconds=300.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def test_failures_below_the_limit_leave_attempts() -> None:
    decision = lock_decision(2, LOCKOUT, 1_000.0, None)
    assert not decision.locked
    assert decision.attempts_left == 1
    assert decision.locked_until is None


def test_the_limit_locks_for_lock_seconds_and_time_unlocks() -> None:
    clock = Clock()
    decision = lock_decision(3, LOCKOUT, clock.now, None)
    assert decision.locked and decision.newly_locked
    assert decision.locked_until == clock.now + 300.0
    until = decision.locked_until

    clock.advance(299.0)
    still = lock_decision(0, LOCKOUT, clock.now, until)
    assert still.locked and not still.newly_locked
    assert still.locked_until == until  # attempts while locked do not extend it

    clock.advance(1.0)
    after = lock_decision(0, LOCKOUT, clock.now, until)
    assert not after.locked
    assert after.attempts_left == 3


def test_a_failure_count_at_the_limit_after_an_expired_lock_locks_again() -> None:
    decision = lock_decision(3, LOCKOUT, 2_000.0, 1_500.0)
    assert decision.newly_locked
    assert decision.locked_until == 2_300.0
