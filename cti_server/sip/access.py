"""Who may register and place calls: digest authentication and the failed-attempt lock-out.

A missing, stale or unknown-nonce credential is answered with a fresh challenge (no
penalty); a wrong response counts towards the per-source and per-user lock-out
(``AuthGuard``), after which the answer is 403 for the cool-down. Unknown users are
treated exactly like wrong passwords (same status, same challenge list), so extensions
cannot be enumerated by comparing answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cti_server.events import AuthenticationFailed, Event
from cti_server.sip.accounts import AccountBook
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.digest import (
    DigestCredentials,
    NonceFactory,
    authenticate,
    challenges,
    parse_authorization,
)
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_name_addr
from cti_server.sip.message import SipRequest

LOCKED_REASON = "Too many failed authentications"


@dataclass(slots=True)
class AccessVerdict:
    user: str | None  # the authenticated account, or None: answer with ``status``
    status: int = 0
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    trunk: str | None = None  # set when the account is a gateway's trunk credential


class AccessControl:
    def __init__(
        self,
        *,
        accounts: AccountBook,
        guard: AuthGuard,
        nonces: NonceFactory,
        realm: str,
        algorithms: tuple[str, ...],
    ) -> None:
        self.accounts = accounts
        self._guard = guard
        self._nonces = nonces
        self._realm = realm
        self._algorithms = algorithms
        self.failures = 0

    def check(
        self, request: SipRequest, source_ip: str, now: float, nonce_seed: str
    ) -> AccessVerdict:
        creds = _credentials(request)
        if self._guard.is_locked(source_ip, creds.username if creds else None, now):
            return AccessVerdict(None, 403, LOCKED_REASON)
        if creds is None:
            return self._challenge(request, now, nonce_seed, stale=False)
        account = self.accounts.get(creds.username)
        ha1 = account.ha1(creds.algorithm) if account else None
        outcome = "wrong"
        if ha1 is not None:
            outcome = authenticate(
                self._nonces,
                creds,
                request.method,
                ha1,
                now,
                realm=self._realm,
                entity_body=request.body,
            )
        if outcome == "ok" and account is not None:
            self._guard.record_success(source_ip, creds.username, now)
            return AccessVerdict(account.user, trunk=account.trunk)
        if outcome != "wrong":  # stale, unknown or replayed nonce: ask again, no penalty
            return self._challenge(request, now, nonce_seed, stale=outcome == "stale")
        self.failures += 1
        locked = self._guard.record_failure(source_ip, creds.username, now)
        event = AuthenticationFailed(at=now, user=creds.username, source=source_ip, locked=locked)
        if locked:
            return AccessVerdict(None, 403, LOCKED_REASON, events=[event])
        verdict = self._challenge(request, now, nonce_seed, stale=False)
        verdict.events.append(event)
        return verdict

    def _challenge(
        self, request: SipRequest, now: float, seed: str, *, stale: bool
    ) -> AccessVerdict:
        nonce = self._nonces.issue(now, seed)
        offered = {
            c.rsplit("algorithm=", 1)[-1]: c for c in challenges(self._realm, nonce, stale=stale)
        }
        headers = [
            ("WWW-Authenticate", offered[a]) for a in self._algorithms_for(request) if a in offered
        ]
        return AccessVerdict(None, 401, headers=headers)

    def _algorithms_for(self, request: SipRequest) -> tuple[str, ...]:
        """The account's own challenge list (phones that read only the first challenge),
        else the server's; unknown users get the server's list like every other answer."""
        try:
            user = parse_name_addr(request.headers.get("From") or "", "From").uri.user
        except SipParseError:
            user = None
        account = self.accounts.get(user) if user else None
        if account is not None and account.algorithms:
            return account.algorithms
        return self._algorithms


def _credentials(request: SipRequest) -> DigestCredentials | None:
    for value in request.headers.get_all("Authorization"):
        creds = parse_authorization(value)
        if creds is not None:
            return creds
    return None
