"""``GET /api/v1/crm/export?kind=&from=&to=&format=``: the CRM feed's batch side over HTTP.

A period's call records or contact-history entries as CSV (UTF-8 with a BOM, so Excel shows
Korean) or JSON lines, the same bytes ``cti-server crm export`` writes. ``from``/``to`` are
read as ``/stats`` reads them (a date, month, year or ISO time, wall-clock in the server's
zone; ``to`` exclusive, by default the end of ``from``'s unit; ``from`` defaults to today).
The answer is built in the thread pool and held in memory, so a request is limited to
``MAX_ROWS`` rows (400 ``too_many_rows`` beyond: a shorter period, or the CLI). Supervisors
and up.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred

from cti_server.api.models import Query
from cti_server.api.router import ApiError, ApiRequest, Reply, Route
from cti_server.auth import Role
from cti_server.crm import export as crm_export
from cti_server.storage.db import Database
from metrics.periods import PeriodError, parse_moment

CSV_TYPE = "text/csv"
NDJSON_TYPE = "application/x-ndjson"
MAX_ROWS = 200_000
MAX_SPAN = timedelta(days=366)
Blocking = Callable[..., "Deferred[Any]"]


class CrmExportQuery(Query):
    kind: Literal["call_record", "contact"] = Field(
        description="call_record: one row per call; contact: one row per contact-history entry"
    )
    from_: str | None = Field(None, alias="from", description="2026-12-01 (default: today)")
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")
    format: Literal["csv", "jsonl"] = Field("csv", description="csv (UTF-8 with a BOM) or jsonl")


class CrmExportApi:
    def __init__(
        self, database: Database, tz: ZoneInfo, blocking: Blocking, clock: Callable[[], float]
    ) -> None:
        self.database = database
        self.tz = tz
        self.blocking = blocking
        self.clock = clock

    def period(self, first: str | None, last: str | None) -> tuple[datetime, datetime]:
        """``[start, end)`` from the query; a 400 naming the problem otherwise."""
        today = datetime.fromtimestamp(self.clock(), self.tz).date().isoformat()
        try:
            start, unit_end = parse_moment(first or today, self.tz)
            end = parse_moment(last, self.tz)[0] if last else unit_end
            if start.year < 1970 or end.year > 9998:
                raise PeriodError("the period must lie between 1970 and 9998")
        except (PeriodError, ValueError, OverflowError) as exc:
            raise ApiError(400, "bad_query", str(exc)) from None
        if end <= start:
            raise ApiError(400, "bad_query", f"to ({end.isoformat()}) is not after from")
        if end - start > MAX_SPAN:
            raise ApiError(400, "bad_query", f"the period is longer than {MAX_SPAN.days} days")
        return start, end

    async def export(self, req: ApiRequest) -> Reply:
        query: CrmExportQuery = req.query
        start, end = self.period(query.from_, query.to)
        try:
            data: bytes = await self.blocking(self._export, query.kind, query.format, start, end)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None
        kind = "text/csv; charset=utf-8" if query.format == "csv" else NDJSON_TYPE
        name = f"{query.kind}-{start.date().isoformat()}-{end.date().isoformat()}.{query.format}"
        disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
        return Reply(raw=data, content_type=kind, headers={"Content-Disposition": disposition})

    def _export(self, kind: crm_export.Kind, fmt: crm_export.Format, start: datetime,
                end: datetime) -> bytes:  # fmt: skip
        rows = crm_export.count(self.database, kind, start, end)
        if rows > MAX_ROWS:
            raise ApiError(
                400,
                "too_many_rows",
                f"{rows} rows in the period, at most {MAX_ROWS} per request: ask for a "
                "shorter period or use `cti-server crm export`",
            )
        out = io.StringIO(newline="")
        crm_export.export(self.database, kind, fmt, start, end, self.tz, out)
        return out.getvalue().encode("utf-8-sig" if fmt == "csv" else "utf-8")

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/crm/export", self.export,
                  "Call records or contact history of a period (CSV or JSON lines)", ("crm",),
                  role=Role.SUPERVISOR, query=CrmExportQuery, media_type=CSV_TYPE,
                  more_media=(NDJSON_TYPE,), errors=(503,), description=EXPORT_TEXT),
        ]  # fmt: skip


EXPORT_TEXT = (
    "`kind=call_record`: one row per call that started in the period (columns: call_id, "
    "times, caller, called, queue, agent, customer, outcome, durations, disposition; JSON "
    "lines add the full stored `record`). `kind=contact`: one row per contact-history entry "
    "(customer, channel, category, summary, notes, disposition). `format=csv`: text/csv, "
    "UTF-8 with a BOM; `format=jsonl`: application/x-ndjson. Times in the server's zone. "
    f"At most {MAX_ROWS} rows per request."
)


def crm_routes(parts: Any) -> list[Route]:
    """The route group for :func:`cti_server.api.site.api_routes` (needs ``parts.database``)."""
    if parts.database is None:
        return []
    return CrmExportApi(parts.database, parts.tz, parts.blocking, parts.clock).routes()


__all__ = ["CrmExportApi", "CrmExportQuery", "crm_routes"]
