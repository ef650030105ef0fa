"""Drive an ``IvrRun`` by hand on a fake clock: the host's side of the IVR protocol."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import TypeVar
from zoneinfo import ZoneInfo

from cti_server import events as ev
from cti_server.media.prompts import load_catalog
from ivr_flows.engine import IvrRun
from ivr_flows.loader import parse_flow
from ivr_flows.protocol import (
    DigitPressed,
    IvrAction,
    IvrInput,
    Play,
    PromptFinished,
)
from ivr_flows.schema import Flow

T = TypeVar("T")
SEOUL = ZoneInfo("Asia/Seoul")
MONDAY_10AM = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SEOUL).timestamp()
SUNDAY_10AM = dt.datetime(2026, 3, 1, 10, 0, tzinfo=SEOUL).timestamp()
PROMPTS = set(load_catalog().prompt_ids)
QUEUES = {"general", "vip"}


def flow_from(text: str, *, prompts: set[str] = PROMPTS, queues: set[str] = QUEUES) -> Flow:
    return parse_flow(
        textwrap.dedent(text), "test.yaml", known_prompts=prompts, known_queues=queues
    )


class FakeQueues:
    """A QueueOracle with fixed estimated waits (None: unknown)."""

    def __init__(self, waits: dict[str, float] | None = None) -> None:
        self.waits = dict(waits or {})

    def estimated_wait(self, queue: str) -> float | None:
        return self.waits.get(queue)


class Driver:
    def __init__(
        self,
        flow: Flow,
        *,
        now: float = MONDAY_10AM,
        caller: str = "01012345678",
        waits: dict[str, float] | None = None,
        language: str | None = None,
    ) -> None:
        self.now = now
        self.queues = FakeQueues(waits)
        self._next_id = 0
        self.run = IvrRun(
            flow,
            call_id="call-1",
            caller=caller,
            called="15880000",
            now=now,
            tz=SEOUL,
            queues=self.queues,
            new_request_id=self._request_id,
            language=language,
        )
        self.events: list[ev.Event] = []
        self.actions: list[IvrAction] = []

    def _request_id(self) -> str:
        self._next_id += 1
        return f"req-{self._next_id}"

    def _took(self, actions: list[IvrAction]) -> list[IvrAction]:
        self.events += self.run.drain_events()
        self.actions += actions
        return actions

    def start(self) -> list[IvrAction]:
        return self._took(self.run.start(self.now))

    def feed(self, event: IvrInput, after: float = 0.0) -> list[IvrAction]:
        self.now += after
        return self._took(self.run.handle(event, self.now))

    def prompt_done(self, after: float = 2.0) -> list[IvrAction]:
        return self.feed(PromptFinished(), after)

    def keys(self, digits: str, gap: float = 0.3) -> list[IvrAction]:
        out: list[IvrAction] = []
        for digit in digits:
            out += self.feed(DigitPressed(digit=digit), gap)
        return out

    def wait_timeout(self) -> list[IvrAction]:
        """Advance the clock to the run's deadline and fire it."""
        deadline = self.run.next_deadline()
        assert deadline is not None, "the run has no deadline"
        self.now = deadline
        return self._took(self.run.on_timer(self.now))

    def event_names(self) -> list[str]:
        return [e.name for e in self.events]

    def nodes_entered(self) -> list[str]:
        return [e.node for e in self.events if isinstance(e, ev.IvrNodeEntered)]


def played(actions: list[IvrAction]) -> list[str]:
    """Prompt ids of every Play in ``actions``, in order."""
    return [p.prompt for a in actions if isinstance(a, Play) for p in a.prompts]


def only(actions: list[IvrAction], kind: type[T]) -> T:
    found = [a for a in actions if isinstance(a, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {actions}"
    return found[0]
