"""Desktop users in SQL: add, list, change passwords, disable, and check a login.

Synchronous on purpose, like :mod:`cti_server.storage.customers`: a login is ~45 ms of scrypt,
so the web layer runs :meth:`UserRepo.authenticate` in Twisted's thread pool and the reactor
never waits for the hash or the database. Each method is one short session on the sync
engine. An unknown or disabled user still costs one hash, so the delay does not tell which
names exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cti_server.auth import (
    Role,
    ScryptCost,
    User,
    UserError,
    check_user,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from cti_server.auth.passwords import SALT_BYTES
from cti_server.storage.db import Database
from cti_server.storage.tables_users import UserRow

DEMO_USERS = (  # the contract's demo users: (username, password, role, agent_id, display name)
    ("1001", "1001pass", Role.AGENT, "1001", "김상담"),
    ("1002", "1002pass", Role.AGENT, "1002", "이상담"),
    ("super", "superpass", Role.SUPERVISOR, None, "박감독"),
    ("admin", "adminpass", Role.ADMIN, None, "관리자"),
)


class DuplicateUser(UserError):
    pass


class UnknownUser(UserError, LookupError):
    pass


class UserRepo:
    def __init__(
        self,
        database: Database,
        *,
        cost: ScryptCost | None = None,
        token_bytes: Callable[[int], bytes] = secrets.token_bytes,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.cost = cost or ScryptCost()
        self._token_bytes = token_bytes
        self._now = now
        self._dummy = hash_password("not a password", bytes(SALT_BYTES), self.cost)

    def _session(self) -> Session:
        return Session(self.database.sync_engine, expire_on_commit=False)

    def hash(self, password: str) -> str:
        problem = password_problem(password)
        if problem is not None:
            raise UserError(problem)
        return hash_password(password, self._token_bytes(SALT_BYTES), self.cost)

    def add(
        self,
        username: str,
        password: str,
        *,
        role: str,
        agent_id: str | None = None,
        display_name: str = "",
        language: str = "ko",
    ) -> User:
        """Store a new user; :class:`DuplicateUser` when the name is taken."""
        checked = check_user(username, role, agent_id, language, display_name)
        row = UserRow(
            username=username,
            password_hash=self.hash(password),
            role=checked.value,
            agent_id=agent_id,
            display_name=display_name,
            language=language,
            created_at=self._now(),
            disabled=False,
        )
        try:
            with self._session() as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise DuplicateUser(f"user {username!r} exists already") from None
        return _user(row)

    def get(self, username: str) -> User | None:
        with self._session() as session:
            row = session.get(UserRow, username)
            return None if row is None else _user(row)

    def list(self) -> list[User]:
        with self._session() as session:
            return [_user(r) for r in session.scalars(select(UserRow).order_by(UserRow.username))]

    def set_password(self, username: str, password: str) -> None:
        self._update(username, password_hash=self.hash(password))

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        self._update(username, disabled=disabled)

    def _update(self, username: str, **values: object) -> None:
        with self._session() as session, session.begin():
            done = session.execute(
                update(UserRow).where(UserRow.username == username).values(**values)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                raise UnknownUser(f"no user {username!r}")

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when ``password`` is theirs and they are enabled, else None (same cost).
        A hash made at an older cost is replaced after a good login."""
        with self._session() as session:
            row = session.get(UserRow, username)
            stored = row.password_hash if row is not None else self._dummy
        good = verify_password(password, stored)
        if row is None or row.disabled or not good:
            return None
        if needs_rehash(stored, self.cost) and password_problem(password) is None:
            self._update(username, password_hash=self.hash(password))
        return _user(row)


def _user(row: UserRow) -> User:
    return User(
        username=row.username,
        role=Role(row.role),
        agent_id=row.agent_id,
        display_name=row.display_name,
        language=row.language,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def seed_demo_users(repo: UserRepo) -> list[str]:
    """Add the contract's demo users that do not exist yet; returns the names added."""
    added = []
    for username, password, role, agent_id, name in DEMO_USERS:
        if repo.get(username) is not None:
            continue
        try:
            repo.add(username, password, role=role, agent_id=agent_id, display_name=name)
        except DuplicateUser:  # added meanwhile by someone else: fine
            continue
        added.append(username)
    return added
