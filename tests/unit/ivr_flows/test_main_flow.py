"""The shipped main flow: loads clean, and the walks a caller can take through it."""

from __future__ import annotations

import pytest

from cti_server import events as ev
from cti_server.media.prompts import load_catalog
from ivr_flows.loader import default_flows_dir, load_flow
from ivr_flows.protocol import (
    AuthFinished,
    CallbackFinished,
    CustomerView,
    Enqueue,
    HangUp,
    RequestCallback,
    SecureInput,
    StopPlaying,
    TakeVoiceMessage,
    VerifyPin,
)
from ivr_flows.schema import Flow

from .driver import SUNDAY_10AM, Driver, only, played

KIM = CustomerView(customer_id="cust-10001", customer_number="10001", name="Kim")
LEE_VIP = CustomerView(
    customer_id="cust-20002", customer_number="20002", name="Lee", vip=True, assigned_agent="a-3"
)
SECRETS = ("4321", "0000", "1111", "2222", "900101")


@pytest.fixture(scope="module")
def main_flow() -> Flow:
    prompts = set(load_catalog().prompt_ids)
    return load_flow(
        default_flows_dir() / "main.yaml", known_prompts=prompts, known_queues={"general"}
    )


def _no_secrets(d: Driver) -> None:
    text = "".join(ev.to_json(e) for e in d.events)
    for secret in SECRETS:
        assert secret not in text


def _to_customer_number(d: Driver, language_key: str = "1") -> None:
    assert played(d.start()) == ["greeting"]
    assert played(d.prompt_done()) == ["choose_language"]
    d.prompt_done()
    assert played(d.keys(language_key)) == ["enter_customer_number"]
    d.prompt_done()


def _pin(d: Driver, pin: str) -> VerifyPin:
    actions = d.keys(pin + "#")
    assert actions[0] == SecureInput(on=False)
    return only(actions, VerifyPin)


def test_main_flow_loads_with_the_real_prompts(main_flow: Flow) -> None:
    assert main_flow.name == "main" and main_flow.language == "ko"
    assert main_flow.start == "greeting"


def test_happy_path_korean_customer_number_and_pin(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d)
    actions = d.keys("10001#")
    assert actions[0] == SecureInput(on=True) and played(actions) == ["enter_pin"]
    d.prompt_done()
    verify = _pin(d, "4321")
    assert (verify.by, verify.value, verify.pin) == ("customer_number", "10001", "4321")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="ok", customer=KIM))) == [
        "transfer_to_agent"
    ]
    assert d.prompt_done() == [
        Enqueue(queue="general", priority=0, customer_id="cust-10001", language="ko")
    ]
    assert d.run.outcome == "queued" and d.run.auth_method == "customer_number+pin"
    assert d.run.customer == KIM
    assert d.run.path == [
        "greeting",
        "check_hours",
        "choose_language",
        "ask_customer_number",
        "ask_pin",
        "verify",
        "check_vip",
        "connect",
        "to_agent",
    ]
    assert d.event_names()[-3:] == ["ivr_node_entered", "ivr_node_entered", "ivr_ended"]
    _no_secrets(d)


def test_english_vip_gets_priority_and_their_agent(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d, language_key="2")
    assert d.run.language == "en"
    d.keys("20002#")
    d.prompt_done()
    verify = _pin(d, "1111")
    d.feed(AuthFinished(request=verify.request, outcome="ok", customer=LEE_VIP))
    assert d.prompt_done() == [
        Enqueue(
            queue="general",
            priority=10,
            customer_id="cust-20002",
            designated_agent="a-3",
            language="en",
        )
    ]


def test_three_wrong_pins_then_unauthenticated_queue(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d)
    d.keys("10001#")
    d.prompt_done()
    for pin in ("0000", "1111"):
        verify = _pin(d, pin)
        assert played(d.feed(AuthFinished(request=verify.request, outcome="bad_pin"))) == [
            "auth_failed"
        ]
        assert played(d.prompt_done()) == ["enter_pin"]
        d.prompt_done()
    verify = _pin(d, "2222")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="bad_pin"))) == [
        "auth_failed"
    ]
    assert played(d.prompt_done()) == ["transfer_to_agent"]
    assert d.prompt_done() == [Enqueue(queue="general", priority=0, language="ko")]
    assert d.run.auth_method is None and d.run.customer is None
    tries = [e for e in d.events if isinstance(e, ev.AuthenticationAttempted)]
    assert [(e.outcome, e.attempt) for e in tries] == [
        ("bad_pin", 1),
        ("bad_pin", 2),
        ("bad_pin", 3),
    ]
    _no_secrets(d)


