"""The engine's prompt and key handling: play, menu, collect, timers, barge-in, hang-ups."""

from __future__ import annotations

import pytest

from cti_server import events as ev
from ivr_flows.engine import IllegalIvrTransition, IvrRun, Wait
from ivr_flows.protocol import (
    CallerHungUp,
    DigitPressed,
    HangUp,
    LookupFinished,
    Play,
    PromptFinished,
    PromptRef,
    SecureInput,
    StopPlaying,
    TransferTo,
)

from .driver import Driver, flow_from, only, played

PLAY_THEN_MENU = """
    name: t
    start: hello
    nodes:
      hello: {type: play, prompts: [greeting], next: pick}
      pick:
        type: menu
        prompt: choose_language
        options:
          1: {next: bye, set: {language: en}}
          "2": bye
        timeout: 4
        retries: 2
        on_failure: failed
      bye: {type: hangup, prompt: goodbye}
      failed: {type: hangup, cause: no_choice}
"""


def test_play_then_next_on_prompt_finished() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    first = d.start()
    assert first == [Play(prompts=(PromptRef(prompt="greeting"),), language="ko", barge_in=True)]
    assert d.run.state is Wait.PROMPT and d.run.next_deadline() is None
    assert played(d.prompt_done()) == ["choose_language"]
    assert d.event_names()[:3] == ["ivr_started", "ivr_node_entered", "ivr_node_entered"]
    assert d.nodes_entered() == ["hello", "pick"]


def test_barge_in_key_stops_a_play_and_moves_on() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    actions = d.keys("5")
    assert isinstance(actions[0], StopPlaying)
    assert played(actions) == ["choose_language"]
    # the cut greeting's PromptFinished arrives late: it must not start the menu's timer
    d.prompt_done(0.1)
    assert d.run.next_deadline() is None
    d.prompt_done(3.0)
    assert d.run.next_deadline() == pytest.approx(d.now + 4)


def test_key_during_a_play_without_barge_in_is_ignored() -> None:
    d = Driver(
        flow_from(
            """
            name: t
            start: hello
            nodes:
              hello: {type: play, prompts: [after_hours], barge_in: false, next: bye}
              bye: {type: hangup}
            """
        )
    )
    d.start()
    assert d.keys("1") == []
    assert d.run.ignored == 1
    assert d.prompt_done() == [HangUp(cause="ivr_hangup")]
    assert d.run.outcome == "hangup"


def test_menu_choice_sets_language_and_follows_option() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    d.prompt_done()
    actions = d.keys("1")
    assert played(actions) == ["goodbye"]
    assert only(actions, Play).language == "en"
    assert d.run.language == "en"
    assert d.prompt_done() == [HangUp(cause="ivr_hangup")]


def test_menu_shorthand_option() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    d.prompt_done()
    assert played(d.keys("2")) == ["goodbye"]
    assert d.run.language == "ko"


def test_menu_timer_starts_when_the_prompt_ends() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    assert d.run.next_deadline() is None  # the menu prompt is still playing
    assert d.run.on_timer(d.now + 100) == []
    d.prompt_done(6.0)
    assert d.run.next_deadline() == pytest.approx(d.now + 4.0)


def test_menu_invalid_key_replays_invalid_prompt_then_menu() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    d.prompt_done()
    actions = d.keys("9")
    assert played(actions) == ["invalid_input", "choose_language"]
    assert d.run.next_deadline() is None


def test_menu_timeouts_through_retries_then_on_failure() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    d.prompt_done()
    for _ in range(2):  # retries: 2
        assert played(d.wait_timeout()) == ["invalid_input", "choose_language"]
        d.prompt_done()
    last = d.wait_timeout()
    assert last == [HangUp(cause="no_choice")]
    assert d.run.finished and d.run.outcome == "hangup"
    assert d.nodes_entered() == ["hello", "pick", "failed"]


def test_menu_barge_in_key_during_its_prompt() -> None:
    d = Driver(flow_from(PLAY_THEN_MENU))
    d.start()
    d.prompt_done()
    actions = d.keys("2")
    assert isinstance(actions[0], StopPlaying)
    assert played(actions) == ["goodbye"]
    # the menu prompt's own PromptFinished (cut) comes first, then goodbye's
    assert d.prompt_done() == []
    assert d.prompt_done() == [HangUp(cause="ivr_hangup")]


COLLECT = """
    name: t
    start: ask
    variables: {acct: ""}
    nodes:
      ask:
        type: collect
        prompt: enter_customer_number
        into: acct
        min_length: 3
        max_length: 6
        first_timeout: 5
        inter_digit_timeout: 2
        retries: 1
        on_key: {"*": other}
        next: go
        on_failure: failed
      go: {type: transfer, kind: number, target: "9${acct}"}
      other: {type: hangup, cause: other_way}
      failed: {type: hangup, cause: failed}
"""


def _collecting(text: str = COLLECT) -> Driver:
    d = Driver(flow_from(text))
    d.start()
    d.prompt_done()
    return d


