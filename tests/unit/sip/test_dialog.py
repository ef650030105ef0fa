"""RFC 3261 §12 dialogs: creation on both sides, route sets, in-dialog requests, CSeq order.

The INVITE, ACK and BYE are pyVoIP 1.6.8's own output (see test_transaction.py); the proxied
INVITE and its 200 follow RFC 3665 §3.2 with Record-Route added by two proxies.
"""

from __future__ import annotations

from typing import TypedDict

import pytest

from cti_server.sip.dialog import Dialog, DialogTable
from cti_server.sip.headers import parse_via
from cti_server.sip.message import Headers, SipRequest, SipResponse
from cti_server.sip.peer import Peer

PHONE = Peer("UDP", ("198.51.100.7", 40123))  # the NATed source, not the Contact address
AGENT = Peer("UDP", ("192.0.2.10", 5062))

PYVOIP_INVITE = (
    "INVITE sip:100@192.0.2.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: <sip:agent@192.0.2.10:5062>\r\n"
    "To: <sip:100@192.0.2.1>\r\n"
    "From: <sip:agent@192.0.2.10>;tag=70f2989f\r\n"
    "Call-ID: callid123@192.0.2.10\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
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
    "Content-Length: 0\r\n"
    "\r\n"
)
PROXIED_INVITE = (
    "INVITE sip:bob@client.biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP ss2.biloxi.example.com:5060;branch=z9hG4bK721e418c4.1\r\n"
    "Via: SIP/2.0/UDP ss1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 68\r\n"
    "Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n"
    "Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com>\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)
PROXIED_200 = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Record-Route: <sip:ss2.biloxi.example.com;lr>, <sip:ss1.atlanta.example.com;lr>\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    "To: Bob <sip:bob@biloxi.example.com>;tag=314159\r\n"
    "Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:bob@client.biloxi.example.com>\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)


class ViaArgs(TypedDict):
    via_host: str
    via_port: int
    transport: str


VIA = ViaArgs(via_host="192.0.2.1", via_port=5060, transport="UDP")


def parse(text: str) -> SipRequest | SipResponse:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = Headers(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:])
    )
    first, second, third = lines[0].split(" ", 2)
    if first == "SIP/2.0":
        return SipResponse(int(second), third, headers, body.encode())
    return SipRequest(first, second, headers, body.encode(), third)


def req(text: str) -> SipRequest:
    message = parse(text)
    assert isinstance(message, SipRequest)
    return message


def resp(text: str) -> SipResponse:
    message = parse(text)
    assert isinstance(message, SipResponse)
    return message


def test_uas_dialog_from_pyvoip_invite() -> None:
    dialog = Dialog.as_uas(req(PYVOIP_INVITE), "srv1", PHONE)
    assert dialog.key() == ("callid123@192.0.2.10", "srv1", "70f2989f")
    assert dialog.local_uri == "<sip:100@192.0.2.1>"
    assert dialog.remote_uri == "<sip:agent@192.0.2.10>"
    assert dialog.remote_target == "sip:agent@192.0.2.10:5062"
    assert dialog.route_set == []
    assert (dialog.local_seq, dialog.remote_seq) == (0, 1)
    assert dialog.peer == PHONE  # symmetric: where the INVITE came from, not the Contact
    assert not dialog.secure


def test_uas_route_set_is_record_route_in_order() -> None:
    dialog = Dialog.as_uas(req(PROXIED_INVITE), "314159", AGENT)
    assert dialog.route_set == [
        "<sip:ss2.biloxi.example.com;lr>",
        "<sip:ss1.atlanta.example.com;lr>",
    ]
    assert dialog.remote_uri == '"Alice" <sip:alice@atlanta.example.com>'
    assert dialog.local_uri == "Bob <sip:bob@biloxi.example.com>"
    bye = dialog.new_request("BYE", branch="z9hG4bKb1", **VIA)
    assert bye.uri == "sip:alice@client.atlanta.example.com"
    assert bye.headers.get_all("Route") == dialog.route_set
    assert bye.headers.get("From") == "Bob <sip:bob@biloxi.example.com>;tag=314159"
    assert bye.headers.get("To") == '"Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl'
    assert bye.headers.get("CSeq") == "1 BYE"  # the empty local sequence starts at 1


