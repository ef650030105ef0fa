"""Live monitoring in the call controller on float time: the supervisor's leg from the API or a
feature code, mode changes, and every way a session ends; the call itself never notices."""

from __future__ import annotations

import random
from itertools import count

import pytest

from cti_server import events as ev
from cti_server.actions import AnswerReinvite, ByeLeg, CancelLeg, CreateLeg, RespondLeg
from cti_server.call.controller import CallController
from cti_server.call.media_plan import MediaPlanner
from cti_server.call.model import ControllerSettings
from cti_server.call.monitor import MonitorError
from cti_server.call.routing import Router
from cti_server.config import RouteConfig, TrunkConfig
from cti_server.rtp.bridge import DigitReceived, MediaCore, MediaTimedOut
from cti_server.sip import leg_events as le


def sdp(port: int, extra: str = "") -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        f"a=rtpmap:101 telephone-event/8000\r\n{extra}"
    ).encode()


PHONES = {u: [f"sip:{u}@10.0.0.{i}"] for u, i in (("1001", 2), ("1002", 4), ("1003", 3))}


def make() -> CallController:
    routes = [RouteConfig(match=r"1\d{3}", target=r"extension:\g<0>")]
    trunks = [TrunkConfig(name="gw", allow_from=["10.9.9.9"])]
    media = MediaCore(local_ip="10.0.0.1", port_min=30000, port_max=30100, rng=random.Random(1))
    seq = count(1)
    c = CallController(
        Router(routes, trunks),
        lambda user, now: PHONES.get(user, []),
        lambda prefix: f"{prefix}{next(seq)}",
        ControllerSettings(ring_timeout=30.0, session_expires=600.0),
        MediaPlanner(media, "10.0.0.1"),
    )
    c.monitor_allowed = lambda account: account == "1003"
    return c


def media(c: CallController) -> MediaCore:
    assert c._plan is not None
    return c._plan.media


def connect(c: CallController) -> tuple[str, str]:
    """A trunk caller on agent 1001's phone: (call id, agent leg id)."""
    invite = le.InviteReceived(
        leg_id="in1", caller="0212345678", caller_display=None, called="1001",
        sdp=sdp(4000), max_forwards=70, auth_user=None, trunk="gw", source="10.9.9.9:5060",
    )  # fmt: skip
    (create,) = c.handle(invite, 0.0)
    assert isinstance(create, CreateLeg)
    c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=sdp(5000)), 1.0)
    c.handle(le.LegAcked(leg_id="in1"), 1.1)
    c.drain_events()
    return create.call_id, create.leg_id


def supervise(c: CallController, call_id: str, mode: str = "listen") -> str:
    """Start monitoring from the API; the supervisor's phone answers. Its leg id."""
    (create,) = c.monitor(call_id, "1003", mode, 2.0)
    assert isinstance(create, CreateLeg) and create.uri == "sip:1003@10.0.0.3"
    assert b"m=audio" in create.sdp and create.caller == "1001"
    assert c.handle(le.LegProgress(leg_id=create.leg_id, status=180), 2.1) == []
    assert c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=sdp(6000)), 2.5) == []
    return create.leg_id


def names(c: CallController) -> list[str]:
    return [e.name for e in c.drain_events()]


def test_listen_from_the_api_rings_the_supervisor_and_mixes_them_in() -> None:
    c = make()
    call_id, agent = connect(c)
    sup = supervise(c, call_id)
    events = c.drain_events()
    assert [e.name for e in events] == ["monitor_started"]
    started = events[0]
    assert isinstance(started, ev.MonitorStarted)
    assert (started.call_id, started.supervisor_id, started.agent_id) == (call_id, "1003", "1001")
    assert (started.mode, started.via) == ("listen", "api")
    assert media(c).hears(sup) == {"in1", agent}
    assert list(c.calls) == [call_id]  # the supervisor's leg is no call of its own


def test_modes_switch_from_the_api_and_from_the_supervisor_keys() -> None:
    c = make()
    call_id, agent = connect(c)
    sup = supervise(c, call_id)
    c.drain_events()
    assert c.set_monitor_mode(call_id, "whisper", 3.0) == []
    assert media(c).hears(agent) == {"in1", sup} and media(c).hears("in1") == frozenset()
    c.handle_media(DigitReceived(sup, "6"), 3.5)  # 6: barge
    assert media(c).hears("in1") == {agent, sup}
    c.handle_media(DigitReceived(sup, "4"), 4.0)  # 4: back to listen
    c.set_monitor_mode(call_id, "listen", 4.1)  # unchanged: no event
    changes = [e for e in c.drain_events() if isinstance(e, ev.MonitorChanged)]
    assert [(e.previous, e.mode) for e in changes] == [
        ("listen", "whisper"), ("whisper", "barge"), ("barge", "listen")
    ]  # fmt: skip
    with pytest.raises(MonitorError) as bad:
        c.set_monitor_mode(call_id, "scream", 5.0)
    assert bad.value.reason == "bad_mode"


def test_the_supervisor_hanging_up_leaves_the_call_untouched() -> None:
    c = make()
    call_id, agent = connect(c)
    sup = supervise(c, call_id, "barge")
    c.drain_events()
    assert c.handle(le.LegHungUp(leg_id=sup), 6.0) == []
    events = c.drain_events()
    assert [e.name for e in events] == ["monitor_ended"]
    assert isinstance(events[0], ev.MonitorEnded) and events[0].cause == "supervisor_hangup"
    assert media(c).monitors == {} and sup not in media(c).legs
    assert media(c).legs["in1"].peer == agent and call_id in c.calls
    assert c.handle(le.LegGone(leg_id=sup, reason="bye done"), 6.1) == []
    supervise(c, call_id)  # may start again


