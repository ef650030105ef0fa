"""The engine's other node kinds: lookup, authenticate, set/branch/goto, hours, hand-overs."""

from __future__ import annotations

import pytest

from cti_server import events as ev
from ivr_flows.protocol import (
    AuthFinished,
    CallbackFinished,
    CustomerView,
    DigitPressed,
    Enqueue,
    HangUp,
    LookupCustomer,
    LookupFinished,
    RequestCallback,
    TakeVoiceMessage,
    TransferTo,
    VerifyPin,
)
from ivr_flows.run_state import ANSWER_TIMEOUT, MAX_STEPS_WITHOUT_INPUT

from .driver import MONDAY_10AM, SUNDAY_10AM, Driver, flow_from, only, played

KIM = CustomerView(
    customer_id="c-1",
    customer_number="10001",
    name="Kim",
    vip=True,
    assigned_agent="agent-7",
    segment="gold",
)

LOOKUP = """
    name: t
    start: find
    nodes:
      find: {type: lookup, by: caller_number, found: known, not_found: stranger, error: down}
      known: {type: transfer, kind: agent, target: "${customer.assigned_agent}"}
      stranger: {type: enqueue, queue: general}
      down: {type: hangup, cause: db_down}
"""


def test_lookup_by_caller_found_identifies_the_customer() -> None:
    d = Driver(flow_from(LOOKUP), caller="0212345678")
    actions = d.start()
    ask = only(actions, LookupCustomer)
    assert (ask.by, ask.value) == ("caller_number", "0212345678")
    assert d.run.next_deadline() == pytest.approx(d.now + ANSWER_TIMEOUT)
    assert d.feed(LookupFinished(request=ask.request, customer=KIM)) == [
        TransferTo(kind="agent", target="agent-7")
    ]
    assert d.run.customer == KIM
    found = [e for e in d.events if isinstance(e, ev.CustomerIdentified)]
    assert [(e.customer_id, e.method) for e in found] == [("c-1", "caller_number")]


def test_lookup_not_found_and_error_branches() -> None:
    d = Driver(flow_from(LOOKUP))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request=ask.request)) == [Enqueue(queue="general")]
    d = Driver(flow_from(LOOKUP))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request=ask.request, error="db down")) == [HangUp(cause="db_down")]


def test_lookup_ignores_stale_answers_and_keys() -> None:
    d = Driver(flow_from(LOOKUP))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request="req-old", customer=KIM)) == []
    assert d.feed(DigitPressed(digit="1")) == []
    assert d.run.ignored == 2
    assert d.feed(LookupFinished(request=ask.request)) == [Enqueue(queue="general")]


def test_lookup_without_answer_takes_the_error_branch() -> None:
    d = Driver(flow_from(LOOKUP))
    ask = only(d.start(), LookupCustomer)
    assert d.wait_timeout() == [HangUp(cause="db_down")]
    assert d.feed(LookupFinished(request=ask.request, customer=KIM)) == []


AUTH = """
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
        max_tries: 3
        retry: pin
        on_success: queue
        on_failure: unverified
        on_locked: unverified
        on_error: db_down
      queue: {type: enqueue, queue: general, priority: 5, skills: {loans: 2}}
      unverified: {type: enqueue, queue: general}
      db_down: {type: hangup, cause: db_down}
      bye: {type: hangup}
"""


def _enter_pin(d: Driver, pin: str) -> VerifyPin:
    d.prompt_done()
    return only(d.keys(pin + "#"), VerifyPin)


def test_authenticate_ok() -> None:
    d = Driver(flow_from(AUTH))
    d.start()
    verify = _enter_pin(d, "4321")
    assert (verify.by, verify.value, verify.pin) == ("customer_number", "10001", "4321")
    actions = d.feed(AuthFinished(request=verify.request, outcome="ok", customer=KIM))
    assert actions == [
        Enqueue(queue="general", priority=5, skills={"loans": 2}, customer_id="c-1", language="ko")
    ]
    assert d.run.auth_method == "customer_number+pin"
    tries = [e for e in d.events if isinstance(e, ev.AuthenticationAttempted)]
    assert [(e.outcome, e.attempt, e.customer_id) for e in tries] == [("ok", 1, "c-1")]


