"""Scanner defence in front of the SIP stack: a per-source rate limit, scanner User-Agents,
and silence towards a source locked out for guessing passwords.

Theory of operation: sipvicious and its copies (``svmap`` OPTIONS sweeps, ``svwar``
extension walks, ``svcrack`` password guessing) send hundreds of requests a second from one
address and learn from every answer. Three screens run before the transaction layer, so a
dropped request costs no transaction, no response and no retransmission:

1. ``screen_datagram``, before parsing: a token bucket per source address (``rate`` requests
   a second, bursts of ``burst``). Over the limit the datagram is dropped unanswered: an
   answer, even an error, would tell the scanner it found a SIP server and how fast it may go.
   ACKs and responses are not counted (they follow our own transactions; dropping an ACK would
   make us retransmit a final response, an amplifier) and trunks and ``exempt`` networks (an
   SBC or load balancer in front, which speaks for many phones) are never limited.
2. ``screen_request``, after parsing: requests whose ``User-Agent`` contains a known scanner
   signature are counted, and dropped when ``drop_scanner_agents`` is set. A scanner can
   change its User-Agent (sipvicious' compact mode sends none), so this is a cheap first
   filter, not the defence: answers that do not depend on whether a user exists and the
   lock-out are.
3. Also in ``screen_request``: a source locked out by ``AuthGuard`` gets a few 403s (a real
   phone shows why) and then nothing for the rest of the cool-down. ``svcrack`` keeps sending
   for as long as anything answers; silence makes it give up. Trunks and ``exempt``
   networks pass screens 2 and 3 as well.

Memory is bounded: buckets live in last-touched order, a bucket that has refilled is
forgotten (it is the same as a new one), and past ``max_sources`` the oldest is dropped.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_via, split_list
from cti_server.sip.message import SipRequest

if TYPE_CHECKING:
    from cti_server.config import SipConfig

# Lower-case substrings of User-Agents that only attack tools send (fail2ban's and
# Kamailio's usual lists); a configuration can replace them.
SCANNER_AGENTS: tuple[str, ...] = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sundayddr",
    "iwar",
    "sivus",
    "vaxsipuseragent",
    "pplsip",
    "smap",
)

RATE_LIMITED = "rate_limited"
SCANNER_AGENT = "scanner_user_agent"
LOCKED_SOURCE = "locked_source"
_EXEMPT_CACHE = 10_000


@dataclass(frozen=True, slots=True)
class ScanSettings:
    rate: float = 20.0  # requests per second per source; 0 turns the limit off
    burst: int = 100
    max_sources: int = 100_000
    exempt: tuple[str, ...] = ()  # networks never limited (besides trunks)
    proxies: tuple[str, ...] = ()  # SIP proxies in front (Kamailio): exempt, see client_ip
    scanner_agents: tuple[str, ...] = SCANNER_AGENTS
    drop_scanner_agents: bool = True

    @classmethod
    def from_config(cls, sip: SipConfig) -> ScanSettings:
        return cls(
            rate=sip.scan_rate,
            burst=sip.scan_burst,
            max_sources=sip.scan_max_sources,
            exempt=tuple(sip.scan_exempt),
            proxies=tuple(sip.proxies),
            scanner_agents=tuple(a.lower() for a in sip.scanner_agents),
            drop_scanner_agents=sip.drop_scanner_agents,
        )


class SourceLimiter:
    """A token bucket per key with bounded memory, on injected time."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("SourceLimiter needs rate > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        # key -> [tokens, last refill, over the limit since the last admission (0/1)]
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()
        self.denied = 0
        self.episodes = 0  # times a key went from admitted to denied

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [self.burst - 1.0, now, 0.0]
            self._prune(now)
            return True
        self._buckets.move_to_end(key)
        elapsed = now - bucket[1]
        if elapsed > 0:  # a clock that steps back refills nothing
            bucket[0] = min(self.burst, bucket[0] + elapsed * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            bucket[2] = 0.0
            return True
        self.denied += 1
        if not bucket[2]:
            bucket[2] = 1.0
            self.episodes += 1
        return False

    def tracked(self) -> int:
        return len(self._buckets)

    def _prune(self, now: float) -> None:
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        # Oldest-touched first; stop at the first bucket still refilling, which keeps this
        # amortised O(1) (every later bucket was touched after it).
        while self._buckets:
            tokens, last, _ = next(iter(self._buckets.values()))
            if tokens + (now - last) * self.rate < self.burst:
                break
            self._buckets.popitem(last=False)


class ScanGuard:
    """The three screens; each returns the drop reason, or None to go on."""

    def __init__(
        self,
        settings: ScanSettings,
        *,
        trusted: Callable[[str], bool] = lambda ip: False,
        locked_silent: Callable[[str, float], bool] = lambda ip, now: False,
    ) -> None:
        self.settings = settings
        self._limiter = (
            SourceLimiter(settings.rate, settings.burst, max_keys=settings.max_sources)
            if settings.rate > 0
            else None
        )
        self._networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.exempt + settings.proxies
        )
        self._proxy_networks = tuple(
            ipaddress.ip_network(n, strict=False) for n in settings.proxies
        )
        self._trusted = trusted
        self._locked_silent = locked_silent
        self._exempt: dict[str, bool] = {}
        self._agents = tuple(a.lower() for a in settings.scanner_agents)
        self.scanner_requests = 0  # requests with a scanner User-Agent, dropped or not

    def screen_datagram(self, data: bytes, source_ip: str, now: float) -> str | None:
        if self._limiter is None or data[:4] == b"ACK " or data[:8] == b"SIP/2.0 ":
            return None
        if self._is_exempt(source_ip) or self._limiter.allow(source_ip, now):
            return None
        return RATE_LIMITED

    def screen_request(self, request: SipRequest, source_ip: str, now: float) -> str | None:
        """Trusted sources pass both screens: a spoofed burst of wrong passwords from a
        trunk's address must not silence the trunk's calls."""
        if request.method == "ACK":
            return None
        if self._agents:
            agent = (request.headers.get("User-Agent") or "").lower()
            if agent and any(sig in agent for sig in self._agents):
                self.scanner_requests += 1
                if self.settings.drop_scanner_agents and not self._is_exempt(source_ip):
                    return SCANNER_AGENT
        if self._locked_silent(source_ip, now) and not self._is_exempt(source_ip):
            return LOCKED_SOURCE
        return None

    # --- figures for Prometheus -------------------------------------------------------------

    def tracked(self) -> int:
        return self._limiter.tracked() if self._limiter else 0

    def limited_episodes(self) -> int:
        """Times a source went over the limit (a scan or a flood starting), not packets."""
        return self._limiter.episodes if self._limiter else 0

    def client_ip(self, request: SipRequest, source_ip: str) -> str:
        """Who a request is from, for the lock-out: the source address, except behind one of
        our own proxies, which sends everyone's requests from its own address. There the
        client is the one in the Via the proxy found on top (its ``received``, or its
        sent-by), so one attacker behind Kamailio locks only itself out, not the proxy."""
        if not self._proxy_networks or not _in(source_ip, self._proxy_networks):
            return source_ip
        vias = [v for value in request.headers.get_all("Via") for v in split_list(value)]
        if len(vias) < 2:
            return source_ip
        try:
            via = parse_via(vias[1])
        except SipParseError:
            return source_ip
        return via.params.get("received") or via.host

    def _is_exempt(self, ip: str) -> bool:
        found = self._exempt.get(ip)
        if found is None:
            found = self._trusted(ip) or self._in_networks(ip)
            if len(self._exempt) < _EXEMPT_CACHE:
                self._exempt[ip] = found
        return found

    def _in_networks(self, ip: str) -> bool:
        return bool(self._networks) and _in(ip, self._networks)


def _in(ip: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in net for net in networks)


__all__ = [
    "LOCKED_SOURCE",
    "RATE_LIMITED",
    "SCANNER_AGENT",
    "SCANNER_AGENTS",
    "ScanGuard",
    "ScanSettings",
    "SourceLimiter",
]
