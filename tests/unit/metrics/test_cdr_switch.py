"""The fold over real event sequences: calls driven through the whole core (SIP endpoint,
controller, distributor) on float time, exactly as the server publishes them on the bus."""

from __future__ import annotations

import random

import pytest

from acd.distributor import Distributor
from acd.protocol import ChangeAgentState
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from metrics.call_folder import CallFolder
from metrics.cdr import CallRecord, Outcome
from tests.unit.call.test_anchored import FakePrompts
from tests.unit.call.test_queue_host import (
    CALLBACK_CONFIG,
    CONFIG,
    PHONES,
    _tag,
    call_in,
    invites_to,
    register,
    reply,
)
from tests.unit.call.test_switch import GW, request, sent


class Rig:
    """A switch whose every event goes into a CallFolder."""

    def __init__(self, config_text: str = CONFIG) -> None:
        config = parse_config(config_text, "<t>")
        self.switch: CallSwitch = build_switch(
            config,
            IdFactory(random.Random(7), host="10.0.0.1"),
            b"k" * 32,
            random.Random(9),
            FakePrompts(),
            acd=Distributor(config.acd, random.Random(3)),
        )
        self.folder = CallFolder()
        self.names: list[str] = []

    def pump(self) -> None:
        for event in self.switch.drain_events():
            self.names.append(event.name)
            self.folder.feed(event)

    def caller_hangs_up(self, out: list[tuple[str, tuple[str, int]]], now: float) -> None:
        bye = request(
            "BYE",
            "sip:x@10.0.0.1",
            GW,
            cseq=2,
            branch="z9hG4bKbye",
            to=f"<sip:2000@10.0.0.1>;tag={_tag(out)}",
        )
        self.switch.receive_datagram(bye, GW, now)
        self.pump()

    def only(self, now: float) -> CallRecord:
        (record,) = self.folder.finished(now)
        return record


def test_ring_no_answer_then_answered_by_the_next_agent_then_wrap_up() -> None:
    rig = Rig()
    register(rig.switch, "1001")
    register(rig.switch, "1002")
    out = call_in(rig.switch, 1.0)
    (invite1,) = invites_to(out, "1001")
    reply(rig.switch, invite1, "180 Ringing", PHONES["1001"], 1.5)
    rig.switch.handle_timer(11.5)  # offer_timeout 10 s: 1001 let it ring out
    (invite2,) = invites_to(sent(rig.switch), "1002")
    reply(rig.switch, invite2, "180 Ringing", PHONES["1002"], 12.0)
    reply(rig.switch, invite2, "200 OK", PHONES["1002"], 13.0)
    rig.pump()
    rig.caller_hangs_up(out, 40.0)
    assert rig.folder.finished(40.0) == []  # 1002 is in wrap-up (5 s)
    rig.switch.handle_timer(45.0)
    rig.pump()
    r = rig.only(45.0)
    assert r.outcome is Outcome.ANSWERED and r.cause == "caller_hangup"
    assert (r.caller, r.called, r.trunk, r.route) == ("0212345678", "2000", "gw", "queue:sales")
    assert [(o.agent_id, o.at, o.outcome, o.ended_at) for o in r.offers] == [
        ("1001", 1.0, "no_answer", 11.5),
        ("1002", 11.5, "answered", 13.0),
    ]
    assert (r.queue, r.queues, r.queued_at, r.agent_id, r.answered_at) == (
        "sales",
        ("sales",),
        1.0,
        "1002",
        13.0,
    )
    assert r.wait_seconds == 12.0  # queue entry 1.0 to the answer at 13.0
    assert r.ring_seconds == 1.5  # 1002's phone rang from 11.5
    assert r.talk_seconds == 27.0 and r.hold_seconds == 0.0
    assert r.wrap_up_seconds == 5.0  # agent_working_after_call 40.0, agent_ready 45.0
    assert r.ended_at == 40.0 and len(rig.folder) == 0


def test_caller_hanging_up_while_the_agent_rings_is_abandoned_ringing() -> None:
    rig = Rig()
    register(rig.switch, "1001")
    out = call_in(rig.switch, 1.0)
    (invite,) = invites_to(out, "1001")
    reply(rig.switch, invite, "180 Ringing", PHONES["1001"], 1.5)
    rig.pump()
    rig.caller_hangs_up(out, 4.0)
    r = rig.only(4.0)
    assert r.outcome is Outcome.ABANDONED_RINGING
    assert r.wait_seconds == pytest.approx(3.0)
    assert [(o.agent_id, o.outcome) for o in r.offers] == [("1001", "withdrawn")]
    assert r.answered_at is None and r.talk_seconds is None and r.agent_id is None


def test_caller_hanging_up_with_no_agent_ready_is_abandoned_in_queue() -> None:
    rig = Rig()
    register(rig.switch, "1001")
    rig.switch.acd_input(ChangeAgentState(agent_id="1001", state="not_ready"), 0.5)
    out = call_in(rig.switch, 1.0)
    rig.pump()
    rig.caller_hangs_up(out, 31.0)
    r = rig.only(31.0)
    assert r.outcome is Outcome.ABANDONED_IN_QUEUE
    assert r.wait_seconds == 30.0 and r.offers == ()
    assert r.queued and r.requested_agent


def test_a_long_wait_overflowing_to_a_callback_is_callback_requested() -> None:
    from cti_server.rtp.bridge import PlayFinished
    from ivr_flows.protocol import CallbackFinished

    rig = Rig(CALLBACK_CONFIG)
    call_in(rig.switch, 1.0)  # nobody logged in: the caller waits
    rig.switch.handle_timer(6.5)  # max_wait 5 s
    (req,) = rig.switch.drain_requests()
    rig.switch.service_done(
        req.call_id,
        CallbackFinished(
            request=req.work.request,  # type: ignore[union-attr]
            callback_id="cb-1",
            number="0212345678",
            queue="sales",
        ),
        7.0,
    )
    media = rig.switch.media
    assert media is not None
    rig.switch.media_events([PlayFinished(next(iter(media.legs)))], 8.0)
    rig.pump()
    r = rig.only(8.0)
    assert r.outcome is Outcome.CALLBACK_REQUESTED and r.cause == "callback"
    assert (r.overflow, r.callback_id, r.left_queue) == ("callback", "cb-1", "overflowed")
    assert r.wait_seconds == pytest.approx(5.5)  # queue entry 1.0, overflow at 6.5
    assert r.ended_at == 8.0
