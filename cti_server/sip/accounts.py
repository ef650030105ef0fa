"""Who may use the server: SIP accounts (digest HA1 only) and trunks (by source network).

Passwords never live here: the config loader and the account store hash them into HA1s
(RFC 7616 §3.4.2) for MD5 and SHA-256 once, and only the hashes reach the endpoint.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    ha1_md5: str | None
    ha1_sha256: str | None
    display_name: str | None = None
    algorithms: tuple[str, ...] | None = None  # challenge only with these (old phones)
    trunk: str | None = None  # the trunk these credentials belong to (a gateway, not an agent)

    def ha1(self, algorithm: str) -> str | None:
        algo = algorithm.upper().removesuffix("-SESS")
        return self.ha1_sha256 if algo == "SHA-256" else self.ha1_md5 if algo == "MD5" else None


class AccountBook:
    def __init__(self, accounts: list[Account] | None = None) -> None:
        self._accounts = {a.user: a for a in accounts or []}

    def get(self, user: str) -> Account | None:
        return self._accounts.get(user)

    def put(self, account: Account) -> None:
        self._accounts[account.user] = account

    def users(self) -> list[str]:
        return sorted(self._accounts)


@dataclass(frozen=True, slots=True)
class Trunk:
    name: str
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


class TrunkTable:
    def __init__(self, trunks: list[Trunk]) -> None:
        self._trunks = trunks
        self._cache: dict[str, str | None] = {}

    def match(self, source_ip: str) -> str | None:
        """The trunk a packet from ``source_ip`` belongs to (by allow-list), if any."""
        if source_ip in self._cache:
            return self._cache[source_ip]
        try:
            ip = ipaddress.ip_address(source_ip)
        except ValueError:
            return None
        found = next((t.name for t in self._trunks if any(ip in n for n in t.networks)), None)
        if len(self._cache) < 10_000:
            self._cache[source_ip] = found
        return found
