"""``POST /auth/login``, ``POST /auth/logout``, ``GET /me``: sessions for the desktop.

A login checks the rate limit first (429 with Retry-After: a blocked name gets no password
check at all), then the password in the thread pool (scrypt takes ~45 ms and must not hold
the reactor), then issues a token. Wrong name and wrong password answer the same 401, at the
same cost, so the answer does not tell which names exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred

from cti_server.api.models import LoginIn, LoginOut, UserOut
from cti_server.api.router import ApiError, ApiRequest, Reply, Route
from cti_server.api.tokens import TokenService
from cti_server.auth import LoginRateLimiter, Role, User, iso_utc

Blocking = Callable[..., Deferred[Any]]  # deferToThreadPool bound to the reactor's pool


class UserStore(Protocol):
    """What the API needs of the users repository (sync: it runs in the thread pool)."""

    def authenticate(self, username: str, password: str) -> User | None: ...

    def get(self, username: str) -> User | None: ...


class Logins:
    def __init__(
        self,
        users: UserStore,
        tokens: TokenService,
        limiter: LoginRateLimiter,
        clock: Callable[[], float],
        blocking: Blocking,
    ) -> None:
        self.users = users
        self.tokens = tokens
        self.limiter = limiter
        self._clock = clock
        self._blocking = blocking

    async def login(self, req: ApiRequest) -> dict[str, Any]:
        body: LoginIn = req.body
        began = self._clock()
        wait = self.limiter.begin(body.username, req.client, began)
        if wait is not None:
            raise ApiError(
                429,
                "too_many_attempts",
                f"too many failed logins: try again in {wait} s / {wait}초 후 다시 시도하세요",
                {"Retry-After": str(wait)},
            )
        user: User | None = await self._blocking(
            self.users.authenticate, body.username, body.password
        )
        if user is None:
            raise ApiError(
                401,
                "unauthorized",
                "wrong user name or password / 아이디 또는 비밀번호가 틀립니다",
            )
        self.limiter.succeeded(body.username, req.client, began)
        issued = await self.tokens.issue(user.principal)
        return {
            "token": issued.token,
            "expires_at": iso_utc(issued.session.expires_at),
            "user": user.to_json(),
        }

    async def logout(self, req: ApiRequest) -> Reply:
        if req.token is not None:
            await self.tokens.revoke(req.token)
        return Reply(status=204)

    async def me(self, req: ApiRequest) -> dict[str, Any]:
        principal = req.user
        user: User | None = await self._blocking(self.users.get, principal.username)
        if user is None or user.disabled:
            raise ApiError(401, "unauthorized", "this user no longer exists or is disabled")
        return user.to_json()

    def routes(self) -> list[Route]:
        tags = ("auth",)
        return [
            Route("POST", "/auth/login", self.login, "Log in: a bearer token for the desktop",
                  tags, role=None, body=LoginIn, response=LoginOut, errors=(401, 429, 503)),
            Route("POST", "/auth/logout", self.logout, "Log out: the token stops working",
                  tags, role=Role.AGENT, status=204),
            Route("GET", "/me", self.me, "The logged-in user", tags, response=UserOut),
        ]  # fmt: skip
