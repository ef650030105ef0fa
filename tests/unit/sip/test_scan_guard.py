"""Scanner defence on a float clock: the per-source token bucket, scanner User-Agents, the
silence towards locked-out sources, and the endpoint dropping before any transaction."""

from __future__ import annotations

import random

import pytest

from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import SipConfig, parse_config
from cti_server.ids import IdFactory
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.message import SipRequest
from cti_server.sip.parser import parse_message
from cti_server.sip.scan_guard import (
    LOCKED_SOURCE,
    RATE_LIMITED,
    SCANNER_AGENT,
    SCANNER_AGENTS,
    ScanGuard,
    ScanSettings,
    SourceLimiter,
)


def options(agent: str | None = None, method: str = "OPTIONS", n: int = 1) -> bytes:
    ua = f"User-Agent: {agent}\r\n" if agent else ""
    return (
        f"{method} sip:100@10.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-{n};rport\r\n"
        f"From: <sip:100@10.0.0.1>;tag=a{n}\r\nTo: <sip:100@10.0.0.1>\r\n"
        f"Call-ID: scan-{n}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{ua}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def parsed(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


# --- the token bucket -----------------------------------------------------------------------


def test_a_burst_passes_then_the_sustained_rate() -> None:
    limiter = SourceLimiter(rate=10.0, burst=5)
    assert all(limiter.allow("a", 0.0) for _ in range(5))
    assert not limiter.allow("a", 0.0)
    assert not limiter.allow("a", 0.05)  # half a token
    assert limiter.allow("a", 0.1)
    assert not limiter.allow("a", 0.1)
    # 10 per second after that, whatever is tried in between.
    admitted = sum(limiter.allow("a", 0.1 + i * 0.001) for i in range(1, 1001))
    assert admitted == 10
    assert limiter.denied == 2 + 1 + 990


def test_sources_have_their_own_buckets() -> None:
    limiter = SourceLimiter(rate=1.0, burst=2)
    assert limiter.allow("a", 0.0) and limiter.allow("a", 0.0)
    assert not limiter.allow("a", 0.0)
    assert limiter.allow("b", 0.0)


def test_an_episode_is_counted_once_per_run_over_the_limit() -> None:
    limiter = SourceLimiter(rate=1.0, burst=1)
    limiter.allow("a", 0.0)
    for _ in range(50):
        limiter.allow("a", 0.0)
    assert limiter.episodes == 1
    assert limiter.allow("a", 1.0)  # admitted again: the next denial is a new episode
    assert not limiter.allow("a", 1.0)
    assert limiter.episodes == 2


def test_a_clock_stepping_back_refills_nothing() -> None:
    limiter = SourceLimiter(rate=100.0, burst=1)
    assert limiter.allow("a", 10.0)
    assert not limiter.allow("a", 5.0)
    assert not limiter.allow("a", 10.0)
    assert limiter.allow("a", 10.02)


def test_refilled_buckets_are_forgotten_and_memory_is_bounded() -> None:
    limiter = SourceLimiter(rate=10.0, burst=5, max_keys=100)
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert limiter.tracked() == 100
    limiter.allow("fresh", 1.0)  # all others refilled by now: the same as unknown
    assert limiter.tracked() == 1


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SourceLimiter(rate=0.0, burst=1)
    with pytest.raises(ValueError):
        SourceLimiter(rate=1.0, burst=0)


# --- the screens ----------------------------------------------------------------------------


def test_over_the_rate_datagrams_are_dropped_but_acks_and_responses_pass() -> None:
    guard = ScanGuard(ScanSettings(rate=1.0, burst=2))
    assert guard.screen_datagram(options(), "203.0.113.9", 0.0) is None
    assert guard.screen_datagram(options(), "203.0.113.9", 0.0) is None
    assert guard.screen_datagram(options(), "203.0.113.9", 0.0) == RATE_LIMITED
    assert guard.screen_datagram(b"ACK sip:x SIP/2.0\r\n", "203.0.113.9", 0.0) is None
    assert guard.screen_datagram(b"SIP/2.0 200 OK\r\n", "203.0.113.9", 0.0) is None
    assert guard.limited_episodes() == 1
    assert guard.tracked() == 1


def test_trunks_and_exempt_networks_are_never_limited() -> None:
    guard = ScanGuard(
        ScanSettings(rate=1.0, burst=1, exempt=("198.51.100.0/24",)),
        trusted=lambda ip: ip == "192.0.2.10",
    )
    for ip in ("192.0.2.10", "198.51.100.7"):
        assert all(guard.screen_datagram(options(), ip, 0.0) is None for _ in range(100))
    assert guard.screen_datagram(options(), "203.0.113.9", 0.0) is None
    assert guard.screen_datagram(options(), "203.0.113.9", 0.0) == RATE_LIMITED


def test_behind_our_proxy_the_client_is_the_next_via_and_the_proxy_is_not_limited() -> None:
    guard = ScanGuard(ScanSettings(rate=1.0, burst=1, proxies=("10.0.0.5/32",)))
    via_proxy = options().replace(
        b"Via: SIP/2.0/UDP 203.0.113.9",
        b"Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK-k1\r\nVia: SIP/2.0/UDP 203.0.113.9",
    )
    assert all(guard.screen_datagram(via_proxy, "10.0.0.5", 0.0) is None for _ in range(50))
    assert guard.client_ip(parsed(via_proxy), "10.0.0.5") == "203.0.113.9"
    natted = via_proxy.replace(b";rport\r\n", b";rport;received=198.51.100.20\r\n")
    assert guard.client_ip(parsed(natted), "10.0.0.5") == "198.51.100.20"
    # not a proxy of ours: a Via chain proves nothing, the source address counts
    assert guard.client_ip(parsed(via_proxy), "203.0.113.77") == "203.0.113.77"
    assert guard.client_ip(parsed(options()), "10.0.0.5") == "10.0.0.5"  # no second Via


def test_rate_zero_turns_the_limit_off() -> None:
    guard = ScanGuard(ScanSettings(rate=0.0))
    assert all(guard.screen_datagram(options(), "203.0.113.9", 0.0) is None for _ in range(500))
    assert guard.tracked() == 0


@pytest.mark.parametrize("agent", ["friendly-scanner", "sipvicious 0.3.8", "SIPCLI/v1.8"])
def test_scanner_user_agents_are_dropped_and_counted(agent: str) -> None:
    guard = ScanGuard(ScanSettings())
    assert guard.screen_request(parsed(options(agent)), "203.0.113.9", 0.0) == SCANNER_AGENT
    assert guard.screen_request(parsed(options("Linphone/5.2")), "203.0.113.9", 0.0) is None
    assert guard.screen_request(parsed(options(None)), "203.0.113.9", 0.0) is None
    assert guard.scanner_requests == 1


def test_scanner_user_agents_can_be_only_counted_or_not_looked_at() -> None:
    counting = ScanGuard(ScanSettings(drop_scanner_agents=False))
    assert counting.screen_request(parsed(options("friendly-scanner")), "203.0.113.9", 0.0) is None
    assert counting.scanner_requests == 1
    blind = ScanGuard(ScanSettings(scanner_agents=()))
    assert blind.screen_request(parsed(options("friendly-scanner")), "203.0.113.9", 0.0) is None
    assert blind.scanner_requests == 0


def test_the_config_default_list_is_the_module_list() -> None:
    assert tuple(SipConfig().scanner_agents) == SCANNER_AGENTS
    assert ScanSettings.from_config(SipConfig()) == ScanSettings()


def test_a_locked_source_gets_its_answers_then_silence() -> None:
    auth = AuthGuard(max_failures=2, window=60.0, cooldown=100.0, locked_answers=2)
    guard = ScanGuard(ScanSettings(), locked_silent=auth.silent)
    request = parsed(options())
    assert guard.screen_request(request, "203.0.113.9", 0.0) is None
    auth.record_failure("203.0.113.9", "1001", 0.0)
    auth.record_failure("203.0.113.9", "1001", 1.0)
    assert auth.lockouts == 2  # the source and the user
    assert guard.screen_request(request, "203.0.113.9", 2.0) is None  # 403 number 1
    assert guard.screen_request(request, "203.0.113.9", 3.0) is None  # 403 number 2
    assert guard.screen_request(request, "203.0.113.9", 4.0) == LOCKED_SOURCE
    assert guard.screen_request(parsed(options(method="ACK")), "203.0.113.9", 4.0) is None
    assert guard.screen_request(request, "192.0.2.1", 4.0) is None  # only that source
    assert guard.screen_request(request, "203.0.113.9", 101.0) is None  # cool-down over


def test_a_trunk_is_never_silenced_nor_dropped_for_its_user_agent() -> None:
    auth = AuthGuard(max_failures=1, window=60.0, cooldown=100.0, locked_answers=0)
    guard = ScanGuard(
        ScanSettings(), trusted=lambda ip: ip == "192.0.2.10", locked_silent=auth.silent
    )
    auth.record_failure("192.0.2.10", "1001", 0.0)  # e.g. spoofed REGISTERs in its name
    assert guard.screen_request(parsed(options("sipcli-gateway")), "192.0.2.10", 1.0) is None
    assert guard.scanner_requests == 1  # still counted


def test_locked_answers_zero_is_silent_at_once() -> None:
    auth = AuthGuard(max_failures=1, window=60.0, cooldown=100.0, locked_answers=0)
    auth.record_failure("203.0.113.9", None, 0.0)
    assert auth.silent("203.0.113.9", 0.5)
    with pytest.raises(ValueError):
        AuthGuard(locked_answers=-1)


# --- hooked into the endpoint ----------------------------------------------------------------

CONFIG = """
sip: {listen: 10.0.0.1, port: 5060, realm: cti.local}
media: {mode: passthrough}
accounts:
  - {user: "1001", password: "secret1"}
trunks:
  - {name: gw, allow_from: [192.0.2.0/24]}
routes:
  - {match: '1\\d{3}', target: 'extension:\\g<0>'}
"""
BURST = ScanSettings().burst


@pytest.fixture
def switch() -> CallSwitch:
    config = parse_config(CONFIG, "<test>")
    return build_switch(
        config, IdFactory(random.Random(7), host="10.0.0.1"), b"k" * 32, random.Random(8)
    )


def test_a_flood_is_answered_up_to_the_burst_and_costs_no_transactions(
    switch: CallSwitch,
) -> None:
    endpoint = switch.endpoint
    for n in range(3 * BURST):
        endpoint.receive_datagram(options(n=n), ("203.0.113.9", 5060), 0.0)
    answers = endpoint.datagrams_to_send()
    assert len(answers) == BURST
    assert all(data.startswith(b"SIP/2.0 200 ") for data, _ in answers)
    assert endpoint.dropped[RATE_LIMITED] == 2 * BURST
    assert endpoint.received["OPTIONS"] == BURST
    assert endpoint.scan.limited_episodes() == 1
    # Another source is not affected, and neither is the trunk.
    endpoint.receive_datagram(options(n=10_000), ("203.0.113.10", 5060), 0.0)
    for n in range(3 * BURST):
        endpoint.receive_datagram(options(n=20_000 + n), ("192.0.2.10", 5060), 0.0)
    assert len(endpoint.datagrams_to_send()) == 1 + 3 * BURST


def test_scanner_agent_is_dropped_before_any_transaction(switch: CallSwitch) -> None:
    endpoint = switch.endpoint
    endpoint.receive_datagram(options("friendly-scanner"), ("203.0.113.9", 5060), 0.0)
    assert endpoint.datagrams_to_send() == []
    assert endpoint.dropped[SCANNER_AGENT] == 1
    assert endpoint.scan.scanner_requests == 1
    assert sum(endpoint.transaction_stats().values()) == 0


def test_the_config_figures_reach_the_endpoint() -> None:
    config = parse_config(
        CONFIG.replace("realm: cti.local}", "realm: cti.local, scan_burst: 10, scan_rate: 5}"),
        "<test>",
    )
    endpoint = build_switch(
        config, IdFactory(random.Random(7), host="10.0.0.1"), b"k" * 32, random.Random(8)
    ).endpoint
    for n in range(50):
        endpoint.receive_datagram(options(n=n), ("203.0.113.9", 5060), 0.0)
    assert len(endpoint.datagrams_to_send()) == 10
