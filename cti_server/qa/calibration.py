"""Calibration: how far several evaluators of one recorded call disagree. Pure.

Supervisors score the same call on their own, then compare: a wide spread of totals, or a
question one of them passed and another failed, is what a calibration session talks about.
:func:`calibrate` takes the evaluations of one recording made with one form and gives:

* the spread of the totals: n, mean, min, max, range and the standard deviation. The
  deviation is the population one (these evaluators are the whole group being compared, not
  a sample), so one evaluation has 0, not "undefined"; mean and deviation have two decimals;
* ``critical_split``: some evaluators found a critical failure and others did not, the
  disagreement that changes a total from, say, 85 to 0;
* per question, in form order: each evaluator's answer, the ``spread`` of the answers' worth
  (0..1: highest minus lowest, n/a left out, so yes against no is 1.0 and 3 against 5 on a
  0..5 scale is 0.4) and the ``agreement`` (the share of evaluators giving the most common
  answer, n/a counting as an answer); ``disagreements`` lists the questions whose answers
  differ, the widest spread first.

Per-question figures need the form; without it (the file was removed) only the totals are
compared. Answers to questions the current form no longer has are left out.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cti_server.qa.forms import Answer, Form


@dataclass(frozen=True, slots=True)
class Scored:
    """One evaluator's evaluation of the call, as stored."""

    evaluator: str
    score: float
    critical_failed: bool
    answers: Mapping[str, Answer] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuestionSpread:
    id: str
    section: str
    critical: bool
    answers: dict[str, Answer]  # evaluator -> answer
    spread: float  # 0..1 between the highest and lowest worth; 0 with fewer than two values
    agreement: float  # share of evaluators giving the most common answer

    @property
    def agreed(self) -> bool:
        return len(set(map(repr, self.answers.values()))) <= 1


@dataclass(frozen=True, slots=True)
class Calibration:
    form: str
    n: int
    mean: float | None
    min: float | None
    max: float | None
    range: float | None
    stdev: float | None
    critical_split: bool
    scores: dict[str, float]  # evaluator -> total
    questions: tuple[QuestionSpread, ...]
    disagreements: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "n": self.n,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "range": self.range,
            "stdev": self.stdev,
            "critical_split": self.critical_split,
            "scores": dict(self.scores),
            "questions": [
                {
                    "id": q.id,
                    "section": q.section,
                    "critical": q.critical,
                    "answers": dict(q.answers),
                    "spread": q.spread,
                    "agreement": q.agreement,
                    "agreed": q.agreed,
                }
                for q in self.questions
            ],
            "disagreements": list(self.disagreements),
        }


def calibrate(form_name: str, form: Form | None, scored: Sequence[Scored]) -> Calibration:
    """The spread of ``scored`` (one recording's evaluations with form ``form_name``)."""
    totals = [s.score for s in scored]
    failed = {s.critical_failed for s in scored}
    questions = _questions(form, scored) if form is not None else ()
    differing = sorted(
        (q for q in questions if not q.agreed), key=lambda q: (-q.spread, q.agreement)
    )
    return Calibration(
        form=form_name,
        n=len(totals),
        mean=round(statistics.fmean(totals), 2) if totals else None,
        min=min(totals, default=None),
        max=max(totals, default=None),
        range=round(max(totals) - min(totals), 1) if totals else None,
        stdev=round(statistics.pstdev(totals), 2) if totals else None,
        critical_split=len(failed) > 1,
        scores={s.evaluator: s.score for s in scored},
        questions=questions,
        disagreements=tuple(q.id for q in differing),
    )


def _questions(form: Form, scored: Sequence[Scored]) -> tuple[QuestionSpread, ...]:
    out: list[QuestionSpread] = []
    for qid, (section, question) in form.questions.items():
        given = {s.evaluator: s.answers[qid] for s in scored if qid in s.answers}
        worths = [w for a in given.values() if (w := _worth(form, qid, a)) is not None]
        counts = Counter(map(repr, given.values()))
        out.append(
            QuestionSpread(
                id=qid,
                section=section.id,
                critical=question.critical,
                answers=given,
                spread=round(float(max(worths) - min(worths)), 2) if len(worths) > 1 else 0.0,
                agreement=round(counts.most_common(1)[0][1] / len(given), 2) if given else 1.0,
            )
        )
    return tuple(out)


def _worth(form: Form, qid: str, answer: Answer) -> float | None:
    """The answer's worth, or None for n/a and for an answer the form cannot read (stored
    under an older version of the form)."""
    question = form.questions[qid][1]
    try:
        worth = question.worth(question.check(answer))
    except ValueError:
        return None
    return None if worth is None else float(worth)


__all__ = ["Calibration", "QuestionSpread", "Scored", "calibrate"]
