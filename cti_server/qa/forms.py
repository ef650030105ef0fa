"""Evaluation forms and how an evaluation is scored: pure, no files and no clock.

A form (``cti_server/qa/forms/*.yaml``, read by :mod:`cti_server.qa.form_loader`) has
sections, and a section has questions. The scoring rules, which the desktop shows as they are:

* A question is ``yes_no`` (``"yes"`` is worth 1, ``"no"`` 0) or ``scale`` with ``max: N``
  (an integer 0..N, worth answer/N). ``"na"`` (not applicable) is accepted only where the
  question says ``na: true``; an n/a question drops out of its section: it neither earns nor
  loses anything.
* A section's score is Σ weight * worth / Σ weight over its questions that were not n/a, as
  0..100. A section whose questions are all n/a (or all weigh 0) is n/a and drops out of the
  total.
* The total is Σ section weight * section score / Σ section weight over the sections that
  count, rounded half up to one decimal. Weights are relative: 10/20/30 means 1/2/3.
* A ``critical`` question *fails* when answered ``"no"`` (yes/no) or below its ``pass_mark``
  (scale; default 1, so only 0 fails). One failed critical question makes the total 0.0 and
  sets ``critical_failed``; the section scores and ``before_critical`` still show what went
  well, which is what coaching needs. A critical question answered n/a does not fail.
* Every question needs an answer (n/a is one); unknown question ids are refused, and so is an
  evaluation in which everything is n/a, as there is nothing left to score.

The arithmetic is exact (fractions over the weights' decimal text), so the same answers give
the same score on every machine and 84.25 rounds to 84.3, not to a binary neighbour.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

YES, NO, NA = "yes", "no", "na"
MAX_TEXT = 1000
Answer = str | int
"""``"yes"``, ``"no"``, ``"na"`` or a scale point."""
Loc = tuple[str | int, ...]

ItemId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
FormName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Weight = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Model):
    """The same words in both languages of the desktop."""

    ko: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    en: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class Question(_Model):
    id: ItemId
    text: Text
    help: Text | None = None  # what the evaluator listens for
    type: Literal["yes_no", "scale"] = "yes_no"
    max: int | None = Field(None, ge=1, le=100, description="scale: answers are 0..max")
    weight: Weight = 1.0
    na: bool = False  # "na" is an accepted answer
    critical: bool = False
    pass_mark: int | None = Field(None, ge=1, description="critical scale: lower answers fail")

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if self.type == "scale" and self.max is None:
            raise ValueError("a scale question needs max (answers are 0..max)")
        if self.type == "yes_no" and self.max is not None:
            raise ValueError("max is for scale questions; a yes_no question is answered yes or no")
        if self.pass_mark is not None:
            if self.type != "scale" or not self.critical:
                raise ValueError("pass_mark is for critical scale questions")
            if self.max is not None and self.pass_mark > self.max:
                raise ValueError(f"pass_mark {self.pass_mark} is above max {self.max}")
        return self

    def worth(self, answer: Answer) -> Fraction | None:
        """0..1 for a checked answer; None for n/a."""
        if answer == NA:
            return None
        if self.type == "yes_no":
            return Fraction(1 if answer == YES else 0)
        assert isinstance(answer, int) and self.max is not None
        return Fraction(answer, self.max)

    def fails(self, answer: Answer) -> bool:
        """Whether this answer is a critical failure (never for a question that is not critical)."""
        if not self.critical or answer == NA:
            return False
        if self.type == "yes_no":
            return answer == NO
        return isinstance(answer, int) and answer < (self.pass_mark or 1)

    def check(self, answer: object) -> Answer:
        """The answer if this question accepts it; ValueError saying what it accepts otherwise."""
        accepted = "yes or no" if self.type == "yes_no" else f"an integer 0..{self.max}"
        if self.na:
            accepted += ' or "na"'
        if answer == NA and isinstance(answer, str):
            if not self.na:
                raise ValueError(f"cannot be n/a: answer {accepted}")
            return NA
        if self.type == "yes_no":
            if isinstance(answer, str) and answer in (YES, NO):
                return answer
        elif isinstance(answer, int) and not isinstance(answer, bool):
            assert self.max is not None
            if 0 <= answer <= self.max:
                return answer
        raise ValueError(f"{answer!r} is not an answer: {accepted}")


class Section(_Model):
    id: ItemId
    title: Text
    weight: Weight = 1.0
    questions: Annotated[list[Question], Field(min_length=1, max_length=100)]


class Form(_Model):
    name: FormName
    title: Text
    description: Text | None = None
    sections: Annotated[list[Section], Field(min_length=1, max_length=50)]

    @cached_property
    def version(self) -> str:
        """A hash of the form's content: an evaluation keeps the version it was scored with,
        so a later edit of the file shows up instead of silently re-reading old answers."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @cached_property
    def questions(self) -> dict[str, tuple[Section, Question]]:
        """Every question by id, in form order, with its section."""
        return {q.id: (s, q) for s in self.sections for q in s.questions}


