"""Recording review over the API (issue 11): find recorded calls, open one, hear it.

* ``GET /review/recordings?agent_id=&queue=&customer_id=&call_id=&from=&to=&min_duration=
  &max_duration=&outcome=&disposition=&limit=&offset=``: recorded calls, newest first, with
  the caller, the outcome and dispositions from the call, and the evaluation count and mean.
  Supervisors search everyone's; an agent only its own (another agent's id is a 403).
* ``GET /review/recordings/{id}``: the recording, the call's summary and its timeline (IVR,
  queue, offers, answer, transfers, clear, wrap-up, recorder marks) with each entry's offset
  into the audio, the dispositions and the evaluations' summary. Logged as a ``view``.
* ``GET /review/recordings/{id}/audio``: the stereo WAV (caller left, agent right). One
  ``Range: bytes=`` range is honoured (206), so a player can seek without the whole file; a
  request from the first byte is logged as a ``play``. ``?download=1`` sends it as an
  attachment, logged as a ``download``, for the roles in ``ReviewSettings.download_roles``.
* ``GET /review/recordings/{id}/access`` (supervisors): the recording's access log.

An agent hears only its own recordings: any other is a 403 before a byte is read. Database
and file work runs in the thread pool (``blocking``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred

from cti_server.api.review_models import (
    AccessLogOut,
    AccessLogQuery,
    AudioQuery,
    ReviewDetailOut,
    ReviewListOut,
    ReviewQuery,
    ReviewSettings,
)
from cti_server.api.router import ApiError, ApiRequest, Reply, Route, forbidden, not_found
from cti_server.auth import Principal, Role
from cti_server.storage.db import Database
from cti_server.storage.dispositions import DispositionRepo
from cti_server.storage.evaluations import EvaluationRepo
from cti_server.storage.review import ReviewFilter, ReviewItem, ReviewRepo
from metrics.call_record import CallRecord
from metrics.call_timeline import call_timeline
from metrics.periods import PeriodError, parse_moment

Blocking = Callable[..., "Deferred[Any]"]
MAX_SPAN = timedelta(days=3 * 366)
WAV = "audio/wav"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_AUDIBLE = ("complete", "repaired", "failed")


@dataclass(frozen=True, slots=True)
class Audio:
    data: bytes
    start: int
    size: int
    partial: bool


class ReviewApi:
    def __init__(
        self,
        database: Database,
        tz: ZoneInfo,
        blocking: Blocking,
        clock: Callable[[], float],
        settings: ReviewSettings | None = None,
    ) -> None:
        self.database = database
        self.tz = tz
        self.blocking = blocking
        self.clock = clock
        self.settings = settings or ReviewSettings()

    async def _run(self, f: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.blocking(f, ReviewRepo(self.database), *args)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _time(self, at: datetime | float | None) -> str | None:
        if at is None:
            return None
        moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
        return moment.astimezone(self.tz).isoformat(timespec="seconds")

    # --- search ----------------------------------------------------------------------------

    async def search(self, req: ApiRequest) -> dict[str, Any]:
        q: ReviewQuery = req.query
        user = req.user
        agent_id = q.agent_id
        if not user.supervises:
            if user.agent_id is None:
                raise forbidden("this user is not an agent and has no recordings")
            if agent_id is not None and agent_id != user.agent_id:
                raise forbidden(f"agent {agent_id}'s recordings are not yours")
            agent_id = user.agent_id
        start, end = self._period(q.from_, q.to)
        low, high = q.min_duration, q.max_duration
        if low is not None and high is not None and low > high:
            raise ApiError(400, "bad_query", "min_duration is above max_duration")
        found = ReviewFilter(
            agent_id=agent_id, queue=q.queue, customer_id=q.customer_id, call_id=q.call_id,
            since=start, until=end, min_duration=q.min_duration, max_duration=q.max_duration,
            outcome=q.outcome, disposition=q.disposition,
        )  # fmt: skip
        items, more = await self._run(
            lambda repo: repo.search(found, limit=q.limit, offset=q.offset)
        )
        return {
            "from": self._time(start),
            "to": self._time(end),
            "tz": str(self.tz),
            "count": len(items),
            "more": more,
            "recordings": [self._item(i) for i in items],
        }

    def _period(self, first: str | None, last: str | None) -> tuple[datetime | None, ...]:
        """``[start, end)`` from the query: open ends stay None; ``to`` defaults to the end
        of ``from``'s unit (``from=2026-12-04`` alone is that day)."""
        if first is None and last is None:
            return None, None
        try:
            start, unit_end = parse_moment(first, self.tz) if first else (None, None)
            end = parse_moment(last, self.tz)[0] if last else unit_end
            for bound in (start, end):
                if bound is not None and not 1970 <= bound.year <= 9998:
                    raise PeriodError("the period must lie between 1970 and 9998")
        except (PeriodError, ValueError, OverflowError) as exc:
            raise ApiError(400, "bad_query", str(exc)) from None
        if start is not None and end is not None:
            if end <= start:
                raise ApiError(400, "bad_query", f"to ({end.isoformat()}) is not after from")
            if end - start > MAX_SPAN:
                raise ApiError(400, "bad_query", f"the period is longer than {MAX_SPAN.days} days")
        return start, end

    def _item(self, i: ReviewItem) -> dict[str, Any]:
        return {
            "id": i.id, "call_id": i.call_id, "agent_id": i.agent_id, "queue": i.queue,
            "customer_id": i.customer_id, "started_at": self._time(i.started_at),
            "ended_at": self._time(i.ended_at), "duration_s": round(i.duration_s, 2),
            "status": i.status, "caller": i.caller, "called": i.called, "outcome": i.outcome,
            "dispositions": list(i.dispositions), "evaluations": i.evaluations,
            "score_mean": i.score_mean,
        }  # fmt: skip

    # --- one recording ---------------------------------------------------------------------

    async def detail(self, req: ApiRequest) -> dict[str, Any]:
        found: dict[str, Any] = await self._run(
            self._detail, req.params["recording_id"], req.user, self._now()
        )
        return found

    def _detail(self, repo: ReviewRepo, recording_id: str, user: Principal,
                now: datetime) -> dict[str, Any]:  # fmt: skip
        item, data = _allowed(repo, recording_id, user)
        record = _record(data)
        marks = [s for s in item.segments if "offset_s" in s]
        timeline = call_timeline(record, item.started_at.timestamp(), marks)
        dispositions = DispositionRepo(self.database).for_call(item.call_id)
        evaluations = EvaluationRepo(self.database).for_recording(item.id)
        scores = [e.score for e in evaluations]
        repo.log_access(item.id, user.username, "view", now)
        return {
            "recording": self._item(item),
            "call": _summary(record),
            "timeline": [{**e.to_json(), "at": self._time(e.at)} for e in timeline],
            "dispositions": [
                {"agent_id": d.agent_id, "disposition": d.disposition, "notes": d.notes,
                 "created_at": self._time(d.created_at), "updated_at": self._time(d.updated_at)}
                for d in dispositions if user.may_act_for(d.agent_id)
            ],
            "evaluations": {
                "n": len(scores),
                "mean": round(sum(scores) / len(scores), 1) if scores else None,
                "min": min(scores, default=None),
                "max": max(scores, default=None),
                "critical_failed": sum(1 for e in evaluations if e.critical_failed),
                "mine": next((e.id for e in evaluations if e.evaluator == user.username), None),
            },
            "audio": item.status in _AUDIBLE and item.bytes > 0,
            "can_download": self.may_download(user),
            "can_evaluate": user.supervises and item.kind == "call" and bool(item.agent_id)
            and item.agent_id != user.agent_id,
        }  # fmt: skip

    def may_download(self, user: Principal) -> bool:
        return user.role.value in self.settings.download_roles

    # --- audio -----------------------------------------------------------------------------

    async def audio(self, req: ApiRequest) -> Reply:
        query: AudioQuery = req.query
        user, download = req.user, query.download == "1"
        if download and not self.may_download(user):
            raise forbidden(f"downloading recordings is not allowed for the {user.role} role")
        header = req.http.getHeader(b"range")
        wanted = header.decode("latin-1").strip() if header else None
        rid = req.params["recording_id"]
        head = req.http.method == b"HEAD"  # asks what a play would get: not a play
        audio: Audio = await self._run(
            self._audio, rid, user, wanted, download, None if head else self._now()
        )
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(len(audio.data))}
        if audio.partial:
            end = audio.start + len(audio.data) - 1
            headers["Content-Range"] = f"bytes {audio.start}-{end}/{audio.size}"
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", rid)[:100] or "recording"
        kind = "attachment" if download else "inline"
        headers["Content-Disposition"] = f'{kind}; filename="{name}.wav"'
        return Reply(raw=audio.data, status=206 if audio.partial else 200, content_type=WAV,
                     headers=headers)  # fmt: skip

    def _audio(self, repo: ReviewRepo, recording_id: str, user: Principal, wanted: str | None,
               download: bool, now: datetime | None) -> Audio:  # fmt: skip
        item, _ = _allowed(repo, recording_id, user)
        if item.status == "recording":
            raise ApiError(409, "still_recording", f"recording {item.id} is still being made")
        if item.status == "deleted":
            raise ApiError(410, "gone", f"recording {item.id} was deleted (retention)")
        try:
            with Path(item.path).open("rb") as f:
                size = f.seek(0, 2)
                span = None if download else _range(wanted, size)
                start, length = span if span is not None else (0, size)
                f.seek(start)
                data = f.read(length)
        except OSError:
            raise ApiError(410, "gone", f"the audio of recording {item.id} is gone") from None
        if now is not None and (download or start == 0):  # a seek is not another play
            repo.log_access(item.id, user.username, "download" if download else "play", now)
        return Audio(data, start, size, span is not None)

    # --- the access log --------------------------------------------------------------------

    async def access(self, req: ApiRequest) -> dict[str, Any]:
        rid, query = req.params["recording_id"], req.query

        def read(repo: ReviewRepo) -> dict[str, Any]:
            _allowed(repo, rid, req.user)
            rows = repo.access_log(rid, limit=query.limit)
            return {"recording_id": rid, "accesses": [
                {"id": a.id, "username": a.username, "action": a.action, "at": self._time(a.at)}
                for a in rows
            ]}  # fmt: skip

        found: dict[str, Any] = await self._run(read)
        return found

    def routes(self) -> list[Route]:
        tags, one = ("review",), "/review/recordings/{recording_id}"
        return [
            Route("GET", "/review/recordings", self.search,
                  "Find recorded calls (an agent: its own)", tags, query=ReviewQuery,
                  response=ReviewListOut, errors=(503,)),
            Route("GET", one, self.detail,
                  "A recording with its call's timeline, dispositions and evaluations", tags,
                  response=ReviewDetailOut, errors=(503,)),
            Route("GET", f"{one}/audio", self.audio,
                  "The recording's audio (stereo WAV; one byte range honoured)", tags,
                  query=AudioQuery, media_type=WAV, errors=(409, 410, 416, 503),
                  description=AUDIO_TEXT),
            Route("GET", f"{one}/access", self.access, "Who played, downloaded or viewed it",
                  tags, role=Role.SUPERVISOR, query=AccessLogQuery, response=AccessLogOut,
                  errors=(503,)),
        ]  # fmt: skip


AUDIO_TEXT = (
    "Caller on the left channel, agent on the right, PCM16 at 8 kHz. Send `Range: bytes=a-b` "
    "for part of it (206). `?download=1` makes it an attachment, for the roles allowed to "
    "download. Every play (a request from the first byte) and download is logged. "
    "다른 상담원의 녹취는 들을 수 없습니다."
)


def review_routes(parts: Any, settings: ReviewSettings | None = None) -> list[Route]:
    """The routes over ``parts`` (an :class:`~cti_server.api.site.ApiParts`); none without a
    database. ``settings`` default to :class:`ReviewSettings` (or ``parts.review`` if set)."""
    if parts.database is None:
        return []
    chosen = settings or getattr(parts, "review", None)
    api = ReviewApi(parts.database, parts.tz, parts.blocking, parts.clock, chosen)
    return api.routes()


def _allowed(
    repo: ReviewRepo, recording_id: str, user: Principal
) -> tuple[ReviewItem, dict[str, Any] | None]:
    found = repo.get(recording_id) if "\x00" not in recording_id else None
    if found is None:
        raise not_found("no_such_recording", f"no recording {recording_id!r}")
    if not user.may_act_for(found[0].agent_id):
        raise forbidden(f"recording {recording_id} is not one of your calls")
    return found