def test_collect_digits_and_terminator() -> None:
    d = _collecting()
    assert d.keys("1234") == []
    assert d.run.next_deadline() == pytest.approx(d.now + 2)
    assert d.keys("#") == [TransferTo(kind="number", target="91234")]
    assert d.run.outcome == "transferred"


def test_collect_completes_at_max_length() -> None:
    d = _collecting()
    assert d.keys("123456") == [TransferTo(kind="number", target="9123456")]


def test_collect_inter_digit_timeout_takes_enough_digits() -> None:
    d = _collecting()
    d.keys("123")
    assert d.wait_timeout() == [TransferTo(kind="number", target="9123")]


def test_collect_too_short_is_invalid_then_failure() -> None:
    d = _collecting()
    assert played(d.keys("12#")) == ["invalid_input", "enter_customer_number"]
    d.prompt_done()
    d.keys("1")
    assert d.wait_timeout() == [HangUp(cause="failed")]


def test_collect_first_key_shortcut() -> None:
    d = _collecting()
    assert d.keys("*") == [HangUp(cause="other_way")]


def test_collect_star_after_digits_is_invalid() -> None:
    d = _collecting()
    assert played(d.keys("12*")) == ["invalid_input", "enter_customer_number"]


def test_collect_no_input_times_out_through_retries() -> None:
    d = _collecting()
    assert played(d.wait_timeout()) == ["invalid_input", "enter_customer_number"]
    assert d.run.next_deadline() is None
    d.prompt_done()
    assert d.run.next_deadline() == pytest.approx(d.now + 5)
    assert d.wait_timeout() == [HangUp(cause="failed")]


def test_collect_barge_in_first_digit_stops_prompt() -> None:
    d = Driver(flow_from(COLLECT))
    d.start()
    actions = d.keys("1")
    assert actions == [StopPlaying()]
    d.keys("2")
    assert d.run.next_deadline() == pytest.approx(d.now + 2)
    d.prompt_done(0.1)  # the cut prompt ends: the digits so far keep their timer
    assert d.run.next_deadline() == pytest.approx(d.now - 0.1 + 2)
    assert d.keys("3#") == [TransferTo(kind="number", target="9123")]


def test_collect_without_barge_in_drops_keys_during_prompt() -> None:
    d = Driver(flow_from(COLLECT.replace("retries: 1", "retries: 1\n        barge_in: false")))
    d.start()
    assert d.keys("99") == []
    d.prompt_done()
    assert d.keys("123#") == [TransferTo(kind="number", target="9123")]


SECURE = """
    name: t
    start: pin
    variables: {acct: "10001"}
    nodes:
      pin:
        type: collect
        prompt: enter_pin
        into: secret
        secure: true
        min_length: 4
        max_length: 8
        next: check
        on_failure: bye
      check:
        type: authenticate
        by: customer_number
        id_var: acct
        pin_var: secret
        retry: pin
        on_success: bye
        on_failure: bye
        on_locked: bye
        on_error: bye
      bye: {type: hangup}
"""


def test_secure_collect_masks_and_never_puts_digits_in_events() -> None:
    d = Driver(flow_from(SECURE))
    first = d.start()
    assert first[0] == SecureInput(on=True)
    d.prompt_done()
    actions = d.keys("987654#")
    assert actions[0] == SecureInput(on=False)
    assert "987654" not in "".join(ev.to_json(e) for e in d.events)


def test_caller_hangup_ends_the_run_quietly() -> None:
    d = _collecting()
    d.keys("12")
    assert d.feed(CallerHungUp()) == []
    assert d.run.finished and d.run.outcome == "caller_hangup"
    assert d.run.next_deadline() is None
    ended = [e for e in d.events if isinstance(e, ev.IvrEnded)]
    assert [(e.node, e.outcome) for e in ended] == [("ask", "caller_hangup")]
    assert d.feed(DigitPressed(digit="1")) == []
    assert d.feed(PromptFinished()) == []
    assert d.run.on_timer(d.now + 100) == []


def test_wrong_state_inputs_are_ignored() -> None:
    d = _collecting()
    assert d.feed(LookupFinished(request="nope")) == []
    assert d.feed(DigitPressed(digit="x")) == []
    assert d.feed(PromptFinished()) == []  # nothing is playing
    assert d.run.ignored == 3
    assert not d.run.finished


def test_inputs_before_start_are_ignored_and_start_twice_raises() -> None:
    d = Driver(flow_from(COLLECT))
    assert d.feed(DigitPressed(digit="1")) == []
    d.start()
    with pytest.raises(IllegalIvrTransition, match="start"):
        d.run.start(d.now)


def test_run_exposes_path_and_language() -> None:
    d = _collecting()
    d.keys("*")
    assert d.run.path == ["ask", "other"]
    assert isinstance(d.run, IvrRun)
    assert d.run.language == "ko" and d.run.customer is None and d.run.auth_method is None
