"""Evaluation forms: the scoring rules (weights, n/a, scales, critical items zeroing the
total, rounding) on small forms built in the test, the shipped ``standard_call`` form, and
form files rejected with ``file:line: reason``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cti_server.config import ConfigError
from cti_server.qa.form_loader import default_forms_dir, load_form, load_forms, parse_form
from cti_server.qa.forms import AnswerError, Form, check_answers, form_json, score

T = {"ko": "문항", "en": "item"}


def q(qid: str, **more: Any) -> dict[str, Any]:
    return {"id": qid, "text": T, **more}


def make(*sections: tuple[str, float, list[dict[str, Any]]]) -> Form:
    return Form.model_validate({
        "name": "test",
        "title": T,
        "sections": [{"id": s, "title": T, "weight": w, "questions": qs} for s, w, qs in sections],
    })  # fmt: skip


TWO = make(
    ("a", 1, [q("a1"), q("a2", weight=3)]),
    ("b", 3, [q("b1", type="scale", max=4), q("b2", na=True)]),
)


def test_question_weights_inside_a_section() -> None:
    result = score(TWO, {"a1": "no", "a2": "yes", "b1": 4, "b2": "yes"})
    assert [s.score for s in result.sections] == [75.0, 100.0]  # a: 3 of 4 weight
    assert result.total == 93.8  # (1*75 + 3*100) / 4 = 93.75, half up
    assert not result.critical_failed and result.failed_critical == ()


def test_section_weights_are_relative() -> None:
    scaled = make(
        ("a", 10, [q("a1", weight=10), q("a2", weight=30)]),
        ("b", 30, [q("b1", type="scale", max=4), q("b2", na=True)]),
    )
    answers = {"a1": "no", "a2": "yes", "b1": 2, "b2": "no"}  # a: 75, b: (50 + 0) / 2
    assert score(scaled, answers).total == score(TWO, answers).total == 37.5


def test_scale_is_worth_its_point_over_max() -> None:
    form = make(("s", 1, [q("x", type="scale", max=5)]))
    assert [score(form, {"x": n}).total for n in range(6)] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    with pytest.raises(AnswerError, match=r"answers\.x: 6 is not an answer: an integer 0\.\.5"):
        score(form, {"x": 6})
    with pytest.raises(AnswerError, match="True is not an answer"):
        score(form, {"x": True})  # a bool is not a scale point


def test_na_drops_out_of_its_section_and_the_total() -> None:
    result = score(TWO, {"a1": "yes", "a2": "yes", "b1": 0, "b2": "na"})
    assert result.sections[1].score == 0.0  # only b1 counted
    assert result.total == 25.0
    only_na = make(("a", 1, [q("a1")]), ("b", 3, [q("b1", na=True)]))
    result = score(only_na, {"a1": "yes", "b1": "na"})
    assert result.sections[1].score is None and result.total == 100.0  # b is n/a as a whole


def test_na_only_where_the_question_allows_it() -> None:
    with pytest.raises(AnswerError) as caught:
        score(TWO, {"a1": "na", "a2": "yes", "b1": 1, "b2": "na"})
    assert caught.value.problems == [("a1", "cannot be n/a: answer yes or no")]


def test_every_question_answered_and_no_unknown_ones() -> None:
    with pytest.raises(AnswerError) as caught:
        check_answers(TWO, {"a1": "yes", "b1": "4", "b2": "maybe", "zz": "yes"})
    assert caught.value.problems == [
        ("a2", "not answered"),
        ("b1", "'4' is not an answer: an integer 0..4"),
        ("b2", "'maybe' is not an answer: yes or no or \"na\""),
        ("zz", "no such question in form test"),
    ]
    assert str(caught.value).startswith("answers.a2: not answered; answers.b1: ")


def test_everything_na_is_refused() -> None:
    form = make(("a", 1, [q("a1", na=True), q("a2", na=True)]))
    with pytest.raises(AnswerError, match="every answer is n/a: nothing to score"):
        score(form, {"a1": "na", "a2": "na"})


def test_a_failed_critical_question_zeroes_the_total() -> None:
    form = make(
        ("a", 1, [q("a1"), q("a2", critical=True, weight=0)]),
        ("b", 1, [q("b1", type="scale", max=5, critical=True, pass_mark=3)]),
    )
    fine = score(form, {"a1": "yes", "a2": "yes", "b1": 3})
    assert (fine.total, fine.critical_failed) == (80.0, False)
    failed = score(form, {"a1": "yes", "a2": "no", "b1": 2})
    assert failed.total == 0.0 and failed.critical_failed
    assert failed.failed_critical == ("a2", "b1")
    assert failed.before_critical == 70.0  # shown for coaching
    assert [s.score for s in failed.sections] == [100.0, 40.0]


def test_critical_scale_fails_at_zero_by_default_and_na_never_fails() -> None:
    form = make(("a", 1, [q("a1"), q("c", type="scale", max=3, critical=True, na=True)]))
    assert score(form, {"a1": "yes", "c": 1}).critical_failed is False
    assert score(form, {"a1": "yes", "c": 0}).total == 0.0
    assert score(form, {"a1": "yes", "c": "na"}).total == 100.0


def test_rounding_is_half_up_on_exact_fractions() -> None:
    form = make(("a", 1, [q("a1", weight=0.1), q("a2", weight=0.2), q("a3", weight=0.3)]))
    # 0.1 / 0.6 = 16.666...% -> 16.7;  0.5 / 0.6 = 83.33...% -> 83.3
    assert score(form, {"a1": "yes", "a2": "no", "a3": "no"}).total == 16.7
    assert score(form, {"a1": "no", "a2": "yes", "a3": "yes"}).total == 83.3
    eighth = make(("a", 1, [q("x", type="scale", max=8), q("y", weight=0)]))
    assert score(eighth, {"x": 7, "y": "no"}).total == 87.5
    sixteenth = make(("a", 1, [q("x", type="scale", max=16)]))
    assert score(sixteenth, {"x": 1}).total == 6.3  # 6.25 rounds up, not to even


def test_version_follows_the_content() -> None:
    other = make(
        ("a", 1, [q("a1"), q("a2", weight=3)]),
        ("b", 3, [q("b1", type="scale", max=5), q("b2", na=True)]),
    )
    assert TWO.version == make(*[(s.id, s.weight, [x.model_dump(exclude_none=True) for x in
                                 s.questions]) for s in TWO.sections]).version  # fmt: skip
    assert TWO.version != other.version and len(TWO.version) == 16
    assert form_json(TWO)["version"] == TWO.version


# --- the shipped form ---------------------------------------------------------------------


def all_good(form: Form) -> dict[str, Any]:
    return {qid: (qq.max if qq.type == "scale" else "yes") for qid, (_, qq) in
            form.questions.items()}  # fmt: skip


def test_standard_call_form() -> None:
    forms = load_forms()
    form = forms["standard_call"]
    assert [s.id for s in form.sections] == [
        "greeting", "identification", "listening", "accuracy", "compliance", "closing"
    ]  # fmt: skip
    assert sum(s.weight for s in form.sections) == 100
    critical = [qid for qid, (_, qq) in form.questions.items() if qq.critical]
    assert critical == ["accuracy_correct", "compliance_pin", "compliance_personal_data"]
    assert score(form, all_good(form)).total == 100.0
    wrong_info = all_good(form) | {"accuracy_correct": "no"}
    result = score(form, wrong_info)
    assert (result.total, result.failed_critical) == (0.0, ("accuracy_correct",))
    assert result.before_critical == 85.0  # accuracy: 2 of 5 weight left, 30 % of the total
    ivr_authenticated = all_good(form) | {"identity_verified": "na", "greeting_tone": 3}
    assert score(form, ivr_authenticated).total == 98.0  # greeting 80 → 2 of 10 points lost
    assert form.title.ko == "표준 통화 품질 평가"


# --- form files -----------------------------------------------------------------------------

GOOD = """\
name: mini
title: {ko: 미니, en: Mini}
sections:
  - id: s
    title: {ko: 구역, en: Section}
    questions:
      - id: q1
        text: {ko: 질문, en: Question}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_form(text, "f.yaml")
    return caught.value.problems


