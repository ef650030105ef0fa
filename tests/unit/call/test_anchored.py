"""Anchored calls through the whole core (endpoint + controller + media), on float time."""

from __future__ import annotations

import random
import re

import pytest

from cti_server import events as ev
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from cti_server.rtp.bridge import DigitReceived, PlayFinished
from tests.unit.call.test_switch import GW, PHONE, SDP, first_lines, header, register, request, sent

CONFIG = """
sip: {listen: 10.0.0.1, port: 5060, realm: cti.local}
media: {mode: anchor, port_min: 30000, port_max: 30100}
accounts: [{user: "1001", password: "secret1"}]
trunks: [{name: gw, allow_from: [192.0.2.0/24]}]
routes:
  - {match: '1\\d{3}', target: 'extension:\\g<0>'}
  - {match: '2\\d{3}', target: 'extension:1001', announce: greeting}
  - {match: '3\\d{3}', target: 'extension:\\g<0>', voicemail: true}
recording: {voice_message_max: 30}
"""
HOLD = SDP.replace(b"t=0 0\r\n", b"t=0 0\r\n") + b"a=sendonly\r\n"


class FakePrompts:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def frames(self, prompt_id: str, language: str, codec: str, **slots: int) -> list[bytes]:
        self.asked.append((prompt_id, language, codec))
        return [b"\xff" * 160] * 5

    def music_on_hold(self, codec: str) -> list[bytes]:
        return [b"\x7f" * 160] * 3


@pytest.fixture
def prompts() -> FakePrompts:
    return FakePrompts()


@pytest.fixture
def switch(prompts: FakePrompts) -> CallSwitch:
    return build_switch(
        parse_config(CONFIG, "<t>"),
        IdFactory(random.Random(7), host="10.0.0.1"),
        b"k" * 32,
        random.Random(9),
        prompts,
    )


def sdp_port(text: str) -> int:
    return int(re.search(r"m=audio (\d+) ", text).group(1))  # type: ignore[union-attr]


def answer_agent(switch: CallSwitch, invite: str, now: float) -> None:
    ok = (
        "\r\n".join(
            [
                "SIP/2.0 200 OK",
                f"Via: {header(invite, 'Via')}",
                f"From: {header(invite, 'From')}",
                f"To: {header(invite, 'To')};tag=agent1",
                f"Call-ID: {header(invite, 'Call-ID')}",
                "CSeq: 1 INVITE",
                "Contact: <sip:1001@10.0.0.50:5062>",
                "Content-Type: application/sdp",
                f"Content-Length: {len(SDP)}",
                "",
                "",
            ]
        ).encode()
        + SDP
    )
    switch.receive_datagram(ok, PHONE, now)


def test_each_leg_gets_our_own_address_and_the_legs_are_bridged(switch: CallSwitch) -> None:
    register(switch)
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.0)
    invite = sent(switch)[1][0]
    assert "c=IN IP4 10.0.0.1" in invite and "RTP/AVP 0 8 101" in invite
    answer_agent(switch, invite, 2.0)
    ok = next(t for t, _ in sent(switch) if t.startswith("SIP/2.0 200"))
    assert "c=IN IP4 10.0.0.1" in ok and sdp_port(ok) != sdp_port(invite)
    media = switch.media
    assert media is not None
    a, b = sorted(media.legs, key=lambda leg_id: media.legs[leg_id].port == sdp_port(invite))
    assert media.legs[a].peer == b and media.legs[b].peer == a
    assert media.legs[a].route.remote == ("192.0.2.10", 4000)


