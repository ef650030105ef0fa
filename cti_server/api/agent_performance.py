"""Agent performance over the API (issue 11 part 4).

``GET /api/v1/agents/{agent_id}/performance?from=&to=&compare_before=``: one agent's figures
for the period, its week-by-week series (the trend a desktop chart draws) and, with
``compare_before``, the figures before and after that date. An agent sees only its own;
supervisors any agent's.

``GET /api/v1/performance?from=&to=&compare_before=`` (supervisors): every agent, the total
and the centre's proposal figures (answer rate, AHT, answered calls per agent-day, callbacks
per day), and the comparison.

``from`` and ``to`` are read as ``/stats`` reads them (a date, month, year or ISO time,
wall-clock in the server's zone; ``to`` exclusive, by default the end of ``from``'s unit);
``from`` defaults to today; a period is at most a year. Rates are fractions, times seconds
(:mod:`metrics.agent_performance` defines every figure). Loading and computing both run in
the thread pool, so a month of calls never holds the reactor.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from cti_server.api.models import Out, Query
from cti_server.api.router import ApiError, ApiRequest, Route, forbidden
from cti_server.auth import Role
from cti_server.storage.agent_figures import AgentFiguresData, load_agent_figures
from metrics.agent_comparison import split_compare
from metrics.agent_performance import performance_report, weekly
from metrics.agent_report import comparison_json, figures_json, report_json
from metrics.periods import PeriodError, parse_moment

if TYPE_CHECKING:
    from cti_server.api.site import ApiParts

MAX_SPAN = timedelta(days=366)  # the weekly series of a longer period is not a trend view


class PerformanceQuery(Query):
    from_: str | None = Field(None, alias="from", description="2026-12-01 (default: today)")
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")
    compare_before: str | None = Field(
        None, description="a date inside the period: [from, it) against [it, to)"
    )


class _Out(Out):
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)


class AgentFiguresOut(_Out):
    """``metrics.agent_performance.AgentFigures``: the agent id, or total."""

    key: str
    handled: int = Field(description="calls the agent answered")
    inbound: int
    callbacks: int = Field(description="callback completions")
    outbound: int
    offers: int = Field(description="rings answered, not answered or declined")
    offers_answered: int
    no_answer: int
    declined: int
    offer_answer_rate: float | None = Field(description="offers_answered / offers, 0..1")
    talk_total: float
    talk_avg: float | None
    hold_total: float
    hold_avg: float | None
    holds: int
    wrap_up_total: float
    wrap_up_avg: float | None
    aht: float | None = Field(description="(talk + hold + wrap-up) / handled, seconds")
    occupancy: float | None
    days: int = Field(description="days with a handled call (agent-days in the total)")
    handled_per_day: float | None
    inbound_per_day: float | None
    callbacks_per_day: float | None
    qa_count: int
    qa_avg: float | None
    qa_trend: float | None = Field(description="QA points per week (least squares)")


class CenterFiguresOut(_Out):
    """``metrics.agent_performance.CenterFigures``: the proposal's figures."""

    requests: int
    answered: int
    answer_rate: float | None = Field(description="inbound answered / inbound requests")
    aht: float | None
    agents: int
    days: int
    agent_days: int
    answered_per_agent_day: float | None
    handled_per_agent_day: float | None
    callbacks_handled: int
    callbacks_per_day: float | None
    occupancy: float | None
    qa_avg: float | None


class ChangeOut(_Out):
    field: str
    before: float | None
    after: float | None
    delta: float | None = Field(description="after - before (rates: fractions)")
    relative: float | None = Field(description="delta / before")


class PeriodOut(_Out):
    from_: str = Field(alias="from")
    to: str
    tz: str
    qa_available: bool
    agents: list[AgentFiguresOut]
    total: AgentFiguresOut
    center: CenterFiguresOut


class CompareOut(_Out):
    at: str
    before: PeriodOut
    after: PeriodOut
    center_changes: list[ChangeOut]
    agent_changes: dict[str, list[ChangeOut]]


class PerformanceOut(_Out):
    from_: str = Field(alias="from", description="ISO 8601 in the server's time zone")
    to: str
    tz: str
    qa_available: bool = Field(description="false: no evaluations store, QA figures empty")
    agents: list[AgentFiguresOut]
    total: AgentFiguresOut
    center: CenterFiguresOut
    compare: CompareOut | None


class WeekOut(_Out):
    from_: str = Field(alias="from")
    to: str
    figures: AgentFiguresOut


class AgentCompareOut(_Out):
    at: str
    before: AgentFiguresOut
    after: AgentFiguresOut
    changes: list[ChangeOut]


class AgentPerformanceOut(_Out):
    agent_id: str
    from_: str = Field(alias="from")
    to: str
    tz: str
    qa_available: bool
    figures: AgentFiguresOut
    weeks: list[WeekOut]
    compare: AgentCompareOut | None