def test_the_call_ending_hangs_the_supervisor_up_before_the_call_is_cleared() -> None:
    c = make()
    call_id, agent = connect(c)
    sup = supervise(c, call_id)
    c.drain_events()
    actions = c.handle(le.LegHungUp(leg_id="in1"), 7.0)
    assert ByeLeg(leg_id=agent) in actions and ByeLeg(leg_id=sup) in actions
    events = c.drain_events()
    assert [e.name for e in events] == ["monitor_ended", "call_cleared"]
    assert isinstance(events[0], ev.MonitorEnded) and events[0].cause == "call_cleared"
    assert media(c).legs == {}


def test_a_ringing_supervisor_is_cancelled_and_an_unanswered_one_ends_the_session() -> None:
    c = make()
    call_id, _agent = connect(c)
    (create,) = c.monitor(call_id, "1003", "whisper", 2.0)
    assert isinstance(create, CreateLeg)
    assert c.handle(le.LegFailed(leg_id=create.leg_id, status=486, reason="Busy"), 3.0) == []
    ended = c.drain_events()
    assert [(e.name, getattr(e, "cause", "")) for e in ended] == [("monitor_ended", "unanswered")]
    (create,) = c.monitor(call_id, "1003", "listen", 4.0)
    actions = c.stop_monitor(call_id, 5.0)
    assert actions == [CancelLeg(leg_id=create.leg_id, reason="monitoring ended")]
    assert c.monitor_session(call_id) is None


def test_requests_that_cannot_be_served_name_their_reason() -> None:
    c = make()
    with pytest.raises(MonitorError) as err:
        c.monitor("C404", "1003", "listen", 0.0)
    assert err.value.reason == "no_such_call"
    call_id, _agent = connect(c)
    for supervisor, mode, reason in [
        ("1003", "shout", "bad_mode"),
        ("1009", "listen", "no_registration"),
        ("1001", "listen", "own_call"),
    ]:
        with pytest.raises(MonitorError) as err:
            c.monitor(call_id, supervisor, mode, 1.0)
        assert err.value.reason == reason
    supervise(c, call_id)
    with pytest.raises(MonitorError) as err:
        c.monitor(call_id, "1002", "listen", 3.0)
    assert err.value.reason == "busy"
    with pytest.raises(MonitorError) as err:
        c.stop_monitor("C404", 3.0)
    assert err.value.reason == "not_monitored"


def feature(called: str, auth: str | None = "1003", trunk: str | None = None) -> le.InviteReceived:
    return le.InviteReceived(
        leg_id="sup-in", caller=auth or "x", caller_display=None, called=called, sdp=sdp(7000),
        max_forwards=70, auth_user=auth, trunk=trunk, source="10.0.0.3:5060",
    )  # fmt: skip


def test_a_feature_code_from_an_allowed_phone_joins_at_once() -> None:
    c = make()
    _call_id, agent = connect(c)
    (ok,) = c.handle(feature("*561001"), 3.0)
    assert isinstance(ok, RespondLeg) and ok.status == 200 and b"c=IN IP4 10.0.0.1" in ok.sdp
    started = c.drain_events()
    assert [(e.name, getattr(e, "mode", ""), getattr(e, "via", "")) for e in started] == [
        ("monitor_started", "whisper", "feature_code")
    ]
    assert media(c).hears(agent) == {"in1", "sup-in"}
    c.handle(le.LegAcked(leg_id="sup-in"), 3.1)
    # the supervisor's phone holding is answered here and is no call event
    (held,) = c.handle(le.LegReinvited(leg_id="sup-in", sdp=sdp(7000, "a=sendonly\r\n")), 4.0)
    assert isinstance(held, AnswerReinvite) and held.status == 200 and c.drain_events() == []
    assert c.handle(le.LegHungUp(leg_id="sup-in"), 5.0) == []
    assert names(c) == ["monitor_ended"]


@pytest.mark.parametrize(
    ("called", "auth", "trunk", "status"),
    [
        ("*551001", "1002", None, 403),  # not a supervisor's phone
        ("*551001", None, "gw", 403),  # from a trunk: never
        ("*551002", "1003", None, 480),  # 1002 is on no call
        ("*551001", "1003", None, 200),
    ],
)
def test_feature_codes_are_refused_to_others(
    called: str, auth: str | None, trunk: str | None, status: int
) -> None:
    c = make()
    connect(c)
    (answer,) = c.handle(feature(called, auth, trunk), 3.0)
    assert isinstance(answer, RespondLeg) and answer.status == status


def test_a_silent_supervisor_phone_is_hung_up() -> None:
    c = make()
    call_id, _agent = connect(c)
    sup = supervise(c, call_id)
    c.drain_events()
    assert c.handle_media(MediaTimedOut(sup), 70.0) == [ByeLeg(leg_id=sup)]
    assert [(e.name, getattr(e, "cause", "")) for e in c.drain_events()] == [
        ("monitor_ended", "media_timeout")
    ]
    assert call_id in c.calls


def test_after_a_desk_transfer_the_supervisor_follows_the_new_agent() -> None:
    c = make()
    call_id, agent = connect(c)
    sup = supervise(c, call_id, "whisper")
    (create,) = c.desk_transfer(call_id, "agent", "1002", 3.0)
    assert isinstance(create, CreateLeg)
    actions = c.handle(le.LegAnswered(leg_id=create.leg_id, sdp=sdp(5200)), 4.0)
    assert ByeLeg(leg_id=agent) in actions and ByeLeg(leg_id=sup) not in actions
    assert media(c).monitors[sup].target == create.leg_id
    assert media(c).hears(create.leg_id) == {"in1", sup}
    assert "monitor_ended" not in names(c)
