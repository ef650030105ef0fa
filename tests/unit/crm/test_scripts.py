"""Agent scripts: the shipped trees, bad files reported as ``file:line: reason``, and walking
the agent's answers through a tree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from cti_server.config import ConfigError
from cti_server.crm.script_loader import (
    check_scripts,
    default_scripts_dir,
    load_script,
    load_scripts,
    parse_script,
)
from cti_server.crm.script_schema import EndStep, QuestionStep, Script
from cti_server.crm.script_settings import ScriptSettings
from cti_server.crm.scripts import (
    AnswerError,
    category_of,
    fill,
    position_view,
    script_for,
    script_json,
    step_view,
    summarize,
    validate_answers,
    walk,
)

HEAD = """
name: t
title: {ko: 테스트, en: Test}
start: a
"""

LOOP = (
    HEAD
    + """
allow_cycles: true
steps:
  - id: a
    kind: question
    text: {ko: "사유는?", en: "Reason?"}
    category: true
    choices:
      - {id: order, label: {ko: 주문, en: Order}, next: more}
      - {id: payment, label: {ko: 결제, en: Payment}, next: more}
  - id: more
    kind: question
    text: {ko: 더 있나요, en: Anything else}
    choices:
      - {id: "yes", label: {ko: 예, en: "Yes"}, next: a}
      - {id: "no", label: {ko: 아니요, en: "No"}, next: bye}
  - id: bye
    kind: end
    text: {ko: 안녕히 가세요, en: Goodbye}
    disposition: resolved