def _record(data: dict[str, Any] | None) -> CallRecord | None:
    if not data:
        return None
    try:
        return CallRecord.from_dict(data)
    except (TypeError, ValueError):  # a record this version cannot read: no timeline
        return None


def _summary(r: CallRecord | None) -> dict[str, Any] | None:
    if r is None:
        return None
    auth = None
    if r.auth is not None:
        auth = {"method": r.auth.method, "outcome": r.auth.outcome, "attempts": r.auth.attempts}
    return {
        "caller": r.caller, "called": r.called, "route": r.route, "customer_id": r.customer_id,
        "queues": list(r.queues), "overflow": r.overflow,
        "outcome": r.outcome.value if r.outcome else None, "cause": r.cause,
        "wait_seconds": r.wait_seconds, "talk_seconds": r.talk_seconds,
        "hold_seconds": r.hold_seconds, "holds": r.holds, "wrap_up_seconds": r.wrap_up_seconds,
        "auth": auth,
    }  # fmt: skip


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of one ``bytes=`` range (RFC 9110 §14.1.2); None: the whole file.
    Several ranges or another unit are answered with the whole file, which RFC 9110 allows;
    a range that starts past the end is a 416."""
    if not header:
        return None
    m = _RANGE.match(header.replace(" ", ""))
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # the last N bytes
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size)
        return size - length, length
    start = int(first)
    if last and int(last) < start:  # not a valid range: the header is ignored
        return None
    if start >= size:
        raise _unsatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    return start, end - start + 1


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(416, "range_not_satisfiable", f"the recording has {size} bytes",
                    {"Content-Range": f"bytes */{size}"})  # fmt: skip


__all__ = ["ReviewApi", "review_routes"]