def test_uac_dialog_reverses_record_route_and_takes_the_2xx_contact() -> None:
    invite = req(PROXIED_INVITE)
    dialog = Dialog.as_uac(invite, resp(PROXIED_200), AGENT)
    assert dialog.key() == ("2xTb9vxSit55XU7p8@atlanta.example.com", "9fxced76sl", "314159")
    assert dialog.route_set == [
        "<sip:ss1.atlanta.example.com;lr>",
        "<sip:ss2.biloxi.example.com;lr>",
    ]
    assert dialog.remote_target == "sip:bob@client.biloxi.example.com"
    assert (dialog.local_seq, dialog.remote_seq) == (1, None)
    assert dialog.local_uri == '"Alice" <sip:alice@atlanta.example.com>'
    assert dialog.remote_uri == "Bob <sip:bob@biloxi.example.com>"
    assert dialog.peer == AGENT


def test_new_request_builds_an_in_dialog_request() -> None:
    dialog = Dialog.as_uac(req(PROXIED_INVITE), resp(PROXIED_200), AGENT)
    reinvite = dialog.new_request(
        "INVITE",
        branch="z9hG4bKr1",
        contact="sip:alice@192.0.2.1:5060",
        body=b"v=0\r\n",
        extra_headers=[("Supported", "timer")],
        **VIA,
    )
    headers = reinvite.headers
    assert reinvite.uri == "sip:bob@client.biloxi.example.com"  # loose routing: the target
    assert parse_via(headers.get("Via") or "").branch == "z9hG4bKr1"
    assert headers.get("Via") == "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKr1"
    assert headers.get("Max-Forwards") == "70"
    assert headers.get_all("Route") == dialog.route_set
    assert headers.get("From") == '"Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl'
    assert headers.get("To") == "Bob <sip:bob@biloxi.example.com>;tag=314159"
    assert headers.get("Call-ID") == "2xTb9vxSit55XU7p8@atlanta.example.com"
    assert headers.get("CSeq") == "2 INVITE"
    assert headers.get("Contact") == "<sip:alice@192.0.2.1:5060>"
    assert headers.get("Content-Type") == "application/sdp"
    assert headers.get("Supported") == "timer"
    assert reinvite.body == b"v=0\r\n"
    bye = dialog.new_request("BYE", branch="z9hG4bKb2", **VIA)
    assert bye.headers.get("CSeq") == "3 BYE" and dialog.local_seq == 3
    assert "Content-Type" not in bye.headers and "Contact" not in bye.headers


def test_strict_router_takes_the_request_uri_and_the_target_goes_last() -> None:
    dialog = Dialog.as_uac(req(PROXIED_INVITE), resp(PROXIED_200), AGENT)
    dialog.route_set = ["<sip:strict.example.com;method=INVITE;transport=udp>", "<sip:p2;lr>"]
    bye = dialog.new_request("BYE", branch="z9hG4bKs1", **VIA)
    assert bye.uri == "sip:strict.example.com;transport=udp"  # §19.1.1: method param dropped
    assert bye.headers.get_all("Route") == [
        "<sip:p2;lr>",
        "<sip:bob@client.biloxi.example.com>",
    ]


def test_make_ack_reuses_the_invite_cseq_and_does_not_advance_it() -> None:
    dialog = Dialog.as_uac(req(PROXIED_INVITE), resp(PROXIED_200), AGENT)
    ack = dialog.make_ack(1, branch="z9hG4bKa1", **VIA)
    assert ack.method == "ACK" and ack.uri == "sip:bob@client.biloxi.example.com"
    assert ack.headers.get("CSeq") == "1 ACK"
    assert ack.headers.get_all("Route") == dialog.route_set
    assert ack.headers.get("To") == "Bob <sip:bob@biloxi.example.com>;tag=314159"
    assert dialog.local_seq == 1
    with_sdp = dialog.make_ack(1, branch="z9hG4bKa2", body=b"v=0\r\n", **VIA)
    assert with_sdp.headers.get("Content-Type") == "application/sdp"
    for method in ("ACK", "CANCEL"):
        with pytest.raises(ValueError, match=method):
            dialog.new_request(method, branch="z9hG4bKx", **VIA)