def test_a_good_file() -> None:
    form = parse_form(GOOD, "f.yaml")
    assert form.name == "mini" and list(form.questions) == ["q1"]


def test_schema_errors_point_at_their_line() -> None:
    text = (
        GOOD
        + """\
      - id: q2
        type: scale
        text: {ko: 질문, en: Question}
      - id: q3
        text: {ko: 질문, en: Question}
        max: 3
      - id: q4
        weight: -1
        text: {ko: 질문, en: Question}
      - id: Bad-Id
        text: {ko: 질문, en: Question}
"""
    )
    found = problems(text)
    assert (
        found[0]
        == "f.yaml:9: sections.0.questions.1: a scale question needs max (answers are 0..max)"
    )
    assert found[1].startswith("f.yaml:12: sections.0.questions.2: max is for scale questions")
    assert found[2].startswith("f.yaml:16: sections.0.questions.3.weight: Input should be greater")
    assert found[3].startswith("f.yaml:18: sections.0.questions.4.id: String should match")
    assert len(found) == 4


def test_duplicate_ids_and_unknown_keys() -> None:
    dup = GOOD + "      - id: q1\n        text: {ko: 질문, en: Question}\n"
    assert problems(dup) == [
        "f.yaml:9: sections.0.questions.1.id: id 'q1' is already used at sections.0.questions.0"
    ]
    typo = GOOD.replace("    questions:", "    wieght: 3\n    questions:")
    assert problems(typo) == ["f.yaml:6: sections.0.wieght: Extra inputs are not permitted"]


def test_critical_pass_mark_rules() -> None:
    bad = GOOD + "        pass_mark: 2\n"
    assert problems(bad) == [
        "f.yaml:7: sections.0.questions.0: pass_mark is for critical scale questions"
    ]


def test_nothing_to_earn_and_not_a_mapping_and_yaml_syntax() -> None:
    zero = GOOD + "        weight: 0\n"
    assert problems(zero) == ["f.yaml:3: sections: no question can earn points: every weight is 0"]
    assert problems("- a\n- b\n") == [
        "f.yaml:1: an evaluation form is a mapping with name, title and sections"
    ]
    assert problems("name: [x\n")[0].startswith("f.yaml:2: YAML syntax:")


def test_a_directory_reports_every_file_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(GOOD.replace("name: mini", "name: other").replace(
        "ko: 질문", "ko: ''"), encoding="utf-8")  # fmt: skip
    (tmp_path / "notes.txt").write_text("not a form", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_forms(tmp_path)
    assert caught.value.problems[0] == (
        f"{tmp_path / 'b.yaml'}:1: name: form 'mini' is already defined in {tmp_path / 'a.yaml'}"
    )
    assert caught.value.problems[1].startswith(
        f"{tmp_path / 'c.yaml'}:8: sections.0.questions.0.text.ko:"
    )
    assert len(caught.value.problems) == 2
    with pytest.raises(ConfigError, match="no evaluation forms"):
        load_forms(_empty(tmp_path))
    with pytest.raises(ConfigError, match="not a directory"):
        load_forms(tmp_path / "missing")
    assert load_form(tmp_path / "a.yaml").name == "mini"
    assert default_forms_dir().name == "forms"


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder
