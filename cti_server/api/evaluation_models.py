"""Request and answer models of the evaluation routes (issue 11, quality evaluations).

Built on the API's bases (:mod:`cti_server.api.models`): requests forbid unknown fields,
answers name every field they send. An answer to a question is ``"yes"``, ``"no"``, ``"na"``
or a scale point; whether it fits the question is the form's business
(:func:`cti_server.qa.forms.check_answers`), so a wrong one is a 400 naming the question.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from cti_server.api.models import In, Out, Query
from cti_server.qa.forms import Section, Text

FORM_NAME = r"^[A-Za-z0-9_\-]{1,64}$"
MAX_COMMENT = 4000
AnswerIn = Annotated[str, Field(max_length=16)] | Annotated[int, Field(ge=-1000, le=1000)]
AnswerOut = str | int

# --- forms ---------------------------------------------------------------------------------


class FormSummaryOut(Out):
    name: str
    title: Text
    version: str = Field(description="a hash of the form's content")
    sections: int
    questions: int


class FormsOut(Out):
    forms: list[FormSummaryOut]


class FormOut(Out):
    """The whole form, as the desktop draws the scoring sheet from it."""

    name: str
    title: Text
    description: Text | None
    sections: list[Section]
    version: str


# --- scoring a recording -------------------------------------------------------------------


class EvaluationIn(In):
    form: str = Field(pattern=FORM_NAME, description="an evaluation form (GET /qa/forms)")
    answers: dict[Annotated[str, Field(max_length=64)], AnswerIn] = Field(
        max_length=500,
        description='question id -> "yes", "no", "na" (where allowed) or a scale point 0..max',
    )
    comment: str | None = Field(None, max_length=MAX_COMMENT, description="for the agent")


class SectionScoreOut(Out):
    id: str
    weight: float
    score: float | None = Field(description="0..100; null when every question was n/a")


class EvaluationOut(Out):
    id: int
    recording_id: str
    call_id: str
    agent_id: str
    evaluator: str = Field(description="the supervisor's user name")
    form: str
    form_version: str
    form_current: bool = Field(description="scored with the form as it is now")
    answers: dict[str, AnswerOut]
    score: float = Field(description="0..100, one decimal; 0 after a critical failure")
    critical_failed: bool
    failed_critical: list[str] = Field(description="critical questions failed (current form)")
    before_critical: float | None = Field(description="the total without the critical rule")
    sections: list[SectionScoreOut] | None = Field(
        description="per section; null when the form has changed since"
    )
    comment: str | None
    agent_comment: str | None
    agent_commented_at: str | None
    created_at: str = Field(description="ISO 8601 in the server's time zone")
    updated_at: str


class EvaluationSavedOut(EvaluationOut):
    created: bool = Field(description="false: the evaluator's earlier evaluation was corrected")


class AgentCommentIn(In):
    comment: str = Field(max_length=MAX_COMMENT, description="empty removes the reply")


# --- one recording's evaluations and their calibration ---------------------------------------


class QuestionSpreadOut(Out):
    id: str
    section: str
    critical: bool
    answers: dict[str, AnswerOut] = Field(description="evaluator -> answer")
    spread: float = Field(description="0..1: highest minus lowest worth, n/a left out")
    agreement: float = Field(description="share of evaluators giving the most common answer")
    agreed: bool


class CalibrationOut(Out):
    form: str
    n: int
    mean: float | None
    min: float | None
    max: float | None
    range: float | None
    stdev: float | None = Field(description="population standard deviation of the totals")
    critical_split: bool = Field(description="some evaluators found a critical failure, some not")
    scores: dict[str, float] = Field(description="evaluator -> total")
    questions: list[QuestionSpreadOut]
    disagreements: list[str] = Field(description="questions answered differently, widest first")


class RecordingRefOut(Out):
    id: str
    call_id: str
    agent_id: str | None
    kind: str
    started_at: str


class RecordingEvaluationsOut(Out):
    recording: RecordingRefOut
    evaluations: list[EvaluationOut]
    calibration: list[CalibrationOut] | None = Field(
        description="per form used; supervisors only (null for agents)"
    )


# --- evaluations of a period -----------------------------------------------------------------


class EvaluationsQuery(Query):
    agent_id: str | None = Field(None, max_length=64, description="an agent: its own only")
    from_: str | None = Field(None, alias="from", description="2026-12-01 (default: this month)")
    to: str | None = Field(None, description="exclusive; default: the end of from's unit")
    limit: int = Field(500, ge=1, le=5000)


class EvaluationSummaryOut(Out):
    n: int
    mean: float | None
    min: float | None
    max: float | None
    critical_failed: int


class EvaluationsOut(Out):
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)

    from_: str = Field(alias="from", description="ISO 8601 in the server's time zone")
    to: str
    tz: str
    agent_id: str | None
    summary: EvaluationSummaryOut = Field(description="over the evaluations listed")
    evaluations: list[EvaluationOut]