def test_lower_remote_cseq_is_rejected_with_500_and_ack_cancel_do_not_advance() -> None:
    dialog = Dialog.as_uas(req(PYVOIP_INVITE), "srv1", PHONE)
    bye = req(PYVOIP_BYE)
    assert dialog.check_remote_request(bye) is None and dialog.remote_seq == 2
    assert dialog.check_remote_request(bye) is None  # equal is not out of order
    stale = req(PYVOIP_BYE.replace("CSeq: 2 BYE", "CSeq: 1 INFO").replace("BYE ", "INFO "))
    assert dialog.check_remote_request(stale) == 500
    assert dialog.remote_seq == 2
    assert dialog.check_remote_request(req(PYVOIP_ACK)) is None
    assert dialog.remote_seq == 2
    uac = Dialog.as_uac(req(PROXIED_INVITE), resp(PROXIED_200), AGENT)
    assert uac.check_remote_request(stale) is None and uac.remote_seq == 1  # empty: any


def test_target_refresh_takes_the_new_contact() -> None:
    dialog = Dialog.as_uas(req(PYVOIP_INVITE), "srv1", PHONE)
    reinvite = req(PYVOIP_INVITE.replace("192.0.2.10:5062>", "203.0.113.5:5080>"))
    dialog.update_target(reinvite)
    assert dialog.remote_target == "sip:agent@203.0.113.5:5080"
    dialog.update_target(req(PYVOIP_ACK))  # no Contact: unchanged
    assert dialog.remote_target == "sip:agent@203.0.113.5:5080"


def test_sips_over_tls_is_secure() -> None:
    invite = req(PYVOIP_INVITE.replace("INVITE sip:", "INVITE sips:", 1))
    assert Dialog.as_uas(invite, "t", Peer("TLS", ("192.0.2.10", 5061), "c1")).secure
    assert not Dialog.as_uas(invite, "t", PHONE).secure


def test_table_matches_requests_by_tags_and_pyvoip_ack_by_call_id() -> None:
    table = DialogTable()
    dialog = Dialog.as_uas(req(PYVOIP_INVITE), "srv1", PHONE)
    table.add(dialog)
    assert len(table) == 1 and table.get(dialog.key()) is dialog
    assert table.match_request(req(PYVOIP_BYE)) is dialog
    assert table.match_request(req(PYVOIP_BYE.replace("tag=srv1", "tag=nope"))) is None
    assert table.match_request(req(PYVOIP_ACK)) is dialog  # random To tag, same Call-ID/From
    other_from = PYVOIP_ACK.replace("tag=70f2989f", "tag=someone")
    assert table.match_request(req(other_from)) is None
    forked = Dialog.as_uas(req(PYVOIP_INVITE), "srv2", PHONE)
    table.add(forked)
    assert table.match_request(req(PYVOIP_ACK)) is None  # ambiguous: no guess
    table.remove(forked)
    table.remove(forked)  # idempotent
    table.remove(dialog)
    assert len(table) == 0 and table.match_request(req(PYVOIP_BYE)) is None


def test_table_matches_responses_to_our_in_dialog_requests() -> None:
    table = DialogTable()
    dialog = Dialog.as_uac(req(PROXIED_INVITE), resp(PROXIED_200), AGENT)
    table.add(dialog)
    bye = dialog.new_request("BYE", branch="z9hG4bKb9", **VIA)
    ok = SipResponse(200, "OK", bye.headers.copy())
    assert table.match_response(ok) is dialog
    ok.headers.set("To", "Bob <sip:bob@biloxi.example.com>;tag=other")
    assert table.match_response(ok) is None