def test_locked_account_hears_why_then_queues(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d)
    d.keys("10001#")
    d.prompt_done()
    verify = _pin(d, "0000")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="locked"))) == [
        "account_locked"
    ]
    assert played(d.prompt_done()) == ["transfer_to_agent"]
    assert d.prompt_done() == [Enqueue(queue="general")]


def test_database_down_falls_back_to_unauthenticated_queue(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d)
    d.keys("10001#")
    d.prompt_done()
    verify = _pin(d, "0000")
    assert played(d.feed(AuthFinished(request=verify.request, outcome="error"))) == [
        "transfer_to_agent"
    ]
    assert d.prompt_done() == [Enqueue(queue="general")]
    assert d.run.path[-3:] == ["verify", "connect", "to_agent"]


def test_no_input_times_out_through_retries_to_on_failure(main_flow: Flow) -> None:
    d = Driver(main_flow)
    d.start()
    d.prompt_done()
    d.prompt_done()
    assert played(d.wait_timeout()) == ["invalid_input", "choose_language"]  # retries: 1
    d.prompt_done()
    assert played(d.wait_timeout()) == ["enter_customer_number"]  # carry on in Korean
    d.prompt_done()
    for _ in range(2):  # retries: 2
        assert played(d.wait_timeout()) == ["invalid_input", "enter_customer_number"]
        d.prompt_done()
    assert played(d.wait_timeout()) == ["transfer_to_agent"]
    assert d.run.path[-2:] == ["ask_customer_number", "connect"]
    assert d.prompt_done() == [Enqueue(queue="general")]


def test_star_switches_to_national_id(main_flow: Flow) -> None:
    d = Driver(main_flow)
    _to_customer_number(d)
    actions = d.keys("*")
    assert actions[0] == SecureInput(on=True) and played(actions) == ["enter_national_id"]
    d.prompt_done()
    actions = d.keys("900101")  # six digits complete the entry without #
    assert played(actions) == ["enter_pin"]
    assert SecureInput(on=False) not in actions  # still secure: the PIN comes next
    d.prompt_done()
    verify = _pin(d, "4321")
    assert (verify.by, verify.value) == ("national_id", "900101")
    d.feed(AuthFinished(request=verify.request, outcome="ok", customer=KIM))
    assert d.prompt_done() == [Enqueue(queue="general", customer_id="cust-10001")]
    assert d.run.auth_method == "national_id+pin"
    found = [e for e in d.events if isinstance(e, ev.CustomerIdentified)]
    assert [e.method for e in found] == ["national_id"]
    _no_secrets(d)


def test_after_hours_takes_a_voice_message(main_flow: Flow) -> None:
    d = Driver(main_flow, now=SUNDAY_10AM)
    d.start()
    assert played(d.prompt_done()) == ["after_hours"]
    assert d.prompt_done() == [TakeVoiceMessage(queue="general", language="ko")]
    assert d.run.outcome == "voice_message"
    assert d.run.path == ["greeting", "check_hours", "closed_message", "take_message"]


def test_long_wait_offers_a_callback(main_flow: Flow) -> None:
    d = Driver(main_flow, waits={"general": 300}, caller="01098765432")
    _to_customer_number(d)
    d.keys("10001#")
    d.prompt_done()
    verify = _pin(d, "4321")
    d.feed(AuthFinished(request=verify.request, outcome="ok", customer=KIM))
    offer = d.prompt_done()
    assert played(offer) == ["estimated_wait", "callback_offer"]
    ask = only(d.keys("1"), RequestCallback)  # barge-in during the offer
    assert d.actions[-2] == StopPlaying()
    assert (ask.number, ask.queue, ask.customer_id) == ("01098765432", "general", "cust-10001")
    assert played(d.feed(CallbackFinished(request=ask.request, callback_id="cb-1"))) == [
        "callback_confirmed"
    ]
    d.prompt_done()  # the cut offer's end
    assert played(d.prompt_done()) == ["goodbye"]
    assert d.prompt_done() == [HangUp(cause="ivr_hangup")]
    assert d.run.outcome == "callback"
    _no_secrets(d)


def test_declined_callback_queues_without_asking_again(main_flow: Flow) -> None:
    d = Driver(main_flow, waits={"general": 300})
    _to_customer_number(d)
    d.keys("10001#")
    d.prompt_done()
    verify = _pin(d, "4321")
    d.feed(AuthFinished(request=verify.request, outcome="ok", customer=KIM))
    d.prompt_done()
    d.prompt_done()
    assert d.keys("2") == [Enqueue(queue="general", customer_id="cust-10001")]