class PerformanceApi:
    def __init__(self, database: Any, tz: ZoneInfo, blocking: Any, clock: Any) -> None:
        self.database = database
        self.tz = tz
        self.blocking = blocking
        self.clock = clock

    async def everyone(self, req: ApiRequest) -> dict[str, Any]:
        start, end, at = self.period(req.query)
        result: dict[str, Any] = await self._run(self._everyone, start, end, at)
        return result

    async def one(self, req: ApiRequest) -> dict[str, Any]:
        agent = req.params["agent_id"]
        if not req.user.may_act_for(agent):
            raise forbidden(f"agent {agent}'s performance is not yours")
        start, end, at = self.period(req.query)
        result: dict[str, Any] = await self._run(self._one, start, end, at, agent)
        return result

    async def _run(self, compute: Any, start: datetime, end: datetime, *args: Any) -> Any:
        try:
            data = await self.blocking(load_agent_figures, self.database, start, end)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None
        return await self.blocking(compute, data, start, end, *args)

    def _everyone(
        self, data: AgentFiguresData, start: datetime, end: datetime, at: datetime | None
    ) -> dict[str, Any]:
        args = (data.records, data.states, data.qa_scores)
        report = performance_report(*args, start=start, end=end, tz=self.tz)
        compare = None
        if at is not None:
            compare = comparison_json(split_compare(*args, start=start, at=at, end=end, tz=self.tz))
        return report_json(report) | {"compare": compare}

    def _one(
        self,
        data: AgentFiguresData,
        start: datetime,
        end: datetime,
        at: datetime | None,
        agent: str,
    ) -> dict[str, Any]:
        args = (data.records, data.states, data.qa_scores)
        report = performance_report(*args, start=start, end=end, tz=self.tz, agents=[agent])
        weeks = weekly(*args, start=start, end=end, tz=self.tz)
        compare = None
        if at is not None:
            c = split_compare(*args, start=start, at=at, end=end, tz=self.tz)
            compare = {
                "at": c.at.isoformat(),
                "before": figures_json(c.before.agent(agent)),
                "after": figures_json(c.after.agent(agent)),
                "changes": [asdict(change) for change in c.changes(agent)],
            }
        return {
            "agent_id": agent,
            "from": report.start.isoformat(),
            "to": report.end.isoformat(),
            "tz": report.tz,
            "qa_available": report.qa_available,
            "figures": figures_json(report.agent(agent)),
            "weeks": [
                {
                    "from": w.start.isoformat(),
                    "to": w.end.isoformat(),
                    "figures": figures_json(w.agent(agent)),
                }
                for w in weeks
            ],
            "compare": compare,
        }

    def period(self, query: PerformanceQuery) -> tuple[datetime, datetime, datetime | None]:
        """``[start, end)`` and the comparison date from the query; 400 naming the problem."""
        today = datetime.fromtimestamp(self.clock(), self.tz).date().isoformat()
        outside = "the period must lie between 1970 and 9998"
        try:
            start, unit_end = parse_moment(query.from_ or today, self.tz)
            end = parse_moment(query.to, self.tz)[0] if query.to else unit_end
            at = parse_moment(query.compare_before, self.tz)[0] if query.compare_before else None
            if start.year < 1970 or end.year > 9998:
                raise PeriodError(outside)
        except OverflowError:  # the day after 9999-12-31
            raise ApiError(400, "bad_query", outside) from None
        except (PeriodError, ValueError) as exc:
            raise ApiError(400, "bad_query", str(exc)) from None
        if end <= start:
            raise ApiError(400, "bad_query", f"to ({end.isoformat()}) is not after from")
        if end - start > MAX_SPAN:
            raise ApiError(400, "bad_query", f"the period is longer than {MAX_SPAN.days} days")
        if at is not None and not start < at < end:
            raise ApiError(400, "bad_query", "compare_before must lie inside the period")
        return start, end, at

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/agents/{agent_id}/performance", self.one,
                  "One agent's performance: figures, weekly trend, before/after",
                  ("statistics",), role=Role.AGENT, query=PerformanceQuery,
                  response=AgentPerformanceOut, errors=(503,)),
            Route("GET", "/performance", self.everyone,
                  "Every agent's performance and the centre's figures, before/after",
                  ("statistics",), role=Role.SUPERVISOR, query=PerformanceQuery,
                  response=PerformanceOut, errors=(503,)),
        ]  # fmt: skip


def performance_routes(parts: ApiParts) -> list[Route]:
    """The two routes, over ``parts.database`` (none without a database)."""
    if parts.database is None:
        return []
    return PerformanceApi(parts.database, parts.tz, parts.blocking, parts.clock).routes()