def test_authenticate_wrong_pins_retry_then_fail() -> None:
    d = Driver(flow_from(AUTH))
    d.start()
    for attempt in (1, 2):
        verify = _enter_pin(d, f"000{attempt}")
        actions = d.feed(AuthFinished(request=verify.request, outcome="bad_pin"))
        assert played(actions) == ["auth_failed"]
        assert played(d.prompt_done()) == ["enter_pin"]  # back to the PIN (retry)
    verify = _enter_pin(d, "0003")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="unknown"))) == [
        "auth_failed"
    ]
    assert d.prompt_done() == [Enqueue(queue="general")]
    assert d.run.auth_method is None and d.run.customer is None
    tries = [e for e in d.events if isinstance(e, ev.AuthenticationAttempted)]
    assert [(e.outcome, e.attempt) for e in tries] == [
        ("bad_pin", 1),
        ("bad_pin", 2),
        ("unknown", 3),
    ]
    text = "".join(ev.to_json(e) for e in d.events)
    assert "0001" not in text and "0002" not in text and "0003" not in text


def test_authenticate_locked_and_error() -> None:
    d = Driver(flow_from(AUTH))
    d.start()
    verify = _enter_pin(d, "1111")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="locked"))) == [
        "account_locked"
    ]
    assert d.prompt_done() == [Enqueue(queue="general")]
    d = Driver(flow_from(AUTH))
    d.start()
    verify = _enter_pin(d, "1111")
    assert d.feed(AuthFinished(request=verify.request, outcome="error")) == [
        HangUp(cause="db_down")
    ]


def test_authenticate_answer_timeout_is_an_error() -> None:
    d = Driver(flow_from(AUTH))
    d.start()
    _enter_pin(d, "1111")
    assert d.wait_timeout() == [HangUp(cause="db_down")]


BRANCHES = """
    name: t
    start: init
    variables: {tries: 0, tier: ""}
    nodes:
      init: {type: set, variables: {tries: 4, tier: "${called}-x"}, next: decide}
      decide:
        type: branch
        cases:
          - when: {all: [{var: tries, gt: 3}, {not: {var: tier, eq: nope}}]}
            next: by_tier
          - when: {var: caller, exists: true}
            next: other
        otherwise: other
      by_tier:
        type: branch
        cases:
          - when: {any: [{var: tier, in: [a, "15880000-x"]}, {var: now.hour, lt: 0}]}
            next: hop
        otherwise: other
      hop: {type: goto, next: out}
      out: {type: transfer, kind: number, target: "${tier}/${tries}/${now.weekday}/${now.hour}"}
      other: {type: hangup}
"""


def test_set_branch_goto_and_templates() -> None:
    d = Driver(flow_from(BRANCHES))
    assert d.start() == [TransferTo(kind="number", target="15880000-x/4/mon/10")]
    assert d.run.path == ["init", "decide", "by_tier", "hop", "out"]


HOURS = """
    name: t
    start: when
    hours:
      office:
        weekly: {mon-fri: "09:00-18:00", sat: "09:00-12:00, 13:00-15:00"}
        closed: [2026-03-03]
    nodes:
      when: {type: hours, schedule: office, open: in, closed: out}
      in: {type: enqueue, queue: general}
      out: {type: voice_message, queue: general}
"""


@pytest.mark.parametrize(
    ("offset_hours", "is_open"),
    [(0, True), (-1.01, False), (7.99, True), (8, False), (24, False)],  # +24 h: a holiday
)
def test_hours_node(offset_hours: float, is_open: bool) -> None:
    d = Driver(flow_from(HOURS), now=MONDAY_10AM + offset_hours * 3600)
    actions = d.start()
    assert (actions == [Enqueue(queue="general")]) is is_open


def test_after_hours_voice_message() -> None:
    d = Driver(flow_from(HOURS), now=SUNDAY_10AM)
    assert d.start() == [TakeVoiceMessage(queue="general", language="ko")]
    assert d.run.outcome == "voice_message"


