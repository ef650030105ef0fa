"""A distributor on a fake clock: feed inputs, advance time, keep what came out.

Every step checks the distributor's own invariants (``audit``), so each test also checks
that nothing drifted on the way.
"""

from __future__ import annotations

import random
from typing import Any

from acd import Distributor
from acd.protocol import AcdAction, AcdInput, Offer, WithdrawOffer
from acd.settings import AcdSettings
from cti_server import events as ev


def settings(
    queues: list[dict[str, Any]], agents: list[dict[str, Any]], **extra: Any
) -> AcdSettings:
    return AcdSettings.model_validate({"queues": queues, "agents": agents, **extra})


class Acd:
    def __init__(self, config: AcdSettings, seed: int = 0, start: float = 1000.0) -> None:
        self.config = config
        self.d = Distributor(config, random.Random(seed))
        self.now = start
        self.actions: list[AcdAction] = []  # of the last step
        self.events: list[ev.Event] = []  # of the last step
        self.all_actions: list[AcdAction] = []
        self.all_events: list[ev.Event] = []

    def _took(self, actions: list[AcdAction]) -> None:
        self.actions += actions
        self.all_actions += actions
        events = self.d.drain_events()
        self.events += events
        self.all_events += events
        problems = self.d.audit()
        assert not problems, problems

    def feed(self, item: AcdInput, after: float = 0.0) -> list[AcdAction]:
        """Advance ``after`` seconds (running deadlines on the way), then feed ``item``."""
        self.actions, self.events = [], []
        self._advance(self.now + after)
        self._took(self.d.handle(item, self.now))
        return self.actions

    def advance(self, seconds: float) -> list[AcdAction]:
        self.actions, self.events = [], []
        self._advance(self.now + seconds)
        return self.actions

    def _advance(self, until: float) -> None:
        while (due := self.d.next_deadline()) is not None and due <= until:
            self.now = max(self.now, due)
            self._took(self.d.on_timer(self.now))
        self.now = until

    # --- reading what came out ----------------------------------------------------------

    def offers(self) -> list[tuple[str, str]]:
        return [(a.call_id, a.agent_id) for a in self.actions if isinstance(a, Offer)]

    def withdrawals(self) -> list[tuple[str, str, str]]:
        return [
            (a.call_id, a.agent_id, a.reason) for a in self.actions if isinstance(a, WithdrawOffer)
        ]

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def of(self, cls: type[ev.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def state(self, agent_id: str) -> str | None:
        return self.d.agent_state(agent_id)

    def row(self, agent_id: str) -> dict[str, Any]:
        return dict(next(r for r in self.d.agents() if r["id"] == agent_id))