def test_announcement_answers_plays_and_a_key_skips_to_the_agent(
    switch: CallSwitch, prompts: FakePrompts
) -> None:
    register(switch)
    switch.drain_events()
    switch.receive_datagram(request("INVITE", "sip:2000@10.0.0.1", GW, body=SDP), GW, 1.0)
    assert first_lines(sent(switch)) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    assert prompts.asked == [("greeting", "ko", "PCMU")]
    media = switch.media
    assert media is not None
    (caller_leg,) = media.legs
    assert len(media.legs[caller_leg].playing) == 5 and media.legs[caller_leg].route.collect
    switch.media_events([DigitReceived(caller_leg, "3")], 1.5)
    assert first_lines(sent(switch)) == ["INVITE sip:1001@10.0.0.50:5062 SIP/2.0"]
    assert not media.legs[caller_leg].playing
    names = [e.name for e in switch.drain_events()]
    assert names == [
        "call_delivered",
        "prompt_started",
        "dtmf_received",
        "prompt_ended",
        "call_originated",
    ]


def test_announcement_end_rings_the_agent_and_its_answer_is_not_relayed_twice(
    switch: CallSwitch,
) -> None:
    register(switch)
    switch.receive_datagram(request("INVITE", "sip:2000@10.0.0.1", GW, body=SDP), GW, 1.0)
    sent(switch)
    media = switch.media
    assert media is not None
    (caller_leg,) = media.legs
    switch.media_events([PlayFinished(caller_leg)], 1.1)
    ((invite, _),) = sent(switch)
    answer_agent(switch, invite, 2.0)
    assert first_lines(sent(switch)) == ["ACK sip:1001@10.0.0.50:5062 SIP/2.0"]  # no 2nd 200
    assert any(isinstance(e, ev.CallEstablished) for e in switch.drain_events())


def test_hold_is_answered_locally_with_music_for_the_other_side(switch: CallSwitch) -> None:
    register(switch)
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.0)
    invite = sent(switch)[1][0]
    answer_agent(switch, invite, 2.0)
    ok = next(t for t, _ in sent(switch) if t.startswith("SIP/2.0 200"))
    tag = re.search(r"tag=(\w+)", header(ok, "To")).group(1)  # type: ignore[union-attr]
    switch.drain_events()
    switch.receive_datagram(
        request(
            "INVITE",
            "sip:1001@10.0.0.1",
            GW,
            cseq=2,
            body=HOLD,
            branch="z9hG4bKre",
            to=f"<sip:1001@10.0.0.1>;tag={tag}",
        ),
        GW,
        3.0,
    )
    out = sent(switch)
    assert first_lines(out)[-1] == "SIP/2.0 200 OK" and "a=recvonly" in out[-1][0]
    assert all(addr == GW for _, addr in out)  # nothing went to the agent
    assert [e.name for e in switch.drain_events()] == ["call_held"]
    media = switch.media
    assert media is not None
    agent_leg = next(k for k, v in media.legs.items() if v.port == sdp_port(invite))
    assert media.legs[agent_leg].play_loop is not None  # music on hold for the agent


def test_unreachable_agent_sends_the_caller_to_voice_mail_until_the_limit(
    switch: CallSwitch, prompts: FakePrompts
) -> None:
    switch.receive_datagram(request("INVITE", "sip:3005@10.0.0.1", GW, body=SDP), GW, 1.0)
    out = sent(switch)
    assert first_lines(out) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]  # answered by us
    assert prompts.asked == [("leave_message", "ko", "PCMU")]
    media = switch.media
    assert media is not None
    (caller_leg,) = media.legs
    switch.media_events([PlayFinished(caller_leg)], 4.0)
    started = [e for e in switch.drain_events() if isinstance(e, ev.VoiceMessageStarted)]
    assert [(e.agent_id, e.max_seconds) for e in started] == [("3005", 30.0)]
    assert switch.controller.next_deadline() == pytest.approx(34.0)
    switch.handle_timer(34.0)
    assert "BYE sip:0212345678@192.0.2.10:5060 SIP/2.0" in first_lines(sent(switch))
    cleared = [e for e in switch.drain_events() if isinstance(e, ev.CallCleared)]
    assert cleared[0].cause == "voice_message"
