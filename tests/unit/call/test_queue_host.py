"""Queued calls through the whole core (endpoint + controller + distributor + media) on float
time: offers ring agents' registered phones, the first to answer is bridged, ring-no-answer
moves the call on, a caller who hangs up is counted as abandoned, an away agent's caller
leaves a voice message, and the agent's state follows the call."""

from __future__ import annotations

import random
import re

import pytest

from acd.distributor import Distributor
from acd.protocol import ChangeAgentState
from cti_server import events as ev
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from tests.unit.call.test_anchored import FakePrompts
from tests.unit.call.test_switch import GW, SDP, digest_response, header, request, sent

CONFIG = """
sip: {listen: 10.0.0.1, port: 5060, realm: cti.local}
media: {mode: anchor, port_min: 30000, port_max: 30100}
accounts: [{user: "1001", password: "pw1"}, {user: "1002", password: "pw2"}]
trunks: [{name: gw, allow_from: [192.0.2.0/24]}]
acd:
  queues:
    - {name: sales, strategy: linear, offer_timeout: 10, wrap_up: 5, announce_every: null}
  agents:
    - {id: "1001", queues: [sales]}
    - {id: "1002", queues: [sales]}
routes:
  - {match: '2000', target: 'queue:sales'}
"""
PHONES = {"1001": ("10.0.0.51", 5062), "1002": ("10.0.0.52", 5062)}
PASSWORDS = {"1001": "pw1", "1002": "pw2"}


@pytest.fixture
def switch() -> CallSwitch:
    config = parse_config(CONFIG, "<t>")
    return build_switch(
        config,
        IdFactory(random.Random(7), host="10.0.0.1"),
        b"k" * 32,
        random.Random(9),
        FakePrompts(),
        acd=Distributor(config.acd, random.Random(3)),
    )


def register(switch: CallSwitch, user: str, now: float = 0.0) -> None:
    phone, uri = PHONES[user], "sip:10.0.0.1"
    common = {"call_id": f"reg{user}", "to": f"<sip:{user}@10.0.0.1>", "from_user": user}
    switch.receive_datagram(
        request(
            "REGISTER",
            uri,
            phone,
            cseq=1,
            branch=f"z9hG4bK{user}a",
            extra="Expires: 300\r\n",
            **common,
        ),
        phone,
        now,
    )
    (challenge,) = sent(switch)
    value = re.findall(r"^WWW-Authenticate: (.*?)\r?$", challenge[0], re.M)[0]
    algo = "SHA-256" if "SHA-256" in value else "MD5"
    auth = digest_response(value, "REGISTER", uri, PASSWORDS[user], algo, user=user)
    switch.receive_datagram(
        request(
            "REGISTER",
            uri,
            phone,
            cseq=2,
            branch=f"z9hG4bK{user}b",
            extra="Expires: 300\r\nAuthorization: " + auth,
            **common,
        ),
        phone,
        now,
    )
    assert sent(switch)[0][0].startswith("SIP/2.0 200")