def test_voice_message_with_its_own_prompt_first() -> None:
    text = HOURS.replace(
        "out: {type: voice_message,", "out: {type: voice_message, prompt: goodbye,"
    )
    d = Driver(flow_from(text), now=SUNDAY_10AM)
    assert played(d.start()) == ["goodbye"]
    assert d.prompt_done() == [TakeVoiceMessage(queue="general", language="ko")]


QUEUE = """
    name: t
    start: prio
    variables: {p: 0}
    nodes:
      prio: {type: set, variables: {p: "${customer.vip}"}, next: q}
      q:
        type: enqueue
        queue: general
        priority: "${p}"
        prefer_assigned_agent: true
        offer_callback_over: 120
        callback: offer
      offer:
        type: callback
        prompt:
          - {prompt: estimated_wait, slots: {minutes: "${queue.wait_minutes}"}}
          - callback_offer
        decline: q
        on_error: q
"""


def test_enqueue_without_a_long_wait() -> None:
    d = Driver(flow_from(QUEUE), waits={"general": 119})
    assert d.start() == [Enqueue(queue="general", priority=0)]
    d = Driver(flow_from(QUEUE))  # no estimate: no offer
    assert d.start() == [Enqueue(queue="general", priority=0)]


def test_long_wait_offers_callback_and_decline_enqueues() -> None:
    d = Driver(flow_from(QUEUE), waits={"general": 400})
    actions = d.start()
    assert played(actions) == ["estimated_wait", "callback_offer"]
    assert actions[0].prompts[0].slots == {"minutes": 7}  # type: ignore[union-attr]
    d.prompt_done()
    assert d.keys("2") == [Enqueue(queue="general", priority=0)]
    assert d.run.path == ["prio", "q", "offer", "q"]


def test_callback_accepted_for_the_callers_number() -> None:
    d = Driver(flow_from(QUEUE), waits={"general": 400}, caller="+821012345678")
    d.start()
    d.prompt_done()
    ask = only(d.keys("1"), RequestCallback)
    assert (ask.number, ask.queue, ask.customer_id) == ("+821012345678", "general", None)
    assert played(d.feed(CallbackFinished(request=ask.request, callback_id="cb-9"))) == [
        "callback_confirmed"
    ]
    assert d.prompt_done() == [HangUp(cause="callback_requested")]
    assert d.run.outcome == "callback"
    assert not [e for e in d.events if isinstance(e, ev.CallbackRequested)]  # the host's event


def test_callback_failure_and_bad_number_go_to_on_error() -> None:
    d = Driver(flow_from(QUEUE), waits={"general": 400})
    d.start()
    d.prompt_done()
    ask = only(d.keys("1"), RequestCallback)
    assert d.feed(CallbackFinished(request=ask.request, error="db")) == [Enqueue(queue="general")]
    d = Driver(flow_from(QUEUE), waits={"general": 400}, caller="anonymous")
    d.start()
    d.prompt_done()
    assert d.keys("1") == [Enqueue(queue="general")]


def test_callback_to_an_entered_number() -> None:
    text = """
        name: t
        start: num
        variables: {n: ""}
        nodes:
          num:
            type: collect
            prompt: enter_customer_number
            into: n
            max_length: 15
            next: offer
            on_failure: offer
          offer:
            type: callback
            queue: general
            number_var: n
            decline: bye
            on_error: bye
            next: bye
          bye: {type: hangup, prompt: goodbye}
    """
    d = Driver(flow_from(text))
    d.start()
    d.prompt_done()
    d.keys("0311112222#")
    d.prompt_done()
    ask = only(d.keys("1"), RequestCallback)
    assert (ask.number, ask.queue) == ("0311112222", "general")
    d.feed(CallbackFinished(request=ask.request, callback_id="cb-1"))
    assert played(d.prompt_done()) == ["goodbye"]
    assert d.prompt_done() == [HangUp(cause="ivr_hangup")]
    assert d.run.outcome == "callback"


