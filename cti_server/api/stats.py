"""Call statistics over HTTP: ``GET /api/v1/stats?from=&to=&by=``.

``from`` and ``to`` are dates (``2026-12-01``), months (``2026-12``), years or ISO times,
wall-clock in the server's time zone unless they carry an offset; ``to`` is exclusive and
defaults to the end of the unit ``from`` names. ``by`` is day (default), month, year, hour,
agent or queue; ``sl`` and ``short_abandon`` override the thresholds (seconds). The body is
:func:`metrics.reports.json_table`: ``{"from", "to", "by", "tz", "rows": [...], "total"}``
with rates as fractions and times in seconds. Bad parameters answer 400, a failed load 503,
both as ``{"error": code, "detail": text}``.

The router's ``GET /api/v1/stats`` (supervisors) is :meth:`StatsResource.route`; the
resource itself stays usable on its own. Records come from ``load_records(start, end)`` (a
Deferred, e.g. the call record repository through ``run_in_loop``); the statistics are
computed in the reactor thread, which is fine for a day or a month of calls but not for
years of a busy center.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from cti_server.api.json_io import error, json_response
from cti_server.api.models import StatsOut, StatsQuery
from cti_server.api.router import ApiError, ApiRequest, Route
from cti_server.auth import Role
from metrics.cdr import CallRecord
from metrics.periods import PeriodError, check_period, parse_moment
from metrics.reports import json_table
from metrics.stats import StatsSettings, period_stats

LoadRecords = Callable[[datetime, datetime], Deferred[list[CallRecord]]]
MAX_SPAN = timedelta(days=3 * 366)  # a request should not load a decade of calls


class StatsResource(Resource):
    """``GET /api/v1/stats``: the statistics table of a period as JSON."""

    isLeaf = True

    def __init__(
        self, load_records: LoadRecords, tz: ZoneInfo, settings: StatsSettings | None = None
    ) -> None:
        super().__init__()
        self.load = load_records
        self.tz = tz
        self.settings = settings or StatsSettings()

    def render_GET(self, request: Request) -> bytes | int:
        args = {k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        try:
            start, end, by, settings = self._query(args)
        except (PeriodError, ValueError, OverflowError) as exc:
            return error(request, 400, "bad_query", str(exc))
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def done(records: list[CallRecord]) -> None:
            if gone:
                return
            table = period_stats(
                records, start=start, end=end, by=by, tz=self.tz, settings=settings
            )
            request.write(json_response(request, 200, json_table(table)))
            request.finish()

        def failed(failure: Any) -> None:
            if gone:
                return
            request.write(error(request, 503, "database_unavailable", failure.getErrorMessage()))
            request.finish()

        self.load(start, end).addCallbacks(done, failed)
        return NOT_DONE_YET

    def _query(self, args: dict[str, str]) -> tuple[datetime, datetime, str, StatsSettings]:
        if "from" not in args:
            raise PeriodError("from is required, e.g. from=2026-12-01")
        start, unit_end = parse_moment(args["from"], self.tz)
        end = parse_moment(args["to"], self.tz)[0] if "to" in args else unit_end
        by = args.get("by", "day")
        check_period(start, end, by)
        if end - start > MAX_SPAN:
            raise PeriodError(f"the period is longer than {MAX_SPAN.days} days")
        settings = StatsSettings(
            service_level_seconds=_seconds(args, "sl", self.settings.service_level_seconds),
            short_abandon_seconds=_seconds(
                args, "short_abandon", self.settings.short_abandon_seconds
            ),
        )
        return start, end, by, settings

    async def get_stats(self, req: ApiRequest) -> dict[str, Any]:
        q: StatsQuery = req.query
        args = {
            "from": q.from_,
            "to": q.to,
            "by": q.by,
            "sl": q.sl,
            "short_abandon": q.short_abandon,
        }
        try:
            start, end, by, settings = self._query(
                {k: str(v) for k, v in args.items() if v is not None}
            )
        except (PeriodError, ValueError, OverflowError) as exc:
            raise ApiError(400, "bad_query", str(exc)) from None
        try:
            records = await self.load(start, end)
        except Exception as exc:  # noqa: BLE001 - any failed load is the database's
            raise ApiError(503, "database_unavailable", str(exc)) from None
        table = period_stats(records, start=start, end=end, by=by, tz=self.tz, settings=settings)
        return json_table(table)

    def route(self) -> Route:
        return Route("GET", "/stats", self.get_stats, "Call statistics of a period",
                     ("statistics",), role=Role.SUPERVISOR, query=StatsQuery,
                     response=StatsOut, errors=(503,))  # fmt: skip


def _seconds(args: dict[str, str], key: str, default: float) -> float:
    if key not in args:
        return default
    value = float(args[key])
    if not 0 <= value <= 86_400:
        raise ValueError(f"{key} must be between 0 and 86400 seconds")
    return value
