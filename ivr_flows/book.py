"""The flows a server runs, by name, and the factory that starts one for a call.

Reloading swaps the whole mapping at once: a call that is already in a flow keeps the
``Flow`` object its run was started with, so an edit never changes a conversation midway;
the next call gets the new version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from ivr_flows.engine import IvrRun
from ivr_flows.protocol import QueueOracle
from ivr_flows.schema import Flow


class FlowBook:
    def __init__(
        self,
        flows: Mapping[str, Flow],
        *,
        tz: dt.tzinfo,
        queues: QueueOracle,
        new_request_id: Callable[[], str],
    ) -> None:
        self._flows = dict(flows)
        self._tz = tz
        self._queues = queues
        self._new_request_id = new_request_id

    @property
    def names(self) -> list[str]:
        return sorted(self._flows)

    def replace(self, flows: Mapping[str, Flow]) -> None:
        self._flows = dict(flows)

    def __call__(
        self, flow: str, *, call_id: str, caller: str, called: str, now: float
    ) -> IvrRun | None:
        found = self._flows.get(flow)
        if found is None:
            return None
        return IvrRun(
            found,
            call_id=call_id,
            caller=caller,
            called=called,
            now=now,
            tz=self._tz,
            queues=self._queues,
            new_request_id=self._new_request_id,
        )
