"""CallController on float time: leg events in, leg actions and domain events out."""

from __future__ import annotations

from itertools import count

import pytest

from cti_server import events as ev
from cti_server.actions import (
    AckLeg,
    AnswerReinvite,
    ByeLeg,
    CancelLeg,
    CreateLeg,
    NotifyRefer,
    ProbeLeg,
    ReinviteLeg,
    RespondLeg,
)
from cti_server.call.controller import CallController, caller_status
from cti_server.call.model import ControllerSettings
from cti_server.call.routing import Router
from cti_server.config import RouteConfig, TrunkConfig
from cti_server.sip import leg_events as le

SDP_A = b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n"
SDP_B = b"v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 5000 RTP/AVP 0\r\n"
HOLD = b"v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"


def make_controller(registered: dict[str, list[str]] | None = None) -> CallController:
    routes = [
        RouteConfig(match=r"1\d{3}", target=r"extension:\g<0>"),
        RouteConfig(match=r"0\d+", target="trunk:gw"),
        RouteConfig(match="ivr", target="flow:main"),
    ]
    trunks = [TrunkConfig(name="gw", allow_from=["10.9.9.9"], outbound_uri="sip:gw@10.9.9.9:5060")]
    contacts = registered if registered is not None else {"1001": ["sip:1001@10.0.0.2:5062"]}
    seq = count(1)
    return CallController(
        Router(routes, trunks),
        lambda user, now: contacts.get(user, []),
        lambda prefix: f"{prefix}{next(seq)}",
        ControllerSettings(ring_timeout=30.0, session_expires=600.0),
    )


def invite(
    called: str = "1001", *, trunk: str | None = "gw", auth: str | None = None, leg: str = "in1"
) -> le.InviteReceived:
    return le.InviteReceived(
        leg_id=leg,
        caller="0212345678",
        caller_display="Kim",
        called=called,
        sdp=SDP_A,
        max_forwards=70,
        auth_user=auth,
        trunk=trunk,
        source="10.9.9.9:5060",
    )


def connect(c: CallController) -> str:
    (create,) = c.handle(invite(), 0.0)
    assert isinstance(create, CreateLeg)
    c.handle(le.LegProgress(leg_id=create.leg_id, status=180), 0.5)
    c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=SDP_B), 1.0)
    c.handle(le.LegAcked(leg_id="in1"), 1.1)
    return create.leg_id


def names(c: CallController) -> list[str]:
    return [e.name for e in c.drain_events()]


def test_call_to_registered_extension_is_relayed_and_established() -> None:
    c = make_controller()
    (create,) = c.handle(invite(), 0.0)
    assert create == CreateLeg(
        leg_id=create.leg_id,
        call_id=create.call_id,
        uri="sip:1001@10.0.0.2:5062",
        caller="0212345678",
        caller_display="Kim",
        sdp=SDP_A,
        max_forwards=69,
    )
    assert c.handle(le.LegProgress(leg_id=create.leg_id, status=180), 0.5) == [
        RespondLeg(leg_id="in1", status=180)
    ]
    assert c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=SDP_B), 1.0) == [
        RespondLeg(leg_id="in1", status=200, sdp=SDP_B)
    ]
    assert names(c) == ["call_delivered", "call_originated", "call_alerting", "call_established"]


def test_early_media_183_is_relayed_with_its_sdp() -> None:
    c = make_controller()
    (create,) = c.handle(invite(), 0.0)
    assert c.handle(le.LegProgress(leg_id=create.leg_id, status=183, sdp=SDP_B), 0.2) == [
        RespondLeg(leg_id="in1", status=183, sdp=SDP_B)
    ]


def test_unknown_number_gets_404_and_a_cleared_record() -> None:
    c = make_controller()
    assert c.handle(invite("999"), 0.0) == [RespondLeg(leg_id="in1", status=404)]
    events = c.drain_events()
    assert [e.name for e in events] == ["call_delivered", "call_cleared"]
    assert isinstance(events[1], ev.CallCleared) and events[1].cause == "no_route"
    assert c.calls == {}


