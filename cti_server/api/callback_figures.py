"""Callback and campaign figures over the API: ``GET /api/v1/stats/callbacks?from=&to=``.

The figures of ``cti-server report``'s callbacks section (:mod:`metrics.callback_stats`,
body :func:`metrics.reports.callback_json`): callback requests created in the period by
queue, campaign leads by their last attempt. ``from`` and ``to`` are read as ``/stats``
reads them (a date, month, year or ISO time, wall-clock in the server's zone; ``to``
exclusive, by default the end of ``from``'s unit); ``from`` defaults to today. The rows are
loaded in the thread pool; the call records (for handle times) come from the statistics
resource's loader, the same ones ``/stats`` counts. Supervisors and up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred

from cti_server.api.campaign_models import CallbackFiguresOut, CallbackFiguresQuery
from cti_server.api.router import ApiError, ApiRequest, Route
from cti_server.auth import Role
from cti_server.storage.callback_figures import CallbackFigures, load_callback_figures
from cti_server.storage.db import Database
from metrics.callback_stats import callback_report
from metrics.cdr import CallRecord
from metrics.periods import PeriodError, parse_moment
from metrics.reports import callback_json

MAX_SPAN = timedelta(days=3 * 366)  # as /stats: a request should not load a decade
Blocking = Callable[..., "Deferred[Any]"]
LoadRecords = Callable[[datetime, datetime], "Deferred[list[CallRecord]]"]


class CallbackFiguresApi:
    """``records``: the period's call records (handle times of the callback calls); without
    a loader those few figures are zero and the rest still come from the rows."""

    def __init__(
        self,
        database: Database,
        tz: ZoneInfo,
        blocking: Blocking,
        clock: Callable[[], float],
        records: LoadRecords | None = None,
    ) -> None:
        self.database = database
        self.tz = tz
        self.blocking = blocking
        self.clock = clock
        self.records = records

    async def get_figures(self, req: ApiRequest) -> dict[str, Any]:
        query: CallbackFiguresQuery = req.query
        start, end = self.period(query.from_, query.to)
        try:
            figures: CallbackFigures = await self.blocking(
                load_callback_figures, self.database, start, end
            )
            records = [] if self.records is None else await self.records(start, end)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None
        except Exception as exc:  # noqa: BLE001 - the records loader's failures are the database's
            raise ApiError(503, "database_unavailable", str(exc)) from None
        report = callback_report(
            figures.callbacks,
            figures.leads,
            figures.progress,
            records,
            start=start,
            end=end,
            tz=self.tz,
            now=self.clock(),
        )
        return callback_json(report)

    def period(self, first: str | None, last: str | None) -> tuple[datetime, datetime]:
        """``[start, end)`` from the query; a 400 naming the problem otherwise."""
        today = datetime.fromtimestamp(self.clock(), self.tz).date().isoformat()
        try:
            start, unit_end = parse_moment(first or today, self.tz)
            end = parse_moment(last, self.tz)[0] if last else unit_end
            if start.year < 1970 or end.year > 9998:
                raise PeriodError("the period must lie between 1970 and 9998")
        except (PeriodError, ValueError, OverflowError) as exc:  # 9999-12-31 overflows
            raise ApiError(400, "bad_query", str(exc)) from None
        if end <= start:
            raise ApiError(400, "bad_query", f"to ({end.isoformat()}) is not after from")
        if end - start > MAX_SPAN:
            raise ApiError(400, "bad_query", f"the period is longer than {MAX_SPAN.days} days")
        return start, end

    def route(self) -> Route:
        return Route("GET", "/stats/callbacks", self.get_figures,
                     "Callback and campaign figures of a period", ("statistics",),
                     role=Role.SUPERVISOR, query=CallbackFiguresQuery,
                     response=CallbackFiguresOut, errors=(503,))  # fmt: skip
