"""ACD configuration (the ``acd:`` section): queues, agents and their skills.

Validated with pydantic when the config loads, like every other section, so a typo in a
strategy name or a queue an agent belongs to is a ``file:line: reason`` error at start-up,
not a surprise when the first call arrives.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueSettings(_Model):
    name: str
    title: str = ""  # shown on the wallboard (Korean or English)
    strategy: str = "longest_idle"
    skills: dict[str, int] = Field(default_factory=dict, description="skill -> minimum level")
    offer_timeout: float = Field(15.0, gt=0, le=600, description="ring-no-answer, seconds")
    no_answer_not_ready: bool = Field(True, description="an agent who lets an offer time out")
    wrap_up: float = Field(10.0, ge=0, le=3600)
    max_wait: float | None = Field(None, gt=0)
    max_length: int | None = Field(None, ge=1)
    join_when_empty: bool = Field(True, description="join although no agent is logged in")
    leave_when_empty: bool = Field(False, description="leave when the last agent logs out")
    overflow: str | None = Field(None, description="queue:NAME, voicemail or callback")
    announce_every: float | None = Field(60.0, gt=0)
    announce_position: bool = True
    announce_wait: bool = True
    designated_wait: float = Field(20.0, ge=0, description="how long the assigned agent is tried")
    ring_all_limit: int = Field(10, ge=1, description="agents rung at once by ring_all")
    weight: float = Field(1.0, gt=0, description="priority of this queue's callers across queues")
    service_level_seconds: float = Field(20.0, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("a queue name is 1-64 letters, digits, '_', '-' or '.'")
        return value

    @field_validator("overflow")
    @classmethod
    def _overflow(cls, value: str | None) -> str | None:
        if value is None or value in ("voicemail", "callback") or value.startswith("queue:"):
            return value
        raise ValueError("overflow is queue:NAME, voicemail or callback")


class AgentSettings(_Model):
    id: str = Field(description="the agent's SIP account user (extension)")
    name: str = ""
    queues: list[str] = Field(default_factory=list)
    skills: dict[str, int] = Field(default_factory=dict, description="skill -> level 1-10")
    remote: bool = False


class AcdSettings(_Model):
    queues: list[QueueSettings] = []
    agents: list[AgentSettings] = []
    auto_ready: bool = Field(True, description="an agent whose phone registers becomes ready")
    not_ready_reasons: list[str] = [
        "break",
        "lunch",
        "meeting",
        "training",
        "after_call",
        "no_answer",
    ]

    @model_validator(mode="after")
    def _references(self) -> AcdSettings:
        names = [q.name for q in self.queues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate queues: {', '.join(dupes)}")
        ids = [a.id for a in self.agents]
        dupes = sorted({n for n in ids if ids.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate agents: {', '.join(dupes)}")
        for agent in self.agents:
            for queue in agent.queues:
                if queue not in names:
                    raise ValueError(f"agent {agent.id!r}: unknown queue {queue!r}")
        for q in self.queues:
            if q.overflow and q.overflow.startswith("queue:"):
                target = q.overflow.removeprefix("queue:")
                if target not in names or target == q.name:
                    raise ValueError(f"queue {q.name!r}: bad overflow queue {target!r}")
        return self
