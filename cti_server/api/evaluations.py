"""Quality evaluations over the API (issue 11): forms, scoring a recording, the agent's reply.

* ``GET /qa/forms``, ``GET /qa/forms/{name}``: the evaluation forms (anyone logged in: an
  agent may read what it is scored against).
* ``POST /recordings/{recording_id}/evaluations`` (supervisors): score a recorded call with
  a form. The answers are checked against the form (400 ``bad_answers`` naming each question
  that is wrong, missing or unknown) and scored here, so what is stored is what the form
  said; a second save by the same supervisor corrects theirs (``created: false``). Nobody
  scores their own call, and a voice message or a call without an agent is 409.
* ``GET /recordings/{recording_id}/evaluations``: every evaluator's evaluation (names kept:
  it is a coaching tool), and for supervisors the calibration spread per form used. An agent
  sees the evaluations of its own recordings only.
* ``GET /evaluations?agent_id=&from=&to=``: evaluations made in a period with their count,
  mean, min and max (an agent: its own). ``from``/``to`` are read as ``/stats`` reads them.
* ``GET /evaluations/{id}``; ``POST /evaluations/{id}/comment``: the evaluated agent's reply,
  by that agent only.

Database work runs in the thread pool (``blocking``) on the sync repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred

from cti_server.api.evaluation_models import (
    AgentCommentIn,
    EvaluationIn,
    EvaluationOut,
    EvaluationSavedOut,
    EvaluationsOut,
    EvaluationsQuery,
    FormOut,
    FormsOut,
    RecordingEvaluationsOut,
)
from cti_server.api.router import ApiError, ApiRequest, Route, forbidden, not_found
from cti_server.auth import Principal, Role
from cti_server.qa.calibration import Scored, calibrate
from cti_server.qa.form_loader import load_forms
from cti_server.qa.forms import AnswerError, Form, check_answers, form_json, score
from cti_server.storage.db import Database
from cti_server.storage.evaluations import (
    Evaluation,
    EvaluationError,
    EvaluationRepo,
    NotEvaluable,
    NotTheAgent,
    RecordingFacts,
    UnknownEvaluation,
    UnknownRecording,
)
from metrics.periods import PeriodError, parse_moment

Blocking = Callable[..., "Deferred[Any]"]
MAX_SPAN = timedelta(days=3 * 366)
MAX_ID = 2**31 - 1


class EvaluationsApi:
    def __init__(
        self,
        database: Database,
        forms: Mapping[str, Form],
        tz: ZoneInfo,
        blocking: Blocking,
        clock: Callable[[], float],
    ) -> None:
        self.database = database
        self.forms = dict(forms)
        self.tz = tz
        self.blocking = blocking
        self.clock = clock

    async def _run(self, f: Callable[..., Any], *args: Any) -> Any:
        try:
            return await self.blocking(f, EvaluationRepo(self.database), *args)
        except SQLAlchemyError as exc:
            raise ApiError(503, "database_unavailable", str(exc).splitlines()[0]) from None

    # --- forms -----------------------------------------------------------------------------

    def list_forms(self, req: ApiRequest) -> dict[str, Any]:
        return {"forms": [
            {"name": f.name, "title": f.title.model_dump(), "version": f.version,
             "sections": len(f.sections), "questions": len(f.questions)}
            for f in sorted(self.forms.values(), key=lambda f: f.name)
        ]}  # fmt: skip

    def get_form(self, req: ApiRequest) -> dict[str, Any]:
        form = self.forms.get(req.params["name"])
        if form is None:
            raise not_found("no_such_form", f"no evaluation form {req.params['name']!r}")
        return form_json(form)

    # --- scoring ---------------------------------------------------------------------------

    async def evaluate(self, req: ApiRequest) -> dict[str, Any]:
        body: EvaluationIn = req.body
        now = datetime.fromtimestamp(self.clock(), UTC)
        saved: dict[str, Any] = await self._run(
            self._evaluate, req.params["recording_id"], req.user, body, now
        )
        return saved

    def _evaluate(
        self, repo: EvaluationRepo, recording_id: str, user: Principal, body: EvaluationIn,
        now: datetime,
    ) -> dict[str, Any]:  # fmt: skip
        facts = _recording(repo, recording_id)
        if user.agent_id is not None and facts.agent_id == user.agent_id:
            raise forbidden("nobody evaluates their own call")
        if facts.kind != "call" or not facts.agent_id:
            raise ApiError(409, "not_evaluable", _why_not(facts))
        form = self.forms.get(body.form)
        if form is None:
            known = ", ".join(sorted(self.forms)) or "none"
            raise ApiError(400, "bad_form", f"form: no evaluation form {body.form!r} ({known})")
        try:
            answers = check_answers(form, body.answers)
            result = score(form, answers)
        except AnswerError as exc:
            raise ApiError(400, "bad_answers", str(exc)) from None
        try:
            evaluation, created = repo.save(
                recording_id, user.username, form=form.name, form_version=form.version,
                answers=answers, score=result.total,
                critical_failed=result.critical_failed, comment=body.comment, now=now,
            )  # fmt: skip
        except UnknownRecording as exc:
            raise not_found("no_such_recording", str(exc)) from None
        except NotEvaluable as exc:
            raise ApiError(409, "not_evaluable", str(exc)) from None
        except EvaluationError as exc:
            raise ApiError(400, "bad_comment", str(exc)) from None
        return {**self._json(evaluation), "created": created}

    # --- reading ---------------------------------------------------------------------------

    async def recording_evaluations(self, req: ApiRequest) -> dict[str, Any]:
        found: dict[str, Any] = await self._run(
            self._recording_evaluations, req.params["recording_id"], req.user
        )
        return found

    def _recording_evaluations(
        self, repo: EvaluationRepo, recording_id: str, user: Principal
    ) -> dict[str, Any]:
        facts = _recording(repo, recording_id)
        if not user.may_act_for(facts.agent_id):
            raise forbidden(f"recording {recording_id} is not one of your calls")
        evaluations = repo.for_recording(recording_id)
        calibration = None
        if user.supervises:
            by_form: dict[str, list[Evaluation]] = {}
            for e in evaluations:
                by_form.setdefault(e.form, []).append(e)
            calibration = [
                calibrate(name, self.forms.get(name), [
                    Scored(e.evaluator, e.score, e.critical_failed, e.answers) for e in group
                ]).to_json()
                for name, group in sorted(by_form.items())
            ]  # fmt: skip
        return {
            "recording": {"id": facts.id, "call_id": facts.call_id, "agent_id": facts.agent_id,
                          "kind": facts.kind, "started_at": self._time(facts.started_at)},
            "evaluations": [self._json(e) for e in evaluations],
            "calibration": calibration,
        }  # fmt: skip

    async def list_evaluations(self, req: ApiRequest) -> dict[str, Any]:
        query: EvaluationsQuery = req.query
        user = req.user
        agent_id = query.agent_id
        if not user.supervises:
            if agent_id is not None and agent_id != user.agent_id:
                raise forbidden(f"agent {agent_id}'s evaluations are not yours")
            if user.agent_id is None:
                raise forbidden("this user is not an agent and has no evaluations")
            agent_id = user.agent_id
        start, end = self.period(query.from_, query.to)
        rows: list[Evaluation] = await self._run(
            lambda repo: repo.for_agent(agent_id, start, end, limit=query.limit)
        )
        scores = [e.score for e in rows]
        return {
            "from": self._time(start),
            "to": self._time(end),
            "tz": str(self.tz),
            "agent_id": agent_id,
            "summary": {
                "n": len(scores),
                "mean": round(sum(scores) / len(scores), 2) if scores else None,
                "min": min(scores, default=None),
                "max": max(scores, default=None),
                "critical_failed": sum(1 for e in rows if e.critical_failed),
            },
            "evaluations": [self._json(e) for e in rows],
        }

    def period(self, first: str | None, last: str | None) -> tuple[datetime, datetime]:
        """``[start, end)`` from the query (default: this month); a 400 otherwise."""
        month = datetime.fromtimestamp(self.clock(), self.tz).strftime("%Y-%m")
        try:
            start, unit_end = parse_moment(first or month, self.tz)
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

    async def get_evaluation(self, req: ApiRequest) -> dict[str, Any]:
        evaluation_id, user = _evaluation_id(req), req.user
        found: Evaluation | None = await self._run(lambda repo: repo.get(evaluation_id))
        if found is None or not user.may_act_for(found.agent_id):
            # Another agent's evaluation is not there for this agent: no hint it exists.
            raise _no_evaluation(evaluation_id)
        return self._json(found)

    async def comment(self, req: ApiRequest) -> dict[str, Any]:
        evaluation_id, user = _evaluation_id(req), req.user
        body: AgentCommentIn = req.body
        agent_id = user.agent_id
        if agent_id is None:
            raise forbidden("only the evaluated agent replies to an evaluation")
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            done: Evaluation = await self._run(
                lambda repo: repo.add_agent_comment(evaluation_id, agent_id, body.comment, now)
            )
        except UnknownEvaluation:
            raise _no_evaluation(evaluation_id) from None
        except NotTheAgent as exc:
            raise forbidden(f"only the evaluated agent replies: {exc}") from None
        except EvaluationError as exc:
            raise ApiError(400, "bad_comment", str(exc)) from None
        return self._json(done)

    # --- answers ---------------------------------------------------------------------------

    def _time(self, at: datetime | None) -> str | None:
        return at.astimezone(self.tz).isoformat(timespec="seconds") if at else None

    def _json(self, e: Evaluation) -> dict[str, Any]:
        form = self.forms.get(e.form)
        current = form is not None and form.version == e.form_version
        result = None
        if current:
            assert form is not None
            try:
                result = score(form, e.answers)
            except AnswerError:  # stored answers are checked ones; kept safe all the same
                result = None
        sections = None
        if result is not None:
            sections = [{"id": s.id, "weight": s.weight, "score": s.score} for s in result.sections]
        return {
            "id": e.id,
            "recording_id": e.recording_id,
            "call_id": e.call_id,
            "agent_id": e.agent_id,
            "evaluator": e.evaluator,
            "form": e.form,
            "form_version": e.form_version,
            "form_current": current,
            "answers": e.answers,
            "score": e.score,
            "critical_failed": e.critical_failed,
            "failed_critical": list(result.failed_critical) if result else [],
            "before_critical": result.before_critical if result else None,
            "sections": sections,
            "comment": e.comment,
            "agent_comment": e.agent_comment,
            "agent_commented_at": self._time(e.agent_commented_at),
            "created_at": self._time(e.created_at),
            "updated_at": self._time(e.updated_at),
        }

    def routes(self) -> list[Route]:
        sup, tags = Role.SUPERVISOR, ("evaluations",)
        one = "/evaluations/{evaluation_id}"
        on_recording = "/recordings/{recording_id}/evaluations"
        return [
            Route("GET", "/qa/forms", self.list_forms, "Evaluation forms", tags,
                  response=FormsOut),
            Route("GET", "/qa/forms/{name}", self.get_form, "An evaluation form, whole", tags,
                  response=FormOut),
            Route("POST", on_recording, self.evaluate, "Score a recorded call with a form",
                  tags, role=sup, body=EvaluationIn, response=EvaluationSavedOut,
                  errors=(409,), description=EVALUATE_TEXT),
            Route("GET", on_recording, self.recording_evaluations,
                  "A recording's evaluations (supervisors: with the calibration spread)", tags,
                  response=RecordingEvaluationsOut),
            Route("GET", "/evaluations", self.list_evaluations,
                  "Evaluations made in a period (an agent: its own)", tags,
                  query=EvaluationsQuery, response=EvaluationsOut),
            Route("GET", one, self.get_evaluation, "An evaluation", tags,
                  response=EvaluationOut),
            Route("POST", f"{one}/comment", self.comment,
                  "The evaluated agent's reply to an evaluation", tags, body=AgentCommentIn,
                  response=EvaluationOut),
        ]  # fmt: skip


EVALUATE_TEXT = (
    'Answers map every question id of the form to "yes", "no", "na" (where the question '
    "allows it) or a scale point 0..max; a failed critical question makes the score 0. "
    "Saving again corrects your own evaluation. 평가표의 모든 문항에 답해야 합니다."
)


def evaluation_routes(parts: Any, forms: Mapping[str, Form] | None = None) -> list[Route]:
    """The routes over ``parts`` (an :class:`~cti_server.api.site.ApiParts`); none without a
    database. ``forms`` defaults to the packaged ones (``cti_server/qa/forms``)."""
    if parts.database is None:
        return []
    api = EvaluationsApi(parts.database, forms if forms is not None else load_forms(),
                         parts.tz, parts.blocking, parts.clock)  # fmt: skip
    return api.routes()


def _recording(repo: EvaluationRepo, recording_id: str) -> RecordingFacts:
    facts = repo.recording(recording_id) if "\x00" not in recording_id else None
    if facts is None:
        raise not_found("no_such_recording", f"no recording {recording_id!r}")
    return facts


def _why_not(facts: RecordingFacts) -> str:
    if facts.kind != "call":
        return f"recording {facts.id} is a {facts.kind}, not a call"
    return f"recording {facts.id} has no agent to evaluate"


def _evaluation_id(req: ApiRequest) -> int:
    raw = req.params["evaluation_id"]
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise not_found("no_such_evaluation", f"no evaluation {raw!r}")
    return int(raw)


def _no_evaluation(evaluation_id: int) -> ApiError:
    return not_found("no_such_evaluation", f"no evaluation {evaluation_id}")


__all__ = ["EvaluationsApi", "evaluation_routes"]