def test_unregistered_extension_gets_480() -> None:
    c = make_controller(registered={})
    assert c.handle(invite(), 0.0) == [RespondLeg(leg_id="in1", status=480)]


def test_trunk_route_refused_to_unauthenticated_non_trunk_caller() -> None:
    c = make_controller()
    assert c.handle(invite("0101234567", trunk=None), 0.0) == [RespondLeg(leg_id="in1", status=404)]
    (create,) = c.handle(invite("0101234567", trunk=None, auth="1001", leg="in2"), 1.0)
    assert isinstance(create, CreateLeg) and create.uri == "sip:0101234567@10.9.9.9:5060"


@pytest.mark.parametrize(
    ("far", "near"),
    [
        (486, 486),
        (600, 486),
        (404, 404),
        (408, 480),
        (480, 480),
        (503, 503),
        (500, 503),
        (403, 480),
    ],
)
def test_failure_mapping(far: int, near: int) -> None:
    assert caller_status(far) == near
    c = make_controller()
    (create,) = c.handle(invite(), 0.0)
    assert c.handle(le.LegFailed(leg_id=create.leg_id, status=far, reason="x"), 1.0) == [
        RespondLeg(leg_id="in1", status=near)
    ]
    assert "call_cleared" in names(c)


def test_second_contact_is_tried_when_the_first_fails() -> None:
    c = make_controller({"1001": ["sip:a@10.0.0.2", "sip:b@10.0.0.3"]})
    (first,) = c.handle(invite(), 0.0)
    (second,) = c.handle(le.LegFailed(leg_id=first.leg_id, status=408, reason="timeout"), 1.0)
    assert isinstance(second, CreateLeg) and second.uri == "sip:b@10.0.0.3"


def test_caller_cancel_cancels_the_outbound_leg() -> None:
    c = make_controller()
    (create,) = c.handle(invite(), 0.0)
    c.handle(le.LegProgress(leg_id=create.leg_id, status=180), 0.5)
    assert c.handle(le.LegCancelled(leg_id="in1"), 2.0) == [CancelLeg(leg_id=create.leg_id)]
    cleared = [e for e in c.drain_events() if isinstance(e, ev.CallCleared)]
    assert cleared[0].cause == "cancelled"


def test_ring_timeout_cancels_and_answers_480() -> None:
    c = make_controller()
    (create,) = c.handle(invite(), 0.0)
    assert c.next_deadline() == 30.0
    assert c.on_timer(29.0) == []
    actions = c.on_timer(30.0)
    assert actions == [
        CancelLeg(leg_id=create.leg_id, reason="ring timeout"),
        RespondLeg(leg_id="in1", status=480),
    ]
    assert c.next_deadline() is None


@pytest.mark.parametrize(("who", "cause"), [("in1", "caller_hangup"), ("out", "callee_hangup")])
def test_bye_from_either_side_clears_the_other(who: str, cause: str) -> None:
    c = make_controller()
    out = connect(c)
    c.drain_events()
    leg = out if who == "out" else "in1"
    other = "in1" if who == "out" else out
    assert c.handle(le.LegHungUp(leg_id=leg), 5.0) == [ByeLeg(leg_id=other)]
    (cleared,) = c.drain_events()
    assert isinstance(cleared, ev.CallCleared) and cleared.cause == cause


def test_hold_reinvite_is_relayed_and_answer_returned() -> None:
    c = make_controller()
    out = connect(c)
    c.drain_events()
    assert c.handle(le.LegReinvited(leg_id="in1", sdp=HOLD), 3.0) == [
        ReinviteLeg(leg_id=out, sdp=HOLD)
    ]
    assert names(c) == ["call_held"]
    assert c.handle(le.LegReinvited(leg_id="in1", sdp=HOLD), 3.1) == [
        AnswerReinvite(leg_id="in1", status=491)
    ]  # one re-INVITE at a time (glare)
    assert c.handle(le.LegReinviteAnswered(leg_id=out, status=200, sdp=SDP_B), 3.2) == [
        AnswerReinvite(leg_id="in1", status=200, sdp=SDP_B)
    ]
    c.handle(le.LegReinvited(leg_id="in1", sdp=SDP_A), 4.0)
    assert names(c) == ["call_retrieved"]


