"""Outbound campaigns over the API (issue 8): supervisors and up.

``POST /campaigns`` creates a ``draft`` campaign from a call list: the CSV itself as the
body (``Content-Type: text/csv``, UTF-8 or CP949 as Excel in Korea saves it, settings in the
query) or JSON ``{name, queue, csv: "<text>", ...}``. The file is checked whole before
anything is created (no number column: 400, nothing made); bad rows are rejected one by one
as ``cti-server campaigns create`` does, and the first 100 come back with their line and
reason. ``GET /campaigns`` lists them with their progress; ``POST
/campaigns/{name}/start|pause|resume|stop`` write the status, which the dialer host picks
up on its next poll (``dialer.poll_interval``); ``GET /campaigns/{name}/export`` gives
every lead's outcome as CSV (with a BOM, so Excel shows Korean) or JSON lines, times in the
server's zone. The callback and campaign figures are :mod:`cti_server.api.callback_figures`.

Every database step runs in the thread pool (``blocking``); the sync repositories are the
CLI's, so the API and the CLI cannot disagree.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred

from cti_server.api.campaign_models import (
    CampaignCreatedOut,
    CampaignCreateIn,
    CampaignCreateQuery,
    CampaignOut,
    CampaignsOut,
    CampaignsQuery,
    CampaignStatusOut,
    ExportQuery,
)
from cti_server.api.router import ApiError, ApiRequest, Reply, Route, not_found
from cti_server.auth import Role
from cti_server.campaign_cli import _export_csv, _export_jsonl
from cti_server.storage.campaign_import import ImportFileError, import_leads, read_lead_bytes
from cti_server.storage.campaigns import (
    COMMANDS,
    Campaign,
    CampaignExists,
    CampaignNotFound,
    CampaignRepo,
    CampaignStats,
    IllegalCampaignStatus,
)
from cti_server.storage.db import Database
from cti_server.storage.tables_campaigns import CampaignStatus

CSV_TYPE = "text/csv"
NDJSON_TYPE = "application/x-ndjson"
MAX_CSV = 32 * 1024 * 1024  # ~600,000 rows; bigger lists go through the CLI
MAX_REJECTS = 100
Blocking = Callable[..., "Deferred[Any]"]


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    queue: str
    customer_first: bool = False
    pacing: float = 1.0
    caller_id: str = ""
    max_attempts: int | None = None


class CampaignsApi:
    def __init__(
        self,
        database: Database,
        queue_names: Sequence[str],
        tz: ZoneInfo,
        blocking: Blocking,
        clock: Callable[[], float],
    ) -> None:
        self.database = database
        self.queue_names = frozenset(queue_names)
        self.tz = tz
        self.blocking = blocking
        self.clock = clock

    async def _run(self, f: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.blocking(f, CampaignRepo(self.database), *args)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- create ---------------------------------------------------------------------------

    async def create(self, req: ApiRequest) -> Reply:
        query: CampaignCreateQuery = req.query
        if _media_type(req) == CSV_TYPE:
            wanted = _from_query(query)
            upload: IO[bytes] | bytes = req.http.content or io.BytesIO()
        else:
            if query.model_dump(exclude_none=True):
                raise ApiError(400, "bad_query", "with a JSON body, give the settings in it")
            wanted, upload = _from_json(req.body)
        if wanted.queue not in self.queue_names:
            known = ", ".join(sorted(self.queue_names)) or "none"
            raise not_found("no_such_queue", f"no queue {wanted.queue!r} (queues: {known})")
        answer = await self._run(self._create, wanted, upload, self._now())
        return Reply(answer, 201)

    def _create(
        self, repo: CampaignRepo, wanted: NewCampaign, upload: IO[bytes] | bytes, now: datetime
    ) -> dict[str, Any]:
        data = upload if isinstance(upload, bytes) else _read_upload(upload)
        if b"\x00" in data:  # PostgreSQL stores no NUL in text: refuse the file, not a row
            raise ApiError(400, "bad_csv", "CSV: contains NUL characters; not a text file")
        try:
            lead_file = read_lead_bytes(data)
        except ImportFileError as exc:
            raise ApiError(400, "bad_csv", str(exc)) from None
        try:
            campaign = repo.create(
                wanted.name,
                wanted.queue,
                now=now,
                customer_first=wanted.customer_first,
                pacing=wanted.pacing,
                caller_id=wanted.caller_id,
                max_attempts=wanted.max_attempts,
            )
        except CampaignExists as exc:
            raise ApiError(409, "campaign_exists", str(exc)) from None
        except ValueError as exc:  # pydantic's ValidationError included
            raise ApiError(400, "bad_campaign", _reason(exc)) from None
        report = import_leads(repo.database, campaign.name, lead_file, now=now)
        return {
            "name": campaign.name,
            "status": campaign.status.value,
            "queue": campaign.queue,
            "total": report.total,
            "imported": report.imported,
            "rejected": len(report.rejected),
            "encoding": lead_file.encoding,
            "columns": list(lead_file.header),
            "rejects": [
                {"line": r.row, "reason": r.reason, "row": list(r.cells)}
                for r in report.rejected[:MAX_REJECTS]
            ],
        }

    # --- read and change --------------------------------------------------------------------

    async def list_campaigns(self, req: ApiRequest) -> dict[str, Any]:
        query: CampaignsQuery = req.query
        status = CampaignStatus(query.status) if query.status else None
        return {"campaigns": await self._run(self._list, status)}

    def _list(self, repo: CampaignRepo, status: CampaignStatus | None) -> list[dict[str, Any]]:
        stats = repo.stats()
        return [self._json(c, stats.get(c.name)) for c in repo.list(status)]

    async def get_campaign(self, req: ApiRequest) -> dict[str, Any]:
        found: dict[str, Any] = await self._run(self._get, req.params["name"])
        return found

    def _get(self, repo: CampaignRepo, name: str) -> dict[str, Any]:
        campaign = repo.get(name)
        if campaign is None:
            raise _no_campaign(name)
        return self._json(campaign, repo.stats(name).get(name))

    def _json(self, c: Campaign, s: CampaignStats | None) -> dict[str, Any]:
        s = s or CampaignStats(campaign=c.name, total=0)
        return {
            "name": c.name,
            "queue": c.queue,
            "status": c.status.value,
            "customer_first": c.customer_first,
            "pacing": c.pacing,
            "caller_id": c.caller_id,
            "max_attempts": c.max_attempts,
            "created_at": c.created_at.astimezone(self.tz).isoformat(timespec="seconds"),
            "updated_at": c.updated_at.astimezone(self.tz).isoformat(timespec="seconds"),
            "leads": s.total,
            "by_status": dict(s.by_status),
            "attempts": s.attempts,
            "answered": s.answered,
            "completion": round(s.completion, 1),
        }

    def command_handler(self, command: str) -> Callable[[ApiRequest], Any]:
        async def change(req: ApiRequest) -> dict[str, Any]:
            answer: dict[str, Any] = await self._run(
                self._command, req.params["name"], command, self._now()
            )
            return answer

        return change

    def _command(
        self, repo: CampaignRepo, name: str, command: str, now: datetime
    ) -> dict[str, Any]:
        try:
            campaign = repo.command(name, command, now=now)
        except CampaignNotFound:
            raise _no_campaign(name) from None
        except IllegalCampaignStatus as exc:
            sources = " or ".join(sorted(s.value for s in COMMANDS[command][0]))
            raise ApiError(
                409,
                "illegal_transition",
                f"campaign {name} is {exc.current}: {command} goes from {sources} "
                f"to {exc.target}, not from {exc.current}",
            ) from None
        return {"name": campaign.name, "status": campaign.status.value}

    async def export(self, req: ApiRequest) -> Reply:
        query: ExportQuery = req.query
        name = req.params["name"]
        data: bytes = await self._run(self._export, name, query.format)
        kind = "text/csv; charset=utf-8" if query.format == "csv" else NDJSON_TYPE
        filename = f"{name}.{query.format}"
        disposition = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{filename}"
        return Reply(raw=data, content_type=kind, headers={"Content-Disposition": disposition})

    def _export(self, repo: CampaignRepo, name: str, kind: str) -> bytes:
        if repo.get(name) is None:
            raise _no_campaign(name)
        out = io.StringIO(newline="")
        write = _export_csv if kind == "csv" else _export_jsonl
        write(out, lambda: repo.leads(name), self.tz)
        encoding = "utf-8-sig" if kind == "csv" else "utf-8"  # Excel wants the BOM
        return out.getvalue().encode(encoding)

    def routes(self) -> list[Route]:
        sup, tags = Role.SUPERVISOR, ("campaigns",)
        one = "/campaigns/{name}"
        routes = [
            Route("POST", "/campaigns", self.create, "Create a campaign from a CSV call list",
                  tags, role=sup, query=CampaignCreateQuery, response=CampaignCreatedOut,
                  status=201, errors=(404, 409, 413), description=CREATE_TEXT,
                  body=CampaignCreateIn, raw_body=(CSV_TYPE,)),
            Route("GET", "/campaigns", self.list_campaigns, "Campaigns with their progress",
                  tags, role=sup, query=CampaignsQuery, response=CampaignsOut),
            Route("GET", one, self.get_campaign, "A campaign with its progress", tags,
                  role=sup, response=CampaignOut),
            Route("GET", f"{one}/export", self.export, "Every lead's outcome (CSV or JSON lines)",
                  tags, role=sup, query=ExportQuery, media_type=CSV_TYPE, description=EXPORT_TEXT,
                  more_media=(NDJSON_TYPE,)),
        ]  # fmt: skip
        for command, (sources, target) in COMMANDS.items():
            text = f"{command.capitalize()} a campaign ({', '.join(sorted(sources))} → {target})"
            change = self.command_handler(command)
            routes.append(Route("POST", f"{one}/{command}", change, text, tags, role=sup,
                                response=CampaignStatusOut, errors=(409,)))  # fmt: skip
        return routes


CREATE_TEXT = (
    "Send the CSV itself (`Content-Type: text/csv`, UTF-8 or CP949; settings in the query: "
    "`name` and `queue` required) or JSON `{name, queue, csv, ...}`. Columns: number "
    "(전화번호, required), name (이름), customer_id (고객번호), time_zone (시간대); others are "
    "kept for the agent. Bad rows are skipped; the first 100 come back in `rejects`."
)
EXPORT_TEXT = (
    "`format=csv`: text/csv, UTF-8 with a BOM (Excel); `format=jsonl`: application/x-ndjson, "
    "one lead per line with its extra columns. Times in the server's time zone."
)


def _media_type(req: ApiRequest) -> str:
    header = req.http.getHeader(b"content-type") or b""
    return header.split(b";")[0].strip().lower().decode("latin-1")


def _read_upload(content: IO[bytes]) -> bytes:
    content.seek(0)
    data = content.read(MAX_CSV + 1)
    if len(data) > MAX_CSV:
        raise ApiError(413, "too_large", f"the CSV is larger than {MAX_CSV} bytes: use the CLI")
    return data


def _from_query(query: CampaignCreateQuery) -> NewCampaign:
    for field in ("name", "queue"):
        if getattr(query, field) is None:
            raise ApiError(400, f"bad_{field}", f"{field}: required in the query with a CSV body")
    given = query.model_dump(exclude_none=True)
    return NewCampaign(**given)


def _from_json(body: CampaignCreateIn) -> tuple[NewCampaign, bytes]:
    try:
        data = body.csv.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "bad_csv", "csv: not valid Unicode text") from None
    wanted = NewCampaign(**body.model_dump(exclude={"csv"}))
    return wanted, data


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
        )
    return str(exc)


def _no_campaign(name: str) -> ApiError:
    return not_found("no_such_campaign", f"no campaign {name!r}")
