"""Who is asking: a logged-in user's name, role and linked ACD agent.

Roles are ordered (agent < supervisor < admin) so a route names the least role it needs and
every higher role passes; the order lives in one table here, not in ``if`` chains at the
routes. An agent user is linked to one ACD agent id and sees only that agent's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """Whether this role may do what ``other`` may (a higher role includes the lower)."""
        return self.rank >= other.rank


_RANKS = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    role: Role
    agent_id: str | None = None

    def at_least(self, role: Role) -> bool:
        return self.role.includes(role)

    @property
    def supervises(self) -> bool:
        """Supervisors and admins see every agent and call; agents only their own."""
        return self.at_least(Role.SUPERVISOR)

    def may_act_for(self, agent_id: str | None) -> bool:
        """Whether this user may see or change ACD agent ``agent_id``'s data."""
        return self.supervises or (self.agent_id is not None and self.agent_id == agent_id)