def test_blind_transfer_by_the_agent_moves_the_caller_to_the_new_target() -> None:
    c = make_controller({"1001": ["sip:1001@10.0.0.2"], "1002": ["sip:1002@10.0.0.3"]})
    out = connect(c)
    c.drain_events()
    notify, create = c.handle(le.LegReferred(leg_id=out, target="1002"), 5.0)
    assert notify == NotifyRefer(leg_id=out, status=100, final=False)
    assert isinstance(create, CreateLeg) and create.sdp == b"" and not create.auto_ack
    # the new party's 2xx carries an offer; the caller gets it in a re-INVITE
    assert c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=SDP_B), 6.0) == [
        ReinviteLeg(leg_id="in1", sdp=SDP_B)
    ]
    assert c.handle(le.LegReinviteAnswered(leg_id="in1", status=200, sdp=SDP_A), 6.1) == [
        AckLeg(leg_id=create.leg_id, sdp=SDP_A),
        NotifyRefer(leg_id=out, status=200, final=True),
        ByeLeg(leg_id=out),
    ]
    assert names(c) == ["call_transferred", "call_originated", "call_established"]
    # the transferor's BYE answer does not clear the call; the new party's BYE does
    assert c.handle(le.LegHungUp(leg_id="in1"), 9.0) == [ByeLeg(leg_id=create.leg_id)]


def test_transfer_to_unknown_target_is_reported_and_call_kept() -> None:
    c = make_controller()
    out = connect(c)
    assert c.handle(le.LegReferred(leg_id=out, target="7777"), 5.0) == [
        NotifyRefer(leg_id=out, status=404, final=True)
    ]
    assert len(c.calls) == 1


def test_reaper_probes_connected_legs_and_clears_a_dead_call() -> None:
    c = make_controller()
    out = connect(c)
    assert c.next_deadline() == pytest.approx(301.0)
    assert c.on_timer(301.0) == [ProbeLeg(leg_id="in1"), ProbeLeg(leg_id=out)]
    assert c.handle(le.LegGone(leg_id=out, reason="probe answered 481"), 302.0) == [
        ByeLeg(leg_id="in1")
    ]
    cleared = [e for e in c.drain_events() if isinstance(e, ev.CallCleared)]
    assert cleared[0].cause == "timeout"


def test_flow_target_is_unavailable_until_the_ivr_serves_it() -> None:
    c = make_controller()
    assert c.handle(invite("ivr"), 0.0) == [RespondLeg(leg_id="in1", status=503)]


def test_reinvite_without_offer_is_answered_with_the_far_end_session() -> None:
    c = make_controller()
    connect(c)
    assert c.handle(le.LegReinvited(leg_id="in1", sdp=b""), 3.0) == [
        AnswerReinvite(leg_id="in1", status=200, sdp=SDP_B)
    ]


def test_route_templates_expand_groups_and_bad_groups_are_refused_at_load() -> None:
    from cti_server.call.routing import compile_template, expand
    from cti_server.config import ConfigError, parse_config

    m = __import__("re").fullmatch(r"9(?P<n>\d+)", "9123")
    assert m is not None
    assert expand(compile_template(r"sip:\g<n>@gw-\1;x=\g<0>"), m) == "sip:123@gw-123;x=9123"
    with pytest.raises(ConfigError) as err:
        parse_config("routes:\n  - {match: '9\\\\d+', target: 'uri:sip:\\\\1@gw'}\n", "r.yaml")
    assert "r.yaml:2" in str(err.value) and "group '1'" in str(err.value)