"""
)


def _script(body: str, head: str = HEAD) -> str:
    """A file: ``head`` (name, title, start on lines 1-3), a blank line 4, then ``body``."""
    return head.lstrip("\n") + textwrap.dedent(body)


def _problems(tmp_path: Path, text: str, name: str = "script.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_script(path)
    prefix = f"{path}:"
    assert all(p.startswith(prefix) for p in caught.value.problems), caught.value.problems
    return [p.removeprefix(prefix) for p in caught.value.problems]


@pytest.fixture(scope="module")
def shipped() -> dict[str, Script]:
    return load_scripts()


# --- the shipped scripts ---------------------------------------------------------------------


def test_the_shipped_scripts_load(shipped: dict[str, Script]) -> None:
    assert sorted(shipped) == ["callback_outbound", "general_inbound"]
    assert default_scripts_dir().name == "scripts"
    for script in shipped.values():
        assert script.title.ko and script.title.en and not script.allow_cycles
        for step in script.steps:
            assert step.text.ko != step.text.en  # both languages written out
        ends = {s.disposition for s in script.steps if isinstance(s, EndStep)}
        assert "resolved" in ends


def test_general_inbound_delivery_path(shipped: dict[str, Script]) -> None:
    script = shipped["general_inbound"]
    answers = {"confirm_identity": "confirmed", "reason": "delivery"}
    position = walk(script, answers)
    assert position.path == ("greeting", "confirm_identity", "reason", "delivery_detail")
    assert (position.current, position.finished) == ("delivery_detail", False)
    answers |= {"delivery_detail": "delayed", "anything_else": "nothing_else"}
    position = walk(script, answers)
    assert position.path[-3:] == ("delay_apology", "anything_else", "closing")
    assert (position.finished, position.disposition) == (True, "resolved")
    assert category_of(script, answers) == "delivery"
    assert summarize(script, answers) == "본인 확인 완료 / 배송 문의 / 배송 지연 / 없음"
    assert summarize(script, answers, language="en") == (
        "Identity confirmed / Delivery / Delayed / Nothing else"
    )
    assert validate_answers(script, answers, complete=True) is None


def test_general_inbound_reasons_and_free_text(shipped: dict[str, Script]) -> None:
    script = shipped["general_inbound"]
    complaint = {
        "confirm_identity": "representative",
        "reason": "complaint",
        "complaint_detail": "  배송 기사 불친절  ",
        "complaint_follow_up": "call_back",
    }
    position = walk(script, complaint)
    assert "representative_notice" in position.path
    assert dict(position.answers)["complaint_detail"] == "배송 기사 불친절"
    assert position.disposition == "follow_up"
    assert walk(script, {"confirm_identity": "not_confirmed"}).disposition == (
        "identity_not_verified"
    )
    refund = {"confirm_identity": "confirmed", "reason": "payment", "payment_detail": "refund"}
    assert walk(script, refund).current == "anything_else"
    order = {"confirm_identity": "confirmed", "reason": "order", "order_detail": "A-1"}
    assert walk(script, order | {"order_result": "escalate"}).disposition == "escalated"


def test_callback_outbound_paths(shipped: dict[str, Script]) -> None:
    script = shipped["callback_outbound"]
    assert walk(script, {}).path == ("introduction", "confirm_person")
    done = {
        "confirm_person": "confirmed",
        "still_needed": "needs_help",
        "reason": "order",
        "resolution": "주문 취소 처리",
        "resolved_check": "resolved",
    }
    assert walk(script, done).disposition == "resolved"
    relay = {"confirm_person": "someone_else", "ask_for_customer": "not_available"}
    assert walk(script, relay).disposition == "callback_retry"
    later = {"confirm_person": "confirmed", "still_needed": "bad_time", "reschedule": "내일 오전"}
    assert walk(script, later).disposition == "callback_rescheduled"
    assert walk(script, {"confirm_person": "wrong_number"}).disposition == "wrong_number"


def test_placeholders_filled_from_the_screen_pop(shipped: dict[str, Script]) -> None:
    context = {"customer": {"name": "박민수", "customer_number": None}, "agent": {"id": "1001"}}
    step = shipped["general_inbound"].step("confirm_identity")
    text = step_view(step, context=context)["text"]
    assert "박민수 고객님" in text and "{customer.customer_number}" in text
    assert fill("{agent.name} / {customer.name.first} / {n}", context | {"n": 3}) == (
        "{agent.name} / {customer.name.first} / 3"
    )
    view = position_view(shipped["callback_outbound"], {}, language="en", context=context)
    assert view["title"] == "Outbound callback" and view["current"] == "confirm_person"
    assert view["path"][1]["text"] == "Am I speaking with 박민수?"
    assert [c["id"] for c in view["path"][1]["choices"]] == [
        "confirmed",
        "someone_else",
        "wrong_number",
    ]
    assert view["path"][0] == {
        "id": "introduction",
        "kind": "say",
        "text": "Hello, this is {agent.name} from customer service, returning your call "
        "as you requested.",
        "answer": None,
    }


def test_the_tree_as_json_round_trips(shipped: dict[str, Script]) -> None:
    for script in shipped.values():
        data = script_json(script)
        assert data["name"] == script.name and data["steps"][0]["id"] == script.start
        assert Script.model_validate(data) == script


# --- bad files -------------------------------------------------------------------------------


def test_yaml_syntax_and_shape(tmp_path: Path) -> None:
    assert _problems(tmp_path, "name: t\nsteps: [a\n") == [
        "3: YAML syntax: expected ',' or ']', but got '<stream end>'"
    ]
    assert _problems(tmp_path, "- a\n") == [
        "1: a script file is a mapping with name, title, start and steps"
    ]
    with pytest.raises(ConfigError, match=r"missing\.yaml:0: cannot read"):
        load_script(tmp_path / "missing.yaml")


def test_schema_errors_with_lines(tmp_path: Path) -> None:
    text = _script("""
        colour: blue
        steps:
          - id: a
            kind: shout
            text: {ko: 가, en: A}
          - id: b
            text: {ko: 나, en: B}
          - id: c
            kind: say
            text: {ko: 다}
            next: d
            loud: true
          - id: d
            kind: question
            text: {ko: 라, en: D}
            choices:
              - {id: x, label: {ko: 엑스, en: X}, next: e}
            next: e
          - id: e
            kind: question
            text: {ko: 마, en: E}
            choices:
              - {id: x, label: {ko: 엑스, en: X}, next: f}
              - {id: x, label: {ko: 엑스, en: X}, next: f}
          - id: f
            kind: end
            text: {ko: "{customer.name}님", en: Bye}
            disposition: Resolved!
          - {id: g, kind: say, text: {ko: "{customer.name 님", en: "{customer.name}"}, next: f}
    """)
    assert _problems(tmp_path, text) == [
        "5: colour: Extra inputs are not permitted",
        "7: steps.0: unknown step kind 'shout' (known: say, question, end)",
        "10: steps.1: a step needs kind: say, question, end",
        "14: steps.2.text.en: Field required",
        "16: steps.2.loud: Extra inputs are not permitted",
        "17: steps.3: a question has choices (each with its next) or next (free text)",
        "23: steps.4: choice id 'x' is used twice",
        "31: steps.5.text: ko and en use different placeholders "
        "(only ko: ['customer.name'], only en: [])",
        "32: steps.5.disposition: String should match pattern '^[a-z][a-z0-9_]{0,63}$'",
        "33: steps.6.text: ko: a brace that is not part of a {name.field} placeholder",
    ]


def test_tree_errors_with_lines(tmp_path: Path) -> None:
    text = _script("""
        steps:
          - id: a
            kind: question
            text: {ko: 가, en: A}
            choices:
              - {id: "1", label: {ko: 하나, en: One}, next: b}
              - {id: "2", label: {ko: 둘, en: Two}, next: nowhere}
          - id: b
            kind: say
            text: {ko: 나, en: B}
            next: z
          - id: b
            kind: end
            text: {ko: 나, en: B}
            disposition: done
    """)
    assert _problems(tmp_path, text) == [
        "11: steps.0.choices.1.next: unknown step 'nowhere'",
        "15: steps.1.next: unknown step 'z'",
        "16: steps.2.id: step id 'b' is already used by steps.1",
    ]
    bad_start = _script(
        """
        steps:
          - {id: a, kind: end, text: {ko: 가, en: A}, disposition: done}
        """,
        HEAD.replace("start: a", "start: zz"),
    )
    assert _problems(tmp_path, bad_start) == ["3: start: unknown step 'zz'"]


def test_unreachable_steps_and_loops(tmp_path: Path) -> None:
    text = _script("""
        steps:
          - {id: a, kind: say, text: {ko: 가, en: A}, next: b}
          - id: b
            kind: question
            text: {ko: 나, en: B}
            choices:
              - {id: again, label: {ko: 다시, en: Again}, next: a}
              - {id: done, label: {ko: 끝, en: Done}, next: end}
          - {id: end, kind: end, text: {ko: 끝, en: End}, disposition: done}
          - {id: orphan, kind: say, text: {ko: 고아, en: Orphan}, next: end}
    """)
    assert _problems(tmp_path, text) == [
        "11: steps.1.choices.0.next: goes back to 'a' (a -> b -> a); set allow_cycles: true "
        "if the loop is meant",
        "14: steps.3.id: step 'orphan' cannot be reached from 'a'",
    ]
    trapped = _script("""
        allow_cycles: true
        steps:
          - {id: a, kind: say, text: {ko: 가, en: A}, next: b}
          - {id: b, kind: question, text: {ko: 나, en: B}, next: a}
    """)
    assert _problems(tmp_path, trapped) == [
        "7: steps.0.id: no end step can be reached from 'a'",
        "8: steps.1.id: no end step can be reached from 'b'",
    ]
    assert parse_script(textwrap.dedent(LOOP)).allow_cycles


def test_a_broken_step_still_lets_the_others_be_checked(tmp_path: Path) -> None:
    text = _script("""
        steps:
          - {id: a, kind: say, text: {ko: 가, en: A}, next: b}
          - {id: b, kind: say, text: {ko: 나, en: B}}
          - {id: c, kind: say, text: {ko: 다, en: C}, next: gone}
    """)
    assert _problems(tmp_path, text) == [
        "7: steps.1.next: Field required",
        "8: steps.2.next: unknown step 'gone'",
    ]


def test_a_directory_of_scripts(tmp_path: Path) -> None:
    one = _script("steps:\n  - {id: a, kind: end, text: {ko: 가, en: A}, disposition: done}\n")
    (tmp_path / "one.yaml").write_text(one, encoding="utf-8")
    assert list(load_scripts(tmp_path)) == ["t"]
    (tmp_path / "two.yaml").write_text(one, encoding="utf-8")
    (tmp_path / "three.yaml").write_text("name: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scripts(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'three.yaml'}:2: YAML syntax: expected the node content, "
        "but found '<stream end>'",
        f"{tmp_path / 'two.yaml'}:1: name: script 't' is already defined in "
        f"{tmp_path / 'one.yaml'}",
    ]
    with pytest.raises(ConfigError, match="nowhere:0: not a directory of scripts"):
        load_scripts(tmp_path / "nowhere")


# --- walking answers -------------------------------------------------------------------------


def test_wrong_answers_are_named(shipped: dict[str, Script]) -> None:
    script = shipped["general_inbound"]
    choices = "confirmed, representative, not_confirmed"
    cases: dict[str, dict[str, object]] = {
        f"'maybe' is not a choice of 'confirm_identity' ({choices})": {"confirm_identity": "maybe"},
        "'greeting' is not a question (say): it takes no answer": {"greeting": "ok"},
        "'closing' is not a question (end): it takes no answer": {"closing": "ok"},
        "'general_inbound' has no step 'bogus'": {"bogus": "x"},
        "the answer for 'confirm_identity' must be text, not 1": {"confirm_identity": 1},
    }
    for message, answers in cases.items():
        with pytest.raises(AnswerError) as caught:
            walk(script, answers)
        assert str(caught.value) == message
        assert validate_answers(script, answers) == message
    empty = {"confirm_identity": "confirmed", "reason": "complaint", "complaint_detail": " "}
    assert validate_answers(script, empty) == "the answer for 'complaint_detail' is empty"
    too_long = empty | {"complaint_detail": "가" * 2001}
    assert validate_answers(script, too_long) == (
        "the answer for 'complaint_detail' is over 2000 characters"
    )
    assert validate_answers(script, "confirmed") == (  # type: ignore[arg-type]
        "answers are {step_id: answer} or a list of [step_id, answer]"
    )
    assert validate_answers(script, [("reason",)]) == (  # type: ignore[list-item]
        "an answer must be a [step_id, answer] pair, not ('reason',)"
    )


def test_answers_must_follow_one_path(shipped: dict[str, Script]) -> None:
    script = shipped["general_inbound"]
    off_path = {"confirm_identity": "confirmed", "reason": "order", "delivery_detail": "delayed"}
    position = walk(script, off_path)
    assert position.unused == ("delivery_detail",) and position.current == "order_detail"
    assert validate_answers(script, off_path) == (
        "answers for 'delivery_detail' are not on the path the answers take "
        "(greeting -> confirm_identity -> reason -> order_detail)"
    )
    partial = {"confirm_identity": "confirmed"}
    assert validate_answers(script, partial) is None
    assert validate_answers(script, partial, complete=True) == (
        "the script is not finished: 'reason' has no answer yet"
    )


def test_optional_free_text() -> None:
    text = textwrap.dedent(HEAD) + textwrap.dedent("""
        steps:
          - {id: a, kind: question, text: {ko: 메모, en: Notes}, next: b, optional: true}
          - {id: b, kind: end, text: {ko: 끝, en: End}, disposition: done}
    """)
    script = parse_script(text)
    assert walk(script, {}).current == "a"
    assert walk(script, {"a": ""}).finished
    assert summarize(script, {"a": "메모"}) == "" and category_of(script, {"a": "x"}) is None
    step = script.step("a")
    assert isinstance(step, QuestionStep) and step.free_text
    assert step_view(step, language="en")["free_text"] is True
    with pytest.raises(KeyError):
        script.step("nope")
    with pytest.raises(ValidationError, match="optional is for free-text questions"):
        QuestionStep.model_validate(
            {
                "id": "q",
                "kind": "question",
                "text": {"ko": "가", "en": "A"},
                "optional": True,
                "choices": [{"id": "x", "label": {"ko": "가", "en": "A"}, "next": "b"}],
            }
        )


def test_a_loop_with_ordered_answers() -> None:
    script = parse_script(textwrap.dedent(LOOP))
    pairs = [("a", "order"), ("more", "yes"), ("a", "payment"), ("more", "no")]
    position = walk(script, pairs)
    assert position.path == ("a", "more", "a", "more", "bye") and position.finished
    assert summarize(script, pairs) == "주문 / 예 / 결제 / 아니요"
    assert category_of(script, pairs) == "order"  # the first reason given
    assert walk(script, pairs[:3]).current == "more"
    assert validate_answers(script, [("more", "no")]) == (
        "answers out of order: 'a' comes next, not 'more'"
    )
    leftover = [*pairs, ("a", "order")]
    assert walk(script, leftover).unused == ("a",)
    assert "are not on the path" in (validate_answers(script, leftover) or "")
    # A mapping holds one answer per step: the walk stops where it comes round.
    position = walk(script, {"a": "order", "more": "yes"})
    assert position.path == ("a", "more") and position.current == "a"
    assert not position.finished and position.unused == ()


# --- settings --------------------------------------------------------------------------------


def test_script_for_a_call(shipped: dict[str, Script]) -> None:
    settings = ScriptSettings(
        by_queue={"support": "general_inbound", "sales": "missing"},
        by_campaign={"winback": "callback_outbound"},
    )
    assert script_for(shipped, settings, queue="support") is shipped["general_inbound"]
    found = script_for(shipped, settings, queue="support", campaign="winback")
    assert found is shipped["callback_outbound"]
    assert script_for(shipped, settings, queue="billing") is None
    assert script_for(shipped, settings, queue="sales") is None
    assert script_for(shipped, settings) is None


def test_check_scripts(tmp_path: Path) -> None:
    good = ScriptSettings(by_queue={"support": "general_inbound"})
    assert check_scripts(good, {"support", "sales"}) == []
    bad = ScriptSettings(
        by_queue={"support": "general_inbound", "nope": "missing"},
        by_campaign={"winback": "callback_outbound", "spring": "general_inbound"},
    )
    folder = default_scripts_dir()
    assert check_scripts(bad, ["support"], campaign_names=["winback"]) == [
        "crm.by_queue.nope: unknown queue 'nope' (known: support)",
        f"crm.by_queue.nope: unknown script 'missing' in {folder} "
        "(known: callback_outbound, general_inbound)",
        "crm.by_campaign.spring: unknown campaign 'spring' (known: winback)",
    ]
    (tmp_path / "broken.yaml").write_text("name: x\n", encoding="utf-8")
    problems = check_scripts(ScriptSettings(scripts_dir=str(tmp_path)), [])
    assert problems == [
        f"{tmp_path / 'broken.yaml'}:1: title: Field required",
        f"{tmp_path / 'broken.yaml'}:1: start: Field required",
        f"{tmp_path / 'broken.yaml'}:1: steps: Field required",
    ]
    with pytest.raises(ValidationError):
        ScriptSettings.model_validate({"by_queue": {"bad name": "x"}})
    with pytest.raises(ValidationError):
        ScriptSettings.model_validate({"scripts": "x"})
