"""Calibration of one call's evaluations: the spread of the totals, critical splits, and the
questions evaluators answered differently."""

from __future__ import annotations

import statistics

from cti_server.qa.calibration import Scored, calibrate
from cti_server.qa.forms import Form, score
from tests.unit.qa.test_forms import TWO


def scored(evaluator: str, **answers: str | int) -> Scored:
    result = score(TWO, answers)
    return Scored(evaluator, result.total, result.critical_failed, answers)


def test_spread_of_the_totals() -> None:
    group = [
        scored("kim", a1="yes", a2="yes", b1=4, b2="yes"),  # 100
        scored("lee", a1="no", a2="yes", b1=4, b2="yes"),  # 93.8
        scored("park", a1="yes", a2="no", b1=2, b2="na"),  # (25 + 3 * 50) / 4 = 43.8
    ]
    cal = calibrate("test", TWO, group)
    assert (cal.n, cal.min, cal.max, cal.range) == (3, 43.8, 100.0, 56.2)
    assert cal.mean == round(statistics.fmean([100.0, 93.8, 43.8]), 2) == 79.2
    assert cal.stdev == round(statistics.pstdev([100.0, 93.8, 43.8]), 2)
    assert cal.scores == {"kim": 100.0, "lee": 93.8, "park": 43.8}
    assert not cal.critical_split


def test_per_question_disagreement() -> None:
    group = [
        scored("kim", a1="yes", a2="yes", b1=4, b2="yes"),
        scored("lee", a1="yes", a2="no", b1=3, b2="yes"),
        scored("park", a1="yes", a2="no", b1=1, b2="na"),
    ]
    cal = calibrate("test", TWO, group)
    by_id = {q.id: q for q in cal.questions}
    assert list(by_id) == ["a1", "a2", "b1", "b2"]  # form order
    assert by_id["a1"].agreed and by_id["a1"].spread == 0.0 and by_id["a1"].agreement == 1.0
    assert (by_id["a2"].spread, by_id["a2"].agreement) == (1.0, 0.67)
    assert by_id["b1"].answers == {"kim": 4, "lee": 3, "park": 1}
    assert (by_id["b1"].spread, by_id["b1"].agreement) == (0.75, 0.33)
    assert (by_id["b2"].spread, by_id["b2"].agreement) == (0.0, 0.67)  # n/a has no worth
    assert not by_id["b2"].agreed
    assert cal.disagreements == ("a2", "b1", "b2")  # widest first
    assert by_id["a2"].section == "a" and by_id["b1"].section == "b"


def test_critical_split() -> None:
    form = Form.model_validate({"name": "c", "title": {"ko": "가", "en": "a"}, "sections": [
        {"id": "s", "title": {"ko": "가", "en": "a"}, "questions": [
            {"id": "ok", "text": {"ko": "가", "en": "a"}},
            {"id": "pin", "text": {"ko": "가", "en": "a"}, "critical": True}]}]})  # fmt: skip
    passed = score(form, {"ok": "yes", "pin": "yes"})
    failed = score(form, {"ok": "yes", "pin": "no"})
    cal = calibrate("c", form, [
        Scored("kim", passed.total, passed.critical_failed, {"ok": "yes", "pin": "yes"}),
        Scored("lee", failed.total, failed.critical_failed, {"ok": "yes", "pin": "no"}),
    ])  # fmt: skip
    assert cal.critical_split and (cal.min, cal.max) == (0.0, 100.0)
    assert cal.stdev == 50.0 and cal.mean == 50.0
    assert cal.disagreements == ("pin",)
    assert cal.to_json()["questions"][1] == {
        "id": "pin", "section": "s", "critical": True, "answers": {"kim": "yes", "lee": "no"},
        "spread": 1.0, "agreement": 0.5, "agreed": False,
    }  # fmt: skip


def test_one_evaluation_and_none() -> None:
    one = calibrate("test", TWO, [scored("kim", a1="yes", a2="no", b1=4, b2="yes")])
    assert (one.n, one.stdev, one.range, one.disagreements) == (1, 0.0, 0.0, ())
    none = calibrate("test", TWO, [])
    assert (none.n, none.mean, none.stdev, none.min) == (0, None, None, None)
    assert all(q.answers == {} and q.agreement == 1.0 for q in none.questions)


def test_without_the_form_only_totals() -> None:
    cal = calibrate("gone", None, [Scored("kim", 80.0, False, {"x": "yes"}),
                                   Scored("lee", 60.0, False, {"x": "no"})])  # fmt: skip
    assert (cal.form, cal.mean, cal.range, cal.questions, cal.disagreements) == (
        "gone",
        70.0,
        20.0,
        (),
        (),
    )


def test_answers_an_older_form_version_cannot_read_are_ignored() -> None:
    group = [
        Scored("kim", 90.0, False, {"a1": "yes", "b1": 9, "old": "yes"}),  # 9 > max 4 now
        Scored("lee", 80.0, False, {"a1": "yes", "b1": 2}),
    ]
    by_id = {q.id: q for q in calibrate("test", TWO, group).questions}
    assert by_id["b1"].spread == 0.0 and not by_id["b1"].agreed  # one readable worth only
    assert by_id["a2"].answers == {} and "old" not in by_id
