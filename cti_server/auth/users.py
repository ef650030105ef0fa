"""Desktop users: who may log in to the agent desktop and the wallboard, and as what.

A user has a role and, for agents, the ACD agent id they work as (``1001``). Names are what
people type at the login form: ASCII letters, digits and ``_.-@``, case kept as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cti_server.auth.principal import ROLES, Principal, Role

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-+]{1,64}$")  # as SIP users / ACD agent ids
LANGUAGES = ("ko", "en")


class UserError(ValueError):
    """A user that cannot be stored as given (bad name, role, language or agent id)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    username: str
    role: Role
    agent_id: str | None = None
    display_name: str = ""
    language: str = "ko"
    disabled: bool = False
    created_at: datetime | None = None

    @property
    def principal(self) -> Principal:
        return Principal(self.username, self.role, self.agent_id)

    def to_json(self) -> dict[str, Any]:
        """The ``user`` object of the API contract."""
        return {
            "username": self.username,
            "display_name": self.display_name or self.username,
            "role": self.role.value,
            "agent_id": self.agent_id,
            "language": self.language,
        }


def check_user(
    username: str, role: str, agent_id: str | None, language: str, display_name: str = ""
) -> Role:
    """Raise :class:`UserError` naming the first bad field; return the role."""
    if not USERNAME_PATTERN.match(username):
        raise UserError(f"username {username!r}: 1-64 of A-Z a-z 0-9 _ . @ -")
    if role not in ROLES:
        raise UserError(f"role {role!r}: one of {', '.join(ROLES)}")
    if agent_id is not None and not AGENT_ID_PATTERN.match(agent_id):
        raise UserError(f"agent_id {agent_id!r}: 1-64 of A-Z a-z 0-9 _ . - +")
    if role == Role.AGENT and agent_id is None:
        raise UserError(f"user {username!r}: an agent user needs an agent_id (e.g. 1001)")
    if language not in LANGUAGES:
        raise UserError(f"language {language!r}: one of {', '.join(LANGUAGES)}")
    if len(display_name) > 100:
        raise UserError("display_name: at most 100 characters")
    return Role(role)
