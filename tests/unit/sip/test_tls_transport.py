"""SIP over TLS in the core (RFC 3261 §26.2, RFC 5630): transport names, ports and sips:.

A TLS stream connection is a ``Peer("TLS", ...)``: what arrives on it is answered on it, a
phone registered on it is called on it, Via and Contact name the TLS port, and a ``sips:``
or ``;transport=tls`` contact with no connection is reached by opening a TLS one.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from cti_server.sip.local import LocalAddress
from tests.e2e.tls_certs import make_certs
from tests.unit.call.test_switch import GW, SDP, digest_response, request

PHONE = ("10.0.0.50", 40123)  # the phone's end of its TLS connection


def test_via_and_contact_name_the_tls_port() -> None:
    local = LocalAddress("10.0.0.1", 5060, tls_port=5061)
    assert local.via("TLS", "z9hG4bKx") == "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKx;rport"
    assert local.via("TCP", "z9hG4bKx") == "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKx;rport"
    assert local.contact("TLS") == "<sip:10.0.0.1:5061;transport=tls>"
    assert local.contact("TLS", secure=True) == "<sips:10.0.0.1:5061>"
    assert local.contact("UDP", secure=True) == "<sip:10.0.0.1:5060>"  # sips needs TLS
    assert LocalAddress("10.0.0.1", 5060).contact("TLS") == "<sip:10.0.0.1:5060;transport=tls>"


def test_tls_targets_and_default_port() -> None:
    from cti_server.sip.leg_actions import peer_for_uri
    from cti_server.sip.peer import Peer

    assert peer_for_uri("sips:1001@192.0.2.5") == Peer("TLS", ("192.0.2.5", 5061))
    assert peer_for_uri("sip:1001@192.0.2.5:5071;transport=TLS") == Peer("TLS", ("192.0.2.5", 5071))
    assert peer_for_uri("sip:1001@192.0.2.5;transport=tcp") == Peer("TCP", ("192.0.2.5", 5060))


def test_our_tls_via_coming_back_is_a_loop() -> None:
    from cti_server.sip.message import Headers, SipRequest
    from cti_server.sip.validation import is_loop

    local = LocalAddress("10.0.0.1", 5060, tls_port=5061)
    looped = SipRequest(
        "INVITE", "sip:1@10.0.0.1", Headers([("Via", "SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKl")])
    )
    assert is_loop(looped, local)
    other = SipRequest(
        "INVITE", "sip:1@10.0.0.1", Headers([("Via", "SIP/2.0/TLS 10.0.0.1:5071;branch=z9hG4bKl")])
    )
    assert not is_loop(other, local)


@pytest.fixture
def switch(tmp_path: Path) -> CallSwitch:
    certs = make_certs(tmp_path)
    config = parse_config(
        f"""
sip:
  listen: 10.0.0.1
  port: 5060
  realm: cti.local
  tls: {{cert: '{certs.cert}', key: '{certs.key}', port: 5061}}
media: {{mode: passthrough}}
accounts:
  - {{user: "1001", password: "secret1"}}
trunks:
  - {{name: gw, allow_from: [192.0.2.0/24]}}
routes:
  - {{match: '1\\d{{3}}', target: 'extension:\\g<0>'}}
""",
        "<test>",
    )
    return build_switch(
        config, IdFactory(random.Random(7), host="10.0.0.1"), b"k" * 32, random.Random(8)
    )


def _send(switch: CallSwitch, message: bytes, via_tls: bool) -> str:
    """Feed one request over the TLS connection or as a datagram; the last answer."""
    if via_tls:
        assert switch.receive_data("tls1", message.replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"), 0.0)
        out = switch.stream_data_to_send()
        assert {t for *_, t in out} == {"TLS"}
        return out[-1][2].decode()
    switch.receive_datagram(message, PHONE, 0.0)
    return switch.datagrams_to_send()[-1][0].decode()


def _register(switch: CallSwitch, contact: str, via_tls: bool) -> None:
    """REGISTER 1001 with ``contact`` (401, then the digest answer)."""

    def register(cseq: int, extra: str = "") -> str:
        message = request(
            "REGISTER",
            "sip:10.0.0.1",
            PHONE,
            call_id="reg1",
            cseq=cseq,
            branch=f"z9hG4bKr{cseq}",
            from_user="1001",
            extra=f"Expires: 300\r\n{extra}",
        )
        ours = f"Contact: <sip:1001@{PHONE[0]}:{PHONE[1]}>".encode()
        return _send(switch, message.replace(ours, f"Contact: <{contact}>".encode()), via_tls)

    challenge = re.findall(r"^WWW-Authenticate: (.*?)\r?$", register(1), re.M)
    chosen = next(v for v in challenge if v.endswith("algorithm=SHA-256"))
    auth = digest_response(chosen, "REGISTER", "sip:10.0.0.1", "secret1", "SHA-256")
    assert register(2, "Authorization: " + auth).startswith("SIP/2.0 200 ")


def _trunk_call(switch: CallSwitch) -> None:
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.0)
    switch.datagrams_to_send()


def test_a_phone_registered_over_tls_is_called_on_its_connection(switch: CallSwitch) -> None:
    switch.connection_made("tls1", PHONE, "TLS")
    _register(switch, "sip:1001@10.0.0.50:5063;transport=tls", via_tls=True)
    _trunk_call(switch)
    ((conn_id, addr, data, transport),) = switch.stream_data_to_send()
    invite = data.decode()
    assert (conn_id, addr, transport) == ("tls1", PHONE, "TLS")
    assert invite.startswith("INVITE sip:1001@10.0.0.50:5063;transport=tls SIP/2.0")
    assert "\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;" in invite
    assert "\r\nContact: <sip:10.0.0.1:5061;transport=tls>" in invite


def test_a_sips_contact_with_no_connection_gets_a_new_tls_one(switch: CallSwitch) -> None:
    _register(switch, "sips:1001@10.0.0.50:5063", via_tls=False)
    _trunk_call(switch)
    ((conn_id, addr, data, transport),) = switch.stream_data_to_send()
    assert (conn_id, addr, transport) == (None, ("10.0.0.50", 5063), "TLS")
    invite = data.decode()
    assert "\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;" in invite
    assert "\r\nContact: <sips:10.0.0.1:5061>" in invite  # sips: Request-URI, §8.1.1.8
