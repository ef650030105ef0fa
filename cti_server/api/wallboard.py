"""``GET /wallboard``: the supervisor's screen in one answer.

Live figures come from the ACD (queues, agents and their states, as ``/queues`` and
``/agents`` give them); today's figures (answered, abandoned, service level per queue,
handled and average handle time per agent) are :func:`metrics.stats.period_stats` over the
stored call records of the local day. Those are read at most every ``cache_seconds``, so a
room of wallboards polling every second costs the database one query per few seconds; when
the records cannot be read, the live figures still come, with today's as null.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd.agent_state import AgentState
from cti_server.api.agents import AgentsApi, agent_json, queue_json
from cti_server.api.models import WallboardOut
from cti_server.api.router import ApiRequest, Route
from cti_server.api.stats import LoadRecords
from cti_server.auth import Role, iso_utc
from metrics.stats import PeriodStats, StatsSettings, period_stats

log = logging.getLogger(__name__)
Today = tuple[dict[str, PeriodStats], dict[str, PeriodStats]]  # by queue, by agent


class WallboardApi:
    def __init__(
        self,
        agents: AgentsApi,
        load_records: LoadRecords | None,
        tz: ZoneInfo,
        clock: Callable[[], float],
        settings: StatsSettings | None = None,
        cache_seconds: float = 5.0,
    ) -> None:
        self.agents = agents
        self._load = load_records
        self._tz = tz
        self._clock = clock
        self._settings = settings or StatsSettings()
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, str, Today | None] | None = None

    async def _today(self, now: float) -> Today | None:
        start = datetime.combine(datetime.fromtimestamp(now, self._tz).date(), time(), self._tz)
        day = start.date().isoformat()
        if self._cached is not None:
            at, cached_day, value = self._cached
            if cached_day == day and now - at < self._cache_seconds:
                return value
        value = None
        if self._load is not None:
            end = datetime.combine(start.date() + timedelta(days=1), time(), self._tz)
            try:
                records = await self._load(start, end)
            except Exception as exc:  # noqa: BLE001 - the live half is still worth showing
                log.warning("wallboard: today's call records unavailable: %s", exc)
            else:
                kw: dict[str, Any] = {"start": start, "end": end, "tz": self._tz,
                                      "settings": self._settings}  # fmt: skip
                by_queue = period_stats(records, by="queue", **kw)
                by_agent = period_stats(records, by="agent", **kw)
                value = ({r.key: r for r in by_queue.rows}, {r.key: r for r in by_agent.rows})
        self._cached = (now, day, value)
        return value

    async def get_wallboard(self, req: ApiRequest) -> dict[str, Any]:
        acd = self.agents._holder()
        now = self._clock()
        today = await self._today(now)
        queues = []
        for name in self.agents.queue_names:
            row = queue_json(acd, name)
            stats = today[0].get(name, PeriodStats(key=name)) if today is not None else None
            row["answered"] = stats.answered if stats is not None else None
            row["abandoned"] = stats.abandoned if stats is not None else None
            row["service_level"] = stats.service_level if stats is not None else None
            queues.append(row)
        agents = []
        rows = acd.agents()
        for agent in rows:
            row = agent_json(agent)
            stats = today[1].get(agent["id"]) if today is not None else None
            row["handled_today"] = (stats.answered if stats else 0) if today is not None else None
            row["aht"] = stats.aht if stats is not None else None
            agents.append(row)
        states = {s.value: 0 for s in AgentState} | Counter(r["state"] for r in rows)
        return {"queues": queues, "agents": agents, "states": states, "at": iso_utc(now)}

    def route(self) -> Route:
        return Route("GET", "/wallboard", self.get_wallboard,
                     "Queues, agents and today's figures for the wallboard", ("wallboard",),
                     role=Role.SUPERVISOR, response=WallboardOut, errors=(503,))  # fmt: skip