def reply(switch: CallSwitch, invite: str, status: str, to: tuple[str, int], now: float) -> None:
    body = SDP if status.startswith("200") else b""
    lines = [
        f"SIP/2.0 {status}",
        f"Via: {header(invite, 'Via')}",
        f"From: {header(invite, 'From')}",
        f"To: {header(invite, 'To')};tag=ag{to[0][-1]}",
        f"Call-ID: {header(invite, 'Call-ID')}",
        f"CSeq: {header(invite, 'CSeq')}",
        f"Contact: <sip:agent@{to[0]}:{to[1]}>",
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    lines += [f"Content-Length: {len(body)}", "", ""]
    switch.receive_datagram("\r\n".join(lines).encode() + body, to, now)


def call_in(switch: CallSwitch, now: float) -> list[tuple[str, tuple[str, int]]]:
    switch.receive_datagram(request("INVITE", "sip:2000@10.0.0.1", GW, body=SDP), GW, now)
    return sent(switch)


def invites_to(out: list[tuple[str, tuple[str, int]]], user: str) -> list[str]:
    return [t for t, addr in out if t.startswith("INVITE ") and addr == PHONES[user]]


def names(switch: CallSwitch) -> list[str]:
    return [e.name for e in switch.drain_events()]


def test_a_queued_call_is_answered_by_us_offered_and_bridged_to_the_agent(
    switch: CallSwitch,
) -> None:
    register(switch, "1001")
    switch.drain_events()
    out = call_in(switch, 1.0)
    assert [t.split("\r\n")[0] for t, a in out if a == GW] == [
        "SIP/2.0 100 Trying",
        "SIP/2.0 200 OK",
    ]
    (invite,) = invites_to(out, "1001")
    events = switch.drain_events()
    queued = next(e for e in events if isinstance(e, ev.CallQueued))
    assert queued.queue == "sales" and queued.position == 1
    assert [e.name for e in events if e.name.startswith("agent_")] == ["agent_reserved"]
    media = switch.media
    assert media is not None
    caller_leg = next(iter(media.legs))
    assert media.legs[caller_leg].play_loop  # music on hold while it rings
    reply(switch, invite, "200 OK", PHONES["1001"], 2.0)
    assert "call_established" in names(switch)
    call = next(iter(switch.controller.calls.values()))
    assert call.acd_agent == "1001" and not media.legs[caller_leg].play_loop
    assert media.legs[caller_leg].peer is not None
    # The caller hangs up: the agent gets a BYE and goes into wrap-up (5 s), then ready.
    switch.receive_datagram(
        request(
            "BYE",
            "sip:x@10.0.0.1",
            GW,
            cseq=2,
            branch="z9hG4bKbye",
            to=f"<sip:2000@10.0.0.1>;tag={_tag(out)}",
        ),
        GW,
        10.0,
    )
    assert any(t.startswith("BYE ") and a == PHONES["1001"] for t, a in sent(switch))
    assert names(switch)[-2:] == ["agent_working_after_call", "call_cleared"]
    switch.handle_timer(15.5)
    assert "agent_ready" in names(switch)


def test_ring_no_answer_moves_the_call_to_the_next_agent(switch: CallSwitch) -> None:
    register(switch, "1001")
    register(switch, "1002")
    switch.drain_events()
    (invite1,) = invites_to(call_in(switch, 1.0), "1001")  # linear: 1001 first
    reply(switch, invite1, "180 Ringing", PHONES["1001"], 1.5)
    switch.drain_events()
    switch.handle_timer(11.5)  # offer_timeout 10 s
    out = sent(switch)
    assert any(t.startswith("CANCEL ") and a == PHONES["1001"] for t, a in out)
    (invite2,) = invites_to(out, "1002")
    events = switch.drain_events()
    timed_out = next(e for e in events if isinstance(e, ev.OfferTimedOut))
    assert timed_out.agent_id == "1001"
    not_ready = next(e for e in events if isinstance(e, ev.AgentNotReady))
    assert not_ready.agent_id == "1001" and not_ready.reason == "no_answer"
    reply(switch, invite2, "200 OK", PHONES["1002"], 12.0)
    assert "call_established" in names(switch)
    assert next(iter(switch.controller.calls.values())).acd_agent == "1002"


def test_a_busy_agent_declines_and_the_call_goes_on(switch: CallSwitch) -> None:
    register(switch, "1001")
    register(switch, "1002")
    (invite1,) = invites_to(call_in(switch, 1.0), "1001")
    switch.drain_events()
    reply(switch, invite1, "486 Busy Here", PHONES["1001"], 1.5)
    assert invites_to(sent(switch), "1002")
    declined = [e for e in switch.drain_events() if isinstance(e, ev.OfferDeclined)]
    assert declined and declined[0].agent_id == "1001"


def test_caller_hanging_up_in_the_queue_is_abandoned_and_the_offer_cancelled(
    switch: CallSwitch,
) -> None:
    register(switch, "1001")
    out = call_in(switch, 1.0)
    (invite,) = invites_to(out, "1001")
    reply(switch, invite, "180 Ringing", PHONES["1001"], 1.5)  # CANCEL needs a 1xx first
    switch.drain_events()
    switch.receive_datagram(
        request(
            "BYE",
            "sip:x@10.0.0.1",
            GW,
            cseq=2,
            branch="z9hG4bKbye",
            to=f"<sip:2000@10.0.0.1>;tag={_tag(out)}",
        ),
        GW,
        4.0,
    )
    assert any(t.startswith("CANCEL ") and a == PHONES["1001"] for t, a in sent(switch))
    events = switch.drain_events()
    abandoned = next(e for e in events if isinstance(e, ev.CallAbandoned))
    assert abandoned.queue == "sales" and abandoned.waited == pytest.approx(3.0)
    assert switch.controller.calls == {}
    assert switch.controller._acd.agent_state("1001") == "ready"


def test_no_agent_ready_waits_until_one_becomes_ready(switch: CallSwitch) -> None:
    register(switch, "1001")
    switch.acd_input(ChangeAgentState(agent_id="1001", state="not_ready", reason="break"), 0.5)
    out = call_in(switch, 1.0)
    assert not invites_to(out, "1001")
    switch.acd_input(ChangeAgentState(agent_id="1001", state="ready"), 5.0)
    assert invites_to(sent(switch), "1001")


def test_registration_ending_logs_the_agent_out(switch: CallSwitch) -> None:
    register(switch, "1001")
    assert switch.controller._acd.agent_state("1001") == "ready"
    switch.handle_timer(400.0)  # Expires: 300 passed
    assert switch.controller._acd.agent_state("1001") == "logged_out"
    assert "agent_logged_out" in names(switch)


def _tag(out: list[tuple[str, tuple[str, int]]]) -> str:
    ok = next(t for t, a in out if a == GW and t.startswith("SIP/2.0 200"))
    m = re.search(r"^To: .*;tag=([^;\r\n]+)", ok, re.M)
    assert m is not None
    return m.group(1)


CALLBACK_CONFIG = CONFIG.replace(
    "announce_every: null}", "announce_every: null, max_wait: 5, overflow: callback}"
)


def test_a_long_wait_overflows_to_a_callback_committed_before_the_confirmation() -> None:
    from cti_server.call.services import ServiceRequest
    from ivr_flows.protocol import CallbackFinished, RequestCallback

    config = parse_config(CALLBACK_CONFIG, "<t>")
    prompts = FakePrompts()
    switch = build_switch(
        config,
        IdFactory(random.Random(7), host="10.0.0.1"),
        b"k" * 32,
        random.Random(9),
        prompts,
        acd=Distributor(config.acd, random.Random(3)),
    )
    out = call_in(switch, 1.0)  # nobody is logged in: the caller waits
    switch.drain_events()
    switch.handle_timer(6.5)  # max_wait 5 s
    (request_,) = switch.drain_requests()
    assert isinstance(request_, ServiceRequest) and isinstance(request_.work, RequestCallback)
    assert request_.work.number == "0212345678" and request_.work.queue == "sales"
    overflowed = [e for e in switch.drain_events() if isinstance(e, ev.CallOverflowed)]
    assert overflowed and overflowed[0].target == "callback"
    assert not any(p == "callback_confirmed" for p, _, _ in prompts.asked)  # not before commit
    switch.service_done(
        request_.call_id,
        CallbackFinished(
            request=request_.work.request, callback_id="cb-1", number="0212345678", queue="sales"
        ),
        7.0,
    )
    assert prompts.asked[-1][0] == "callback_confirmed"
    requested = [e for e in switch.drain_events() if isinstance(e, ev.CallbackRequested)]
    assert requested and requested[0].callback_id == "cb-1"
    media = switch.media
    assert media is not None
    from cti_server.rtp.bridge import PlayFinished

    switch.media_events([PlayFinished(next(iter(media.legs)))], 8.0)
    assert any(t.startswith("BYE ") and a == GW for t, a in sent(switch)), out
    cleared = [e for e in switch.drain_events() if isinstance(e, ev.CallCleared)]
    assert cleared and cleared[0].cause == "callback"


def test_waiting_callers_hear_their_position_then_the_music_again() -> None:
    config = parse_config(CONFIG.replace("announce_every: null", "announce_every: 30"), "<t>")
    prompts = FakePrompts()
    switch = build_switch(
        config,
        IdFactory(random.Random(7), host="10.0.0.1"),
        b"k" * 32,
        random.Random(9),
        prompts,
        acd=Distributor(config.acd, random.Random(3)),
    )
    call_in(switch, 1.0)
    media = switch.media
    assert media is not None
    leg = next(iter(media.legs))
    assert media.legs[leg].play_loop  # music on hold
    switch.handle_timer(31.5)
    # Nobody is staffed, so there is no estimate to give: the position only.
    assert prompts.asked[-1][0] == "position_is"
    assert media.legs[leg].play_loop is None  # the announcement, not the music
    from cti_server.rtp.bridge import PlayFinished

    switch.media_events([PlayFinished(leg)], 33.0)
    assert media.legs[leg].play_loop  # back to the music


def test_an_agent_whose_phone_is_gone_is_logged_out_not_rung(switch: CallSwitch) -> None:
    from acd.protocol import AgentLogin

    register(switch, "1002")
    # 1001 is logged in by the API (or a restored snapshot) but no phone is registered.
    switch.acd_input(AgentLogin(agent_id="1001"), 0.5)
    out = call_in(switch, 1.0)  # linear: 1001 would be first
    assert invites_to(out, "1002")
    acd = switch.controller._acd
    assert acd.agent_state("1001") == "logged_out"
    logged_out = [e for e in switch.drain_events() if isinstance(e, ev.AgentLoggedOut)]
    assert logged_out and logged_out[0].reason == "no_registration"
