"""Desktop and wallboard authentication, pure: password hashes, tokens, roles, rate limits.

No I/O here: salts and token bytes come from an injected source and time is a float, so the
web layer (``cti_server.api``) feeds it and the tests run it on a fake clock. Users are stored
by ``cti_server.storage.users``; tokens live in :class:`MemoryTokenStore` on one node, or in
Redis (``cti_server.api.tokens``) when nodes share them.
"""

from cti_server.auth.passwords import (
    PasswordHashError,
    ScryptCost,
    check_hash_format,
    hash_password,
    needs_rehash,
    parse_hash,
    password_problem,
    verify_password,
)
from cti_server.auth.principal import ROLES, Principal, Role
from cti_server.auth.ratelimit import LoginRateLimiter, RateLimitSettings
from cti_server.auth.tokens import (
    DEFAULT_TTL,
    IssuedToken,
    MemoryTokenStore,
    TokenIssuer,
    TokenSession,
    iso_utc,
    plausible,
    token_key,
)
from cti_server.auth.users import LANGUAGES, User, UserError, check_user

__all__ = [
    "DEFAULT_TTL",
    "LANGUAGES",
    "ROLES",
    "IssuedToken",
    "LoginRateLimiter",
    "MemoryTokenStore",
    "PasswordHashError",
    "Principal",
    "RateLimitSettings",
    "Role",
    "ScryptCost",
    "TokenIssuer",
    "TokenSession",
    "User",
    "UserError",
    "check_hash_format",
    "check_user",
    "hash_password",
    "iso_utc",
    "needs_rehash",
    "parse_hash",
    "password_problem",
    "plausible",
    "token_key",
    "verify_password",
]