def form_problems(form: Form) -> list[tuple[Loc, str]]:
    """What the schema cannot see: ids used twice (answers are one flat mapping, so a question
    id is unique in the whole form) and a form in which nothing could ever earn points."""
    problems: list[tuple[Loc, str]] = []
    seen: dict[str, Loc] = {}
    for i, section in enumerate(form.sections):
        items: list[tuple[Loc, str]] = [(("sections", i, "id"), section.id)]
        items += [(("sections", i, "questions", j, "id"), q.id) for j, q in
                  enumerate(section.questions)]  # fmt: skip
        for loc, item in items:
            if item in seen:
                first = ".".join(str(p) for p in seen[item][:-1])
                problems.append((loc, f"id {item!r} is already used at {first}"))
            else:
                seen[item] = loc
    if not any(s.weight > 0 and any(q.weight > 0 for q in s.questions) for s in form.sections):
        problems.append((("sections",), "no question can earn points: every weight is 0"))
    return problems


class AnswerError(ValueError):
    """Answers that do not fit the form; ``problems`` pairs a question id with the reason."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"answers.{q}: {why}" for q, why in problems))
        self.problems = problems


def check_answers(form: Form, answers: Mapping[str, object]) -> dict[str, Answer]:
    """The answers in form order, each checked against its question; every problem at once."""
    problems: list[tuple[str, str]] = []
    checked: dict[str, Answer] = {}
    for qid, (_, question) in form.questions.items():
        if qid not in answers:
            problems.append((qid, "not answered" + (' (use "na")' if question.na else "")))
            continue
        try:
            checked[qid] = question.check(answers[qid])
        except ValueError as exc:
            problems.append((qid, str(exc)))
    problems += [(str(k), f"no such question in form {form.name}") for k in answers
                 if k not in form.questions]  # fmt: skip
    if not problems and all(a == NA for a in checked.values()):
        problems.append((next(iter(form.questions)), "every answer is n/a: nothing to score"))
    if problems:
        raise AnswerError(problems)
    return checked


@dataclass(frozen=True, slots=True)
class SectionScore:
    id: str
    weight: float
    score: float | None  # 0..100, one decimal; None when every question was n/a


@dataclass(frozen=True, slots=True)
class Score:
    total: float  # 0..100, one decimal; 0.0 after a critical failure
    before_critical: float | None  # what the total would be without the critical rule
    critical_failed: bool
    failed_critical: tuple[str, ...]  # the critical questions that failed, in form order
    sections: tuple[SectionScore, ...]


def score(form: Form, answers: Mapping[str, object]) -> Score:
    """Score ``answers`` (raises :class:`AnswerError` when they do not fit the form)."""
    checked = check_answers(form, answers)
    parts: list[SectionScore] = []
    earned, weights = Fraction(0), Fraction(0)
    for section in form.sections:
        value = _section_value(section, checked)
        parts.append(SectionScore(section.id, section.weight, _percent(value)))
        if value is not None and section.weight > 0:
            earned += _exact(section.weight) * value
            weights += _exact(section.weight)
    total = _percent(earned / weights) if weights else None
    failed = tuple(q.id for _, q in form.questions.values() if q.fails(checked[q.id]))
    if total is None and not failed:  # only weightless questions were answered
        raise AnswerError([(next(iter(form.questions)), "no weighted question was answered")])
    return Score(
        total=0.0 if failed or total is None else total,
        before_critical=total,
        critical_failed=bool(failed),
        failed_critical=failed,
        sections=tuple(parts),
    )


def _section_value(section: Section, answers: Mapping[str, Answer]) -> Fraction | None:
    earned, weights = Fraction(0), Fraction(0)
    for question in section.questions:
        worth = question.worth(answers[question.id])
        if worth is None or question.weight == 0:
            continue
        earned += _exact(question.weight) * worth
        weights += _exact(question.weight)
    return earned / weights if weights else None


def _exact(weight: float) -> Fraction:
    return Fraction(str(weight))  # the decimal the file said, not its binary neighbour


def _percent(value: Fraction | None) -> float | None:
    """0..1 as a percentage with one decimal, half up."""
    if value is None:
        return None
    return math.floor(value * 1000 + Fraction(1, 2)) / 10


def form_json(form: Form) -> dict[str, Any]:
    """The form as the API sends it: its content plus its version."""
    return {**form.model_dump(mode="json"), "version": form.version}


__all__ = [
    "NA",
    "NO",
    "YES",
    "Answer",
    "AnswerError",
    "Form",
    "Question",
    "Score",
    "Section",
    "SectionScore",
    "Text",
    "check_answers",
    "form_json",
    "form_problems",
    "score",
]
