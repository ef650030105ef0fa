"""sipvicious and toll-fraud attempts against a real server over loopback sockets.

The server runs ``loadtests/attack_kit.py``'s config (1001-1003, 1001's password seventh in
the guessing dictionary, a carrier trunk, a branch PBX trusted by address); every attacker
talks from its own loopback address through a counting relay. ``loadtests/attacks.py`` runs
the same scenarios at larger sizes and prints the table.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from loadtests import attack_kit as kit
from loadtests import attacks
from tests.e2e.conftest import STARTED, Server, start_server, stop_server

pytestmark = pytest.mark.e2e

REAL = "1001"
MISSING = "4711"


def parallel(*runs: Callable[[], attacks.Row]) -> list[attacks.Row]:
    """Run scenarios at once from their own addresses (each mostly waits for silence)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        return list(pool.map(lambda run: run(), runs, timeout=60))


@pytest.fixture
def carrier(tmp_path: Path) -> int:
    """The port the carrier's SIPp UAS listens on (started by the tests that need it)."""
    return kit.free_port(kit.CARRIER_IP)


@pytest.fixture
def target(tmp_path: Path, carrier: int) -> Iterator[kit.Target]:
    server: Server = start_server(tmp_path, kit.config_text(carrier))
    yield kit.Target(server.port, server.extra["http_port"], server.log_path)
    stop_server(server)
    assert "Traceback" not in server.log(), server.log()


def test_scanners_naming_themselves_hear_nothing_and_are_counted(target: kit.Target) -> None:
    rows = parallel(
        lambda: attacks.svmap(target, "127.0.1.1", compact=False),
        lambda: attacks.svwar_with_agent(target, "127.0.1.2", "1000-1010"),
    )
    for row in rows:
        assert row.sent >= 1 and not row.answers, row
    assert [row.found for row in rows] == ["0 server(s)", "0 of 3"]
    assert target.dropped()["scanner_user_agent"] >= 2
    assert target.metrics()["sip_scanner_requests_total"] >= 2


def test_svwar_finds_no_extension_whatever_the_method(target: kit.Target) -> None:
    methods = ("REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE")
    rows = parallel(
        *(
            functools.partial(attacks.svwar, target, f"127.0.1.{20 + i}", method, "1000-1010")
            for i, method in enumerate(methods)
        )
    )
    for method, row in zip(methods, rows, strict=True):
        assert row.found == "0 of 3", (method, row)
        assert row.answers, row  # answered (compact mode sends no User-Agent), uniformly


def test_real_and_missing_users_get_the_same_answers(target: kit.Target) -> None:
    def shape(user: str, method: str) -> list[int]:
        return kit.exchange("127.0.1.4", target, method, user, agent=user, wait=2.0)

    for method in ("REGISTER", "INVITE", "OPTIONS", "SUBSCRIBE", "MESSAGE"):
        assert shape(REAL, method) == shape(MISSING, method), method
    assert shape(REAL, "INVITE") == [100, 401]
    # A wrong password for either is a 401 and a counted failure; the right one works.
    assert kit.register("127.0.1.4", target, MISSING, kit.PASSWORD) == [401, 401]
    assert kit.register("127.0.1.4", target, REAL, "wrong") == [401, 401]
    assert kit.register("127.0.1.4", target, REAL, kit.PASSWORD) == [401, 200]


def test_svcrack_is_locked_out_for_real_and_missing_users(
    target: kit.Target, tmp_path: Path
) -> None:
    rows = parallel(
        *(
            functools.partial(attacks.svcrack, target, ip, user, tmp_path, kit.DICTIONARY, 25)
            for user, ip in ((REAL, "127.0.1.5"), (MISSING, "127.0.1.6"))
        )
    )
    for row in rows:
        assert row.passwords == "none" and row.lockout == "after 5", row
        # 401s (a challenge per guess, some to its credential-less requests), the locking
        # 403 and its three successors, then silence: svcrack gave up by itself.
        assert row.answers[401] >= 5 and row.answers[403] == 4, row
        assert not row.notes, row  # not stopped by the timeout
    assert target.dropped()["locked_source"] > 0
    assert target.metrics()["sip_auth_lockouts_total"] == 4  # two sources, two users
    # The right password from a clean address: 1001 is locked as a user, so still 403.
    assert kit.register("127.0.1.7", target, REAL, kit.PASSWORD) == [401, 403]


def test_a_flood_is_dropped_per_source_and_a_phone_elsewhere_is_answered(
    target: kit.Target,
) -> None:
    row = attacks.flood(target, "127.0.1.8", "127.0.1.9", 400)
    assert row.held, row
    answered = sum(row.answers.values())
    # The burst (100) and 20/s after it; the rest dropped unanswered and counted.
    assert 100 <= answered < row.sent, row
    assert target.dropped()["rate_limited"] == row.sent - answered, row
    assert target.metrics()["sip_scan_sources_limited_total"] >= 1


def test_unauthenticated_invites_to_external_numbers_never_reach_the_carrier(
    target: kit.Target, carrier: int, tmp_path: Path
) -> None:
    uas = kit.sipp_uas(tmp_path, kit.CARRIER_IP, carrier, timeout=30)
    STARTED.append(uas)
    for number in ("0101234567", "00882123456"):
        assert kit.send_invite("127.0.1.10", target, number) == [100, 401]
    walk = attacks.svwar(target, "127.0.1.11", "INVITE", "1000-1002")
    assert walk.found == "0 of 2" and walk.answers[401], walk
    kit.stop(uas)
    assert kit.invites_received(tmp_path) == 0


def test_a_trunk_peer_cannot_dial_out_through_the_carrier(
    target: kit.Target, carrier: int, tmp_path: Path
) -> None:
    uas = kit.sipp_uas(tmp_path, kit.CARRIER_IP, carrier, timeout=30)
    STARTED.append(uas)
    heard = kit.send_invite(kit.PEER_IP, target, "0101234567", agent="branch", wait=3.0)
    kit.stop(uas)
    assert kit.invites_received(tmp_path) == 0, heard
    assert heard and heard[-1] in (403, 404), heard