TIMED = """
    name: t
    start: when
    variables: {hhmm: ""}
    nodes:
      when:
        type: collect
        prompt: enter_customer_number
        into: hhmm
        max_length: 4
        next: offer
        on_failure: offer
      offer:
        type: callback
        queue: general
        time_var: hhmm
        decline: bye
        on_error: bye
        next: bye
      bye: {type: hangup, prompt: goodbye}
"""


@pytest.mark.parametrize(
    ("keys", "hours_later"), [("1430#", 4.5), ("0900#", 23.0), ("1000#", 24.0)]
)
def test_callback_at_a_time_the_caller_chose(keys: str, hours_later: float) -> None:
    """Monday 10:00 in Seoul: 14:30 is today, 09:00 and 10:00 (now) are tomorrow."""
    d = Driver(flow_from(TIMED))
    d.start()
    d.prompt_done()
    d.keys(keys)
    d.prompt_done()
    ask = only(d.keys("1"), RequestCallback)
    assert ask.due_at == pytest.approx(MONDAY_10AM + hours_later * 3600)


def test_a_chosen_time_that_is_not_a_time_takes_the_error_branch() -> None:
    d = Driver(flow_from(TIMED))
    d.start()
    d.prompt_done()
    d.keys("2561#")
    d.prompt_done()
    assert not [a for a in d.keys("1") if isinstance(a, RequestCallback)]


def test_callback_no_answer_declines() -> None:
    d = Driver(flow_from(QUEUE), waits={"general": 400})
    d.start()
    d.prompt_done()
    assert played(d.wait_timeout()) == ["invalid_input", "estimated_wait", "callback_offer"]
    d.prompt_done()
    assert d.wait_timeout() == [Enqueue(queue="general")]


def test_vip_priority_and_assigned_agent_after_lookup() -> None:
    text = QUEUE.replace("start: prio", "start: find").replace(
        "nodes:\n",
        "nodes:\n      find: {type: lookup, by: caller_number, found: prio, "
        "not_found: prio, error: prio}\n",
        1,
    )
    d = Driver(flow_from(text))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request=ask.request, customer=KIM)) == [
        Enqueue(queue="general", priority=1, customer_id="c-1", designated_agent="agent-7")
    ]


def test_transfer_with_empty_target_uses_on_error_or_ends_in_error() -> None:
    text = """
        name: t
        start: go
        variables: {ext: ""}
        nodes:
          go: {type: transfer, kind: agent, target: "${ext}", on_error: q}
          q: {type: transfer, kind: agent, target: "${ext}"}
    """
    d = Driver(flow_from(text))
    assert d.start() == [HangUp(cause="ivr_error")]
    assert d.run.outcome == "error" and d.run.path == ["go", "q"]


def test_a_loop_that_never_waits_at_run_time_is_cut() -> None:
    text = """
        name: t
        start: find
        variables: {acct: ""}
        nodes:
          find: {type: lookup, by: customer_number, value: acct, found: q, not_found: again,
                 error: q}
          again: {type: goto, next: find}
          q: {type: enqueue, queue: general}
    """
    d = Driver(flow_from(text))
    assert d.start() == [HangUp(cause="ivr_loop")]
    assert d.run.outcome == "error"
    assert len(d.run.path) == MAX_STEPS_WITHOUT_INPUT


def test_voice_message_to_the_assigned_agent() -> None:
    text = """
        name: t
        start: find
        nodes:
          find: {type: lookup, by: caller_number, found: vm, not_found: vm, error: vm}
          vm: {type: voice_message, agent: "${customer.assigned_agent}", prompt: null}
    """
    d = Driver(flow_from(text))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request=ask.request, customer=KIM)) == [
        TakeVoiceMessage(agent_id="agent-7", language="ko")
    ]
    d = Driver(flow_from(text))
    ask = only(d.start(), LookupCustomer)
    assert d.feed(LookupFinished(request=ask.request)) == [HangUp(cause="ivr_error")]


def test_hangup_without_prompt_is_immediate() -> None:
    text = """
        name: t
        start: bye
        nodes:
          bye: {type: hangup, cause: closed}
    """
    d = Driver(flow_from(text))
    assert d.start() == [HangUp(cause="closed")]
    assert d.event_names() == ["ivr_started", "ivr_node_entered", "ivr_ended"]
