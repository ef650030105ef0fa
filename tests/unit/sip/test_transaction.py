"""RFC 3261 §17 transaction machines on a float clock, over UDP and TCP.

The pyVoIP messages below were produced by pyVoIP 1.6.8 itself (``SIPClient.gen_invite``,
``gen_ack``, ``gen_bye``) and pasted byte for byte; only the Content-Length of the INVITE was
adjusted after its SDP body was shortened. Note the ACK: it reuses the INVITE's branch and
carries a To tag that the server never sent.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cti_server.sip.dialog import Dialog
from cti_server.sip.headers import parse_cseq, parse_via
from cti_server.sip.message import Headers, SipRequest, SipResponse
from cti_server.sip.peer import Peer
from cti_server.sip.transaction import (
    ClientKey,
    RequestReceived,
    ResponseReceived,
    ServerKey,
    State,
    StrayResponse,
    TransactionError,
    TransactionEvent,
    TransactionLayer,
    TransactionStateError,
    TransactionTimedOut,
    make_cancel,
    make_response,
)

PHONE_UDP = Peer("UDP", ("192.0.2.10", 5062))
PHONE_TCP = Peer("TCP", ("192.0.2.10", 40312), conn_id="c7")
SERVER_UDP = Peer("UDP", ("192.0.2.1", 5060))
SERVER_TCP = Peer("TCP", ("192.0.2.1", 5060), conn_id="c8")

PYVOIP_INVITE = (
    "INVITE sip:100@192.0.2.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: <sip:agent@192.0.2.10:5062>\r\n"
    "To: <sip:100@192.0.2.1>\r\n"
    "From: <sip:agent@192.0.2.10>;tag=70f2989f\r\n"
    "Call-ID: callid123@192.0.2.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Allow: INVITE, ACK, BYE, CANCEL\r\n"
    "Content-Type: application/sdp\r\n"
    "User-Agent: pyVoIP 1.6.8\r\n"
    "Content-Length: 36\r\n"
    "\r\n"
    "v=0\r\n"
    "m=audio 10000 RTP/AVP 0 101\r\n"
)
PYVOIP_ACK = (
    "ACK sip:100@192.0.2.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:100@192.0.2.1>;tag=5b29837d\r\n"
    "From: <sip:agent@192.0.2.10>;tag=70f2989f\r\n"
    "Call-ID: callid123@192.0.2.10\r\n"
    "CSeq: 1 ACK\r\n"
    "User-Agent: pyVoIP 1.6.8\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)
PYVOIP_BYE = (
    "BYE sip:100@192.0.2.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "From: <sip:agent@192.0.2.10>;tag=70f2989f\r\n"
    "To: <sip:100@192.0.2.1>;tag=srv1\r\n"
    "Call-ID: callid123@192.0.2.10\r\n"
    "CSeq: 2 BYE\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: <sip:agent@192.0.2.10:5062>\r\n"
    "User-Agent: pyVoIP 1.6.8\r\n"
    "Allow: INVITE, ACK, BYE, CANCEL\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)
# What this server sends to an agent: two Vias would be a proxy's; a UAC has one. Routes matter
# for the ACK and CANCEL contents.
SERVER_INVITE = (
    "INVITE sip:agent@192.0.2.10:5062 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc0ffee01\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:p1.example.net;lr>\r\n"
    "Route: <sip:p2.example.net;lr>\r\n"
    "From: <sip:queue@192.0.2.1>;tag=srvtag\r\n"
    "To: <sip:agent@192.0.2.10>\r\n"
    "Call-ID: out-1@192.0.2.1\r\n"
    "CSeq: 7 INVITE\r\n"
    "Contact: <sip:queue@192.0.2.1:5060>\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


def parse(data: str | bytes) -> SipRequest | SipResponse:
    """A test-only reader: start line, one header per line, body after the blank line."""
    text = data.decode() if isinstance(data, bytes) else data
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    items = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        items.append((name.strip(), value.strip()))
    headers = Headers(items)
    first, second, third = lines[0].split(" ", 2)
    if first == "SIP/2.0":
        return SipResponse(int(second), third, headers, body.encode())
    return SipRequest(first, second, headers, body.encode(), third)


def req(text: str, replace: dict[str, str] | None = None) -> SipRequest:
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    message = parse(text)
    assert isinstance(message, SipRequest)
    return message


def resp(data: str | bytes) -> SipResponse:
    message = parse(data)
    assert isinstance(message, SipResponse)
    return message


def with_header(message: SipRequest, name: str, value: str) -> SipRequest:
    message.headers.set(name, value)
    return message


def events(layer: TransactionLayer) -> list[TransactionEvent]:
    out = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def sent(layer: TransactionLayer) -> list[SipRequest | SipResponse]:
    return [parse(data) for data, _ in layer.messages_to_send()]


def run_timers(layer: TransactionLayer, until: float) -> list[tuple[float, str]]:
    """Fire every deadline up to ``until``; returns (time, start line) of what went out."""
    log: list[tuple[float, str]] = []
    while (at := layer.get_timer()) is not None and at <= until:
        layer.handle_timer(at)
        for data, _ in layer.messages_to_send():
            log.append((at, data.split(b"\r\n", 1)[0].decode()))
    return log


def new_ist(peer: Peer = PHONE_UDP) -> tuple[TransactionLayer, ServerKey, SipRequest]:
    layer = TransactionLayer()
    invite = req(PYVOIP_INVITE)
    layer.receive_request(invite, peer, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    assert not event.overloaded
    return layer, event.key, invite


# --- INVITE server transaction ------------------------------------------------------------


def test_invite_creates_server_transaction_keyed_by_branch_sent_by_method_and_cseq() -> None:
    layer, key, _ = new_ist()
    assert key == ServerKey("z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa", "192.0.2.10", 5062, "INVITE", 1)
    assert layer.state(key) is State.PROCEEDING
    assert layer.stats()["invite_server"] == 1
    assert layer.get_timer() is None


def test_invite_retransmission_resends_last_provisional_and_makes_no_event() -> None:
    layer, key, invite = new_ist()
    layer.receive_request(invite, PHONE_UDP, 0.1)
    assert sent(layer) == [] and events(layer) == []  # nothing sent yet: nothing to resend
    layer.send_response(key, make_response(invite, 100), 0.1)
    layer.send_response(key, make_response(invite, 180, to_tag="t1"), 0.2)
    assert [m.status for m in sent(layer) if isinstance(m, SipResponse)] == [100, 180]
    layer.receive_request(req(PYVOIP_INVITE), PHONE_UDP, 0.3)
    (again,) = sent(layer)
    assert isinstance(again, SipResponse) and again.status == 180
    assert events(layer) == []


def test_non_2xx_final_over_udp_timer_g_doubles_to_t2_and_timer_h_times_out() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 486, to_tag="t1"), 0.0)
    assert len(sent(layer)) == 1
    assert layer.state(key) is State.COMPLETED
    log = run_timers(layer, 40.0)
    times = [at for at, line in log]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert {line for _, line in log} == {"SIP/2.0 486 Busy Here"}
    assert events(layer) == [TransactionTimedOut(key, "INVITE", "server")]  # Timer H at 32
    assert layer.state(key) is None and layer.stats()["invite_server"] == 0


def test_pyvoip_ack_for_non_2xx_is_absorbed_and_timer_i_ends_the_transaction() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 401, to_tag="t1"), 0.0)
    run_timers(layer, 0.6)  # one Timer G retransmission
    layer.receive_request(req(PYVOIP_ACK), PHONE_UDP, 1.0)
    assert events(layer) == [] and sent(layer) == []
    assert layer.state(key) is State.CONFIRMED
    layer.receive_request(req(PYVOIP_ACK), PHONE_UDP, 1.2)  # absorbed again
    layer.receive_request(req(PYVOIP_INVITE), PHONE_UDP, 1.3)  # Confirmed: no resend
    assert events(layer) == [] and sent(layer) == []
    assert layer.get_timer() == 6.0  # Timer I = T4; Timer G stopped
    assert run_timers(layer, 10.0) == []
    assert layer.state(key) is None and events(layer) == []


def test_non_2xx_over_tcp_has_no_timer_g_and_a_zero_timer_i() -> None:
    layer, key, invite = new_ist(PHONE_TCP)
    layer.send_response(key, make_response(invite, 486, to_tag="t1"), 0.0)
    sent(layer)
    assert layer.get_timer() == 32.0  # only Timer H
    layer.receive_request(req(PYVOIP_ACK), PHONE_TCP, 0.2)
    assert layer.state(key) is None and layer.get_timer() is None


def test_non_2xx_over_tcp_without_ack_times_out_at_h() -> None:
    layer, key, invite = new_ist(PHONE_TCP)
    layer.send_response(key, make_response(invite, 480, to_tag="t1"), 0.0)
    sent(layer)
    assert run_timers(layer, 40.0) == []
    assert events(layer) == [TransactionTimedOut(key, "INVITE", "server")]


def test_2xx_enters_accepted_and_is_retransmitted_until_the_ack() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    sent(layer)
    assert layer.state(key) is State.ACCEPTED
    log = run_timers(layer, 8.0)
    assert [at for at, _ in log] == [0.5, 1.5, 3.5, 7.5]
    assert {line for _, line in log} == {"SIP/2.0 200 OK"}
    # A standards ACK: new branch, our To tag. Matched by Call-ID + CSeq.
    ack = req(PYVOIP_ACK, {"z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa": "z9hG4bKfresh", "=5b29837d": "=t1"})
    layer.receive_request(ack, PHONE_UDP, 8.0)
    assert events(layer) == [RequestReceived(key, ack, PHONE_UDP)]
    assert run_timers(layer, 40.0) == []  # no more 2xx, and Timer L ends quietly
    assert events(layer) == [] and layer.state(key) is None


def test_2xx_retransmission_interval_caps_at_t2() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    sent(layer)
    times = [at for at, _ in run_timers(layer, 31.9)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def test_pyvoip_ack_for_2xx_with_random_to_tag_and_reused_branch_stops_retransmissions() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    sent(layer)
    ack = req(PYVOIP_ACK)
    layer.receive_request(ack, PHONE_UDP, 0.2)
    assert events(layer) == [RequestReceived(key, ack, PHONE_UDP)]
    assert [at for at, _ in run_timers(layer, 40.0)] == []
    assert events(layer) == []  # acknowledged: Timer L is no timeout


def test_no_ack_for_2xx_within_64_t1_is_reported_as_timer_l_timeout() -> None:
    layer, key, invite = new_ist(PHONE_TCP)
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    sent(layer)
    assert run_timers(layer, 31.9) == []  # reliable: no 2xx retransmissions
    assert events(layer) == []
    layer.handle_timer(32.0)
    assert events(layer) == [TransactionTimedOut(key, "INVITE", "server")]


def test_invite_retransmission_in_accepted_resends_the_2xx() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    sent(layer)
    layer.receive_request(req(PYVOIP_INVITE), PHONE_UDP, 0.1)
    (again,) = sent(layer)
    assert isinstance(again, SipResponse) and again.status == 200
    assert events(layer) == []


def test_ack_matching_nothing_goes_up_without_a_key() -> None:
    layer = TransactionLayer()
    ack = req(PYVOIP_ACK)
    layer.receive_request(ack, PHONE_UDP, 0.0)
    assert events(layer) == [RequestReceived(None, ack, PHONE_UDP)]
    assert layer.stats()["invite_server"] == 0


def test_ack_after_timer_l_goes_up_without_a_key() -> None:
    layer, key, invite = new_ist(PHONE_TCP)
    layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.0)
    run_timers(layer, 40.0)
    events(layer)
    ack = req(PYVOIP_ACK)
    layer.receive_request(ack, PHONE_TCP, 41.0)
    assert events(layer) == [RequestReceived(None, ack, PHONE_TCP)]


def test_pyvoip_reinvite_after_401_with_same_branch_and_higher_cseq_is_a_new_transaction() -> None:
    layer, first, invite = new_ist()
    layer.send_response(first, make_response(invite, 401, to_tag="t1"), 0.0)
    layer.receive_request(req(PYVOIP_ACK), PHONE_UDP, 0.1)
    assert layer.state(first) is State.CONFIRMED
    authed = with_header(req(PYVOIP_INVITE), "CSeq", "2 INVITE")
    authed.headers.add("Authorization", 'Digest username="agent"')
    layer.receive_request(authed, PHONE_UDP, 0.2)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    assert event.key != first and event.key.seq == 2
    assert layer.state(event.key) is State.PROCEEDING
    assert layer.stats()["invite_server"] == 2


def test_tu_sending_2xx_after_a_non_2xx_is_an_illegal_transition() -> None:
    layer, key, invite = new_ist()
    layer.send_response(key, make_response(invite, 487, to_tag="t1"), 0.0)
    with pytest.raises(TransactionStateError, match=r"invite_server .* Completed .* send 2xx"):
        layer.send_response(key, make_response(invite, 200, to_tag="t1"), 0.1)


def test_send_response_for_unknown_transaction_raises() -> None:
    layer = TransactionLayer()
    key = ServerKey("z9hG4bKnone", "192.0.2.10", 5062, "INVITE", 1)
    with pytest.raises(TransactionError, match="no server transaction"):
        layer.send_response(key, make_response(req(PYVOIP_INVITE), 200), 0.0)


def test_rfc2543_branchless_invite_matches_retransmission_and_ack_by_fields() -> None:
    old_via = "SIP/2.0/UDP 192.0.2.30:5060"
    layer = TransactionLayer()
    invite = with_header(req(PYVOIP_INVITE), "Via", old_via)
    layer.receive_request(invite, PHONE_UDP, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    key = event.key
    layer.send_response(key, make_response(invite, 486, to_tag="t9"), 0.0)
    sent(layer)
    layer.receive_request(with_header(req(PYVOIP_INVITE), "Via", old_via), PHONE_UDP, 0.1)
    assert events(layer) == [] and len(sent(layer)) == 1  # matched: final resent
    other_call = with_header(req(PYVOIP_INVITE), "Via", old_via)
    other_call.headers.set("From", "<sip:agent@192.0.2.10>;tag=different")
    layer.receive_request(other_call, PHONE_UDP, 0.2)
    assert len(events(layer)) == 1  # a different From tag is a different transaction
    ack = with_header(req(PYVOIP_ACK, {"=5b29837d": "=t9"}), "Via", old_via)
    layer.receive_request(ack, PHONE_UDP, 0.3)
    assert layer.state(key) is State.CONFIRMED and events(layer) == []


# --- non-INVITE server transaction --------------------------------------------------------


def test_non_invite_server_trying_completed_and_timer_j_over_udp() -> None:
    layer = TransactionLayer()
    bye = req(PYVOIP_BYE)
    layer.receive_request(bye, PHONE_UDP, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    key = event.key
    assert key.method == "BYE" and layer.state(key) is State.TRYING
    layer.receive_request(req(PYVOIP_BYE), PHONE_UDP, 0.5)  # Trying: absorbed
    assert sent(layer) == [] and events(layer) == []
    layer.send_response(key, make_response(bye, 200), 1.0)
    assert len(sent(layer)) == 1 and layer.state(key) is State.COMPLETED
    layer.receive_request(req(PYVOIP_BYE), PHONE_UDP, 2.0)  # Completed: final resent
    (again,) = sent(layer)
    assert isinstance(again, SipResponse) and again.status == 200
    layer.send_response(key, make_response(bye, 500), 2.5)  # §17.2.2: discarded
    assert sent(layer) == []
    assert layer.get_timer() == 33.0  # Timer J = 64*T1
    assert run_timers(layer, 40.0) == [] and events(layer) == []
    assert layer.state(key) is None and layer.stats()["non_invite_server"] == 0


def test_non_invite_server_proceeding_resends_provisional() -> None:
    layer = TransactionLayer()
    layer.receive_request(req(PYVOIP_BYE), PHONE_UDP, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    layer.send_response(event.key, make_response(event.request, 100), 0.0)
    sent(layer)
    assert layer.state(event.key) is State.PROCEEDING
    layer.receive_request(req(PYVOIP_BYE), PHONE_UDP, 0.5)
    (again,) = sent(layer)
    assert isinstance(again, SipResponse) and again.status == 100


def test_non_invite_server_over_tcp_terminates_on_final() -> None:
    layer = TransactionLayer()
    layer.receive_request(req(PYVOIP_BYE), PHONE_TCP, 0.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    layer.send_response(event.key, make_response(event.request, 200), 0.0)
    ((_, peer),) = layer.messages_to_send()
    assert peer == PHONE_TCP  # responses go back on the connection the request came on
    assert layer.state(event.key) is None and layer.get_timer() is None


# --- CANCEL, overload ---------------------------------------------------------------------


def test_cancel_finds_its_invite_server_transaction() -> None:
    layer, key, invite = new_ist()
    cancel = make_cancel(invite)
    layer.receive_request(cancel, PHONE_UDP, 1.0)
    (event,) = events(layer)
    assert isinstance(event, RequestReceived) and event.key is not None
    assert event.key.method == "CANCEL" and event.key != key  # its own non-INVITE txn
    assert layer.find_invite_for_cancel(cancel, PHONE_UDP) == key
    stray = with_header(make_cancel(invite), "Via", "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKx")
    assert layer.find_invite_for_cancel(stray, PHONE_UDP) is None


def test_overload_flags_the_request_and_creates_no_state() -> None:
    layer = TransactionLayer(max_transactions=1)
    layer.receive_request(req(PYVOIP_INVITE), PHONE_UDP, 0.0)
    events(layer)
    bye = req(PYVOIP_BYE)
    layer.receive_request(bye, PHONE_UDP, 0.1)
    assert events(layer) == [RequestReceived(None, bye, PHONE_UDP, overloaded=True)]
    assert layer.stats() == {
        "invite_client": 0,
        "non_invite_client": 0,
        "invite_server": 1,
        "non_invite_server": 0,
    }
    layer.send_stateless(make_response(bye, 503), PHONE_UDP)
    ((data, peer),) = layer.messages_to_send()
    assert data.startswith(b"SIP/2.0 503 Service Unavailable\r\n") and peer == PHONE_UDP
    layer.receive_request(req(PYVOIP_INVITE), PHONE_UDP, 0.2)  # existing txn still served
    assert events(layer) == []


# --- INVITE client transaction ------------------------------------------------------------


def new_ict(peer: Peer = PHONE_UDP) -> tuple[TransactionLayer, ClientKey, SipRequest]:
    layer = TransactionLayer()
    invite = req(SERVER_INVITE)
    key = layer.send_request(invite, peer, 0.0)
    (first,) = sent(layer)
    assert first == invite
    return layer, key, invite


def answer(invite: SipRequest, status: int, tag: str = "agt1") -> SipResponse:
    response = make_response(invite, status, to_tag=tag)
    response.headers.add("Contact", "<sip:agent@192.0.2.10:5062>")
    return response


def test_timer_a_doubles_without_cap_and_timer_b_times_out_at_64_t1() -> None:
    layer, key, _ = new_ict()
    assert key == ClientKey("z9hG4bKc0ffee01", "INVITE")
    assert layer.state(key) is State.CALLING
    log = run_timers(layer, 40.0)
    assert [at for at, _ in log] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert {line for _, line in log} == {"INVITE sip:agent@192.0.2.10:5062 SIP/2.0"}
    assert events(layer) == [TransactionTimedOut(key, "INVITE", "client")]
    assert layer.state(key) is None


def test_invite_client_over_tcp_does_not_retransmit() -> None:
    layer, key, _ = new_ict(PHONE_TCP)
    assert layer.get_timer() == 32.0
    assert run_timers(layer, 40.0) == []
    assert events(layer) == [TransactionTimedOut(key, "INVITE", "client")]


def test_provisional_moves_to_proceeding_and_stops_timers_a_and_b() -> None:
    layer, key, invite = new_ict()
    run_timers(layer, 0.5)
    ringing = answer(invite, 180)
    layer.receive_response(ringing, PHONE_UDP, 1.0)
    assert events(layer) == [ResponseReceived(key, ringing)]
    assert layer.state(key) is State.PROCEEDING
    assert layer.get_timer() is None
    layer.receive_response(answer(invite, 183), PHONE_UDP, 2.0)
    assert [type(e) for e in events(layer)] == [ResponseReceived]


@pytest.mark.parametrize("peer", [PHONE_UDP, PHONE_TCP], ids=["udp", "tcp"])
def test_error_final_is_acked_by_the_transaction(peer: Peer) -> None:
    layer, key, invite = new_ict(peer)
    busy = answer(invite, 486)
    layer.receive_response(busy, peer, 1.0)
    assert events(layer) == [ResponseReceived(key, busy)]
    (ack,) = sent(layer)
    # RFC 3261 §17.1.1.3
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc0ffee01"]
    assert ack.headers.get_all("Route") == ["<sip:p1.example.net;lr>", "<sip:p2.example.net;lr>"]
    assert ack.headers.get("From") == invite.headers.get("From")
    assert ack.headers.get("To") == "<sip:agent@192.0.2.10>;tag=agt1"
    assert ack.headers.get("Call-ID") == "out-1@192.0.2.1"
    assert ack.headers.get("CSeq") == "7 ACK"
    if peer.reliable:  # Timer D = 0
        assert layer.state(key) is None
        return
    assert layer.state(key) is State.COMPLETED
    layer.receive_response(answer(invite, 486), peer, 2.0)  # retransmitted final
    assert events(layer) == []
    (again,) = sent(layer)
    assert again == ack
    assert layer.get_timer() == 33.0  # Timer D = 32 s
    run_timers(layer, 40.0)
    assert layer.state(key) is None and events(layer) == []


def test_2xx_enters_accepted_and_retransmissions_go_up_flagged() -> None:
    layer, key, invite = new_ict()
    ok = answer(invite, 200)
    layer.receive_response(ok, PHONE_UDP, 1.0)
    assert events(layer) == [ResponseReceived(key, ok, retransmission=False)]
    assert sent(layer) == []  # the TU ACKs a 2xx, not the transaction
    assert layer.state(key) is State.ACCEPTED
    layer.receive_response(answer(invite, 200), PHONE_UDP, 1.5)
    (event,) = events(layer)
    assert isinstance(event, ResponseReceived) and event.retransmission
    forked = answer(invite, 200, tag="other")
    layer.receive_response(forked, PHONE_UDP, 1.6)
    assert events(layer) == [ResponseReceived(key, forked, retransmission=False)]
    layer.receive_response(answer(invite, 486), PHONE_UDP, 1.7)  # absorbed in Accepted
    assert events(layer) == [] and sent(layer) == []
    assert layer.get_timer() == 33.0  # RFC 6026 Timer M
    run_timers(layer, 40.0)
    assert events(layer) == [] and layer.state(key) is None
    late = answer(invite, 200)
    layer.receive_response(late, PHONE_UDP, 41.0)
    assert events(layer) == [StrayResponse(late, PHONE_UDP)]


# --- non-INVITE client transaction --------------------------------------------------------


def new_nict(peer: Peer = PHONE_UDP) -> tuple[TransactionLayer, ClientKey, SipRequest]:
    layer = TransactionLayer()
    dialog = Dialog.as_uac(req(SERVER_INVITE), answer(req(SERVER_INVITE), 200), peer)
    bye = dialog.new_request(
        "BYE", branch="z9hG4bKbye1", via_host="192.0.2.1", via_port=5060, transport="UDP"
    )
    key = layer.send_request(bye, peer, 0.0)
    sent(layer)
    return layer, key, bye


def test_timer_e_caps_at_t2_and_timer_f_times_out() -> None:
    layer, key, _ = new_nict()
    assert key == ClientKey("z9hG4bKbye1", "BYE")
    times = [at for at, _ in run_timers(layer, 40.0)]
    assert times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(layer) == [TransactionTimedOut(key, "BYE", "client")]


def test_timer_e_continues_at_t2_after_a_provisional() -> None:
    layer, key, bye = new_nict()
    run_timers(layer, 0.5)  # E fired once; next at 1.5
    trying = make_response(bye, 100)
    layer.receive_response(trying, PHONE_UDP, 0.7)
    assert events(layer) == [ResponseReceived(key, trying)]
    assert layer.state(key) is State.PROCEEDING
    times = [at for at, _ in run_timers(layer, 14.0)]
    assert times == [1.5, 5.5, 9.5, 13.5]


@pytest.mark.parametrize("peer", [PHONE_UDP, PHONE_TCP], ids=["udp", "tcp"])
def test_final_completes_and_timer_k_ends(peer: Peer) -> None:
    layer, key, bye = new_nict(peer)
    ok = make_response(bye, 200)
    layer.receive_response(ok, peer, 1.0)
    assert events(layer) == [ResponseReceived(key, ok)]
    if peer.reliable:
        assert layer.state(key) is None and layer.get_timer() is None
        return
    assert layer.state(key) is State.COMPLETED
    layer.receive_response(make_response(bye, 200), peer, 2.0)  # absorbed
    assert events(layer) == [] and sent(layer) == []
    assert layer.get_timer() == 6.0  # Timer K = T4
    assert run_timers(layer, 10.0) == []
    assert layer.state(key) is None


def test_unmatched_response_is_stray_and_cancel_client_forgets() -> None:
    layer, key, bye = new_nict()
    layer.cancel_client(key)
    assert layer.state(key) is None and layer.get_timer() is None
    ok = make_response(bye, 200)
    layer.receive_response(ok, SERVER_UDP, 1.0)
    assert events(layer) == [StrayResponse(ok, SERVER_UDP)]
    layer.cancel_client(key)  # idempotent


def test_send_request_rejects_ack_and_branches_without_the_magic_cookie() -> None:
    layer = TransactionLayer()
    with pytest.raises(TransactionError, match="ACK"):
        layer.send_request(req(PYVOIP_ACK), SERVER_UDP, 0.0)
    plain = with_header(req(SERVER_INVITE), "Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=abc")
    with pytest.raises(TransactionError, match="RFC 3261 branch"):
        layer.send_request(plain, SERVER_UDP, 0.0)
    layer.send_request(req(SERVER_INVITE), SERVER_UDP, 0.0)
    with pytest.raises(TransactionError, match="duplicate"):
        layer.send_request(req(SERVER_INVITE), SERVER_UDP, 0.0)


# --- message helpers ----------------------------------------------------------------------


def test_make_response_copies_vias_in_order_and_tags_to() -> None:
    invite = req(PYVOIP_INVITE)
    invite.headers.prepend("Via", "SIP/2.0/UDP proxy.example.net;branch=z9hG4bKp1")
    invite.headers.add("Record-Route", "<sip:proxy.example.net;lr>")
    ok = make_response(invite, 200, to_tag="t1", extra_headers=[("Contact", "<sip:q@h>")])
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.headers.get_all("Via") == invite.headers.get_all("Via")
    assert ok.headers.get("To") == "<sip:100@192.0.2.1>;tag=t1"
    assert ok.headers.get("From") == "<sip:agent@192.0.2.10>;tag=70f2989f"
    assert ok.headers.get("Call-ID") == "callid123@192.0.2.10"
    assert ok.headers.get("CSeq") == "1 INVITE"
    assert ok.headers.get_all("Record-Route") == ["<sip:proxy.example.net;lr>"]
    assert ok.headers.get("Contact") == "<sip:q@h>"
    assert "User-Agent" not in ok.headers and ok.body == b""
    trying = make_response(invite, 100, to_tag="t1")
    assert trying.headers.get("To") == "<sip:100@192.0.2.1>"  # §8.2.6.1: no tag on 100
    assert "Record-Route" not in trying.headers
    bye_ok = make_response(req(PYVOIP_BYE), 200, to_tag="t2")
    assert bye_ok.headers.get("To") == "<sip:100@192.0.2.1>;tag=srv1"  # already tagged
    assert make_response(invite, 299, "Custom").reason == "Custom"


def test_make_cancel_follows_rfc_3261_section_9_1() -> None:
    invite = req(SERVER_INVITE)
    invite.headers.add("Via", "SIP/2.0/UDP lower.example.net;branch=z9hG4bKlow")
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc0ffee01"]
    assert cancel.headers.get_all("Route") == invite.headers.get_all("Route")
    for name in ("From", "To", "Call-ID"):
        assert cancel.headers.get(name) == invite.headers.get(name)
    assert cancel.headers.get("CSeq") == "7 CANCEL"
    assert cancel.headers.get("Max-Forwards") == "70"
    assert "Contact" not in cancel.headers
    assert parse_via(cancel.headers.get("Via") or "").branch == "z9hG4bKc0ffee01"


# --- two layers on a lossy wire (h11's ConnectionPair) ------------------------------------


class Wire:
    """A UAC layer and a UAS layer joined by a UDP wire that can drop chosen messages."""

    def __init__(self) -> None:
        self.uac = TransactionLayer()
        self.uas = TransactionLayer()
        self.now = 0.0
        self.drop: Callable[[bytes], bool] = lambda data: False
        self.dropped: list[bytes] = []

    def flush(self) -> None:
        moved = True
        while moved:
            moved = False
            for src, dst, from_peer in (
                (self.uac, self.uas, SERVER_UDP),
                (self.uas, self.uac, PHONE_UDP),
            ):
                for data, _ in src.messages_to_send():
                    moved = True
                    if self.drop(data):
                        self.dropped.append(data)
                        continue
                    message = parse(data)
                    if isinstance(message, SipRequest):
                        dst.receive_request(message, from_peer, self.now)
                    else:
                        dst.receive_response(message, from_peer, self.now)

    def advance(self, until: float) -> None:
        while True:
            due = [t for t in (self.uac.get_timer(), self.uas.get_timer()) if t is not None]
            if not due or min(due) > until:
                break
            self.now = min(due)
            self.uac.handle_timer(self.now)
            self.uas.handle_timer(self.now)
            self.flush()
        self.now = until


def test_pair_lost_200_ok_is_recovered_by_retransmission() -> None:
    wire = Wire()
    invite = req(SERVER_INVITE)
    client_key = wire.uac.send_request(invite, PHONE_UDP, 0.0)
    wire.flush()
    (incoming,) = events(wire.uas)
    assert isinstance(incoming, RequestReceived) and incoming.key is not None
    wire.uas.send_response(incoming.key, make_response(incoming.request, 100), 0.0)
    wire.flush()
    assert [type(e) for e in events(wire.uac)] == [ResponseReceived]  # 100: Proceeding
    wire.drop = lambda data: data.startswith(b"SIP/2.0 200") and not wire.dropped
    wire.now = 2.0
    wire.uas.send_response(incoming.key, answer(incoming.request, 200), 2.0)
    wire.flush()
    assert len(wire.dropped) == 1 and events(wire.uac) == []
    wire.advance(2.5)  # the 2xx retransmission at 2.0 + T1 gets through
    (got,) = events(wire.uac)
    assert isinstance(got, ResponseReceived) and got.key == client_key
    assert got.response.status == 200 and not got.retransmission
    # The TU acknowledges the 2xx outside any transaction (§13.2.2.4).
    dialog = Dialog.as_uac(invite, got.response, PHONE_UDP)
    ack = dialog.make_ack(
        parse_cseq(invite.headers.get("CSeq") or "").seq,
        branch="z9hG4bKack1",
        via_host="192.0.2.1",
        via_port=5060,
        transport="UDP",
    )
    wire.uac.send_stateless(ack, dialog.peer)
    wire.flush()
    (acked,) = events(wire.uas)
    assert isinstance(acked, RequestReceived) and acked.key == incoming.key
    assert acked.request.method == "ACK"
    wire.advance(60.0)
    assert events(wire.uas) == [] and events(wire.uac) == []  # no timeouts on either side
    assert wire.uas.stats()["invite_server"] == 0 and wire.uac.stats()["invite_client"] == 0


def test_pair_lost_invite_and_lost_ack_for_error_are_recovered() -> None:
    wire = Wire()
    wire.drop = lambda data: data.startswith(b"INVITE") and not wire.dropped
    wire.uac.send_request(req(SERVER_INVITE), PHONE_UDP, 0.0)
    wire.flush()
    assert events(wire.uas) == []
    wire.advance(0.5)  # Timer A
    (incoming,) = events(wire.uas)
    assert isinstance(incoming, RequestReceived) and incoming.key is not None
    wire.drop = lambda data: data.startswith(b"ACK") and len(wire.dropped) < 2
    wire.uas.send_response(incoming.key, answer(incoming.request, 486), 0.5)
    wire.flush()
    assert wire.uas.state(incoming.key) is State.COMPLETED  # the ACK was lost
    wire.advance(1.0)  # Timer G resends the 486; the client transaction re-ACKs
    assert wire.uas.state(incoming.key) is State.CONFIRMED
    (busy,) = events(wire.uac)
    assert isinstance(busy, ResponseReceived) and busy.response.status == 486
    wire.advance(60.0)
    assert events(wire.uas) == [] and wire.uas.stats()["invite_server"] == 0
