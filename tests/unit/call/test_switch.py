"""The whole signalling path (endpoint + controller) fed raw SIP bytes on float time."""

from __future__ import annotations

import hashlib
import random
import re

import pytest

from cti_server import events as ev
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory

CONFIG = """
sip: {listen: 10.0.0.1, port: 5060, realm: cti.local, auth_max_failures: 3}
media: {mode: passthrough}
accounts:
  - {user: "1001", password: "secret1"}
trunks:
  - {name: gw, allow_from: [192.0.2.0/24]}
  - {name: carrier, username: carrier1, password: trunkpw, outbound_uri: "sip:198.51.100.1"}
routes:
  - {match: '1\\d{3}', target: 'extension:\\g<0>'}
  - {match: '0\\d+', target: 'trunk:carrier'}
"""
GW = ("192.0.2.10", 5060)
PHONE = ("10.0.0.50", 5062)
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
)


@pytest.fixture
def switch() -> CallSwitch:
    config = parse_config(CONFIG, "<test>")
    return build_switch(
        config, IdFactory(random.Random(7), host="10.0.0.1"), b"k" * 32, random.Random(8)
    )


def request(
    method: str,
    uri: str,
    src: tuple[str, int],
    *,
    call_id: str = "c1",
    cseq: int = 1,
    branch: str = "z9hG4bKa1",
    from_user: str = "0212345678",
    to: str = "<sip:1001@10.0.0.1>",
    extra: str = "",
    body: bytes = b"",
) -> bytes:
    head = (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {src[0]}:{src[1]};branch={branch}\r\n"
        f"From: <sip:{from_user}@{src[0]}>;tag=ft1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContact: <sip:{from_user}@"
        f"{src[0]}:{src[1]}>\r\n{extra}"
    )
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def sent(switch: CallSwitch) -> list[tuple[str, tuple[str, int]]]:
    return [(data.decode(), addr) for data, addr in switch.datagrams_to_send()]


def first_lines(out: list[tuple[str, tuple[str, int]]]) -> list[str]:
    return [text.split("\r\n", 1)[0] for text, _ in out]


def header(text: str, name: str) -> str:
    m = re.search(rf"^{name}: (.*?)\r?$", text, re.M | re.I)
    assert m, f"no {name} in {text}"
    return m.group(1)


def digest_response(
    challenge: str, method: str, uri: str, password: str, algo: str, user: str = "1001"
) -> str:
    h = hashlib.sha256 if algo == "SHA-256" else hashlib.md5
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)  # type: ignore[union-attr]
    ha1 = h(f"{user}:cti.local:{password}".encode()).hexdigest()
    ha2 = h(f"{method}:{uri}".encode()).hexdigest()
    resp = h(f"{ha1}:{nonce}:00000001:abc:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="cti.local", nonce="{nonce}", uri="{uri}", '
        f'response="{resp}", algorithm={algo}, qop=auth, nc=00000001, cnonce="abc"\r\n'
    )


def register(
    switch: CallSwitch,
    password: str = "secret1",
    now: float = 0.0,
    algo: str = "SHA-256",
    n: int = 1,
) -> list[tuple[str, tuple[str, int]]]:
    uri = "sip:10.0.0.1"
    switch.receive_datagram(
        request(
            "REGISTER",
            uri,
            PHONE,
            call_id="reg1",
            cseq=2 * n - 1,
            branch=f"z9hG4bKr{n}a",
            to="<sip:1001@10.0.0.1>",
            from_user="1001",
            extra="Expires: 300\r\n",
        ),
        PHONE,
        now,
    )
    (challenge,) = sent(switch)
    assert challenge[0].startswith("SIP/2.0 401 ")
    values = re.findall(r"^WWW-Authenticate: (.*?)\r?$", challenge[0], re.M)
    chosen = next(v for v in values if v.endswith(f"algorithm={algo}"))
    auth = "Authorization: " + digest_response(chosen, "REGISTER", uri, password, algo)
    switch.receive_datagram(
        request(
            "REGISTER",
            uri,
            PHONE,
            call_id="reg1",
            cseq=2 * n,
            branch=f"z9hG4bKr{n}b",
            from_user="1001",
            extra="Expires: 300\r\n" + auth,
        ),
        PHONE,
        now,
    )
    return sent(switch)


def test_register_challenges_sha256_first_then_accepts_either(switch: CallSwitch) -> None:
    switch.receive_datagram(
        request("REGISTER", "sip:10.0.0.1", PHONE, from_user="1001"), PHONE, 0.0
    )
    (challenge,) = sent(switch)
    values = re.findall(r"^WWW-Authenticate: (.*?)\r?$", challenge[0], re.M)
    assert [v.rsplit("=", 1)[1] for v in values] == ["SHA-256", "MD5"]
    assert 'qop="auth"' in values[0]
    (ok,) = register(switch, algo="MD5", n=2)
    assert ok[0].startswith("SIP/2.0 200 ")
    assert "expires=300" in header(ok[0], "Contact")
    assert [e.name for e in switch.drain_events()] == ["agent_registered"]


def test_wrong_password_is_rechallenged_then_locked_out(switch: CallSwitch) -> None:
    statuses = [register(switch, password="wrong", n=i)[0][0].split()[1] for i in (1, 2)]
    assert statuses == ["401", "401"]
    # the third failure locks the user and the source (auth_max_failures: 3)
    uri = "sip:10.0.0.1"
    switch.receive_datagram(
        request("REGISTER", uri, PHONE, cseq=9, branch="z9hG4bKx9", from_user="1001"), PHONE, 1.0
    )
    (challenge,) = sent(switch)
    auth = "Authorization: " + digest_response(
        header(challenge[0], "WWW-Authenticate"), "REGISTER", uri, "wrong", "SHA-256"
    )
    switch.receive_datagram(
        request("REGISTER", uri, PHONE, cseq=10, branch="z9hG4bKx10", from_user="1001", extra=auth),
        PHONE,
        1.0,
    )
    (locked,) = sent(switch)
    assert locked[0].startswith("SIP/2.0 403 ")
    failed = [e for e in switch.drain_events() if isinstance(e, ev.AuthenticationFailed)]
    assert len(failed) == 3 and failed[-1].locked
    # even the right password is refused during the cool-down
    switch.receive_datagram(
        request("REGISTER", uri, PHONE, cseq=11, branch="z9hG4bKx11", from_user="1001"), PHONE, 2.0
    )
    assert first_lines(sent(switch)) == ["SIP/2.0 403 Too many failed authentications"]
    assert switch.endpoint.registrar.lookup("1001", 2.0) == []


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(switch: CallSwitch) -> None:
    def answer(user: str) -> str:
        switch.receive_datagram(
            request(
                "REGISTER",
                "sip:10.0.0.1",
                PHONE,
                from_user=user,
                to=f"<sip:{user}@10.0.0.1>",
                branch=f"z9hG4bK{user}",
            ),
            PHONE,
            0.0,
        )
        (resp,) = sent(switch)
        return re.sub(
            r'nonce="[^"]+"|tag=\w+|branch=\w+|sip:\d+@',
            "",
            resp[0].split("Call-ID")[0]
            + "".join(re.findall(r"^WWW-Authenticate.*$", resp[0], re.M)),
        )

    assert answer("1001") == answer("9999")


def connected_call(switch: CallSwitch) -> tuple[str, str]:
    """Register 1001, call it from the trunk, answer; return (agent INVITE, agent To tag)."""
    register(switch)
    switch.drain_events()
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.0)
    out = sent(switch)
    assert first_lines(out) == ["SIP/2.0 100 Trying", "INVITE sip:1001@10.0.0.50:5062 SIP/2.0"]
    invite, addr = out[1]
    assert addr == PHONE and invite.endswith(SDP.decode())
    agent_ok = (
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
    switch.receive_datagram(
        agent_ok.replace(b"200 OK", b"180 Ringing", 1).split(b"Content-Type")[0]
        + b"Content-Length: 0\r\n\r\n",
        PHONE,
        1.5,
    )
    assert first_lines(sent(switch)) == ["SIP/2.0 180 Ringing"]
    switch.receive_datagram(agent_ok, PHONE, 2.0)
    out = sent(switch)
    assert sorted(first_lines(out)) == ["ACK sip:1001@10.0.0.50:5062 SIP/2.0", "SIP/2.0 200 OK"]
    ok = next(text for text, _ in out if text.startswith("SIP/2.0 200"))
    tag = re.search(r"tag=(\w+)", header(ok, "To")).group(1)  # type: ignore[union-attr]
    switch.receive_datagram(
        request(
            "ACK", "sip:1001@10.0.0.1", GW, to=f"<sip:1001@10.0.0.1>;tag={tag}", branch="z9hG4bKack"
        ),
        GW,
        2.1,
    )
    assert sent(switch) == []
    return invite, tag


def test_trunk_call_is_bridged_to_the_registered_phone_and_cleared(switch: CallSwitch) -> None:
    _, tag = connected_call(switch)
    names = [e.name for e in switch.drain_events()]
    assert names == ["call_delivered", "call_originated", "call_alerting", "call_established"]
    switch.receive_datagram(
        request(
            "BYE",
            "sip:1001@10.0.0.1",
            GW,
            cseq=2,
            branch="z9hG4bKb",
            to=f"<sip:1001@10.0.0.1>;tag={tag}",
        ),
        GW,
        5.0,
    )
    out = sent(switch)
    assert first_lines(out) == ["SIP/2.0 200 OK", "BYE sip:1001@10.0.0.50:5062 SIP/2.0"]
    (cleared,) = switch.drain_events()
    assert isinstance(cleared, ev.CallCleared) and cleared.cause == "caller_hangup"
    switch.handle_timer(100.0)  # the BYE to the phone times out: its leg is forgotten
    assert switch.endpoint.legs.legs == {}
    assert switch.endpoint.legs.client_purpose == {}  # no entry kept per agent call (soak)


def test_retransmitted_invite_is_absorbed(switch: CallSwitch) -> None:
    register(switch)
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.0)
    assert len(sent(switch)) == 2
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP), GW, 1.5)
    assert first_lines(sent(switch)) == ["SIP/2.0 100 Trying"]  # last response resent


def test_invite_from_an_unknown_address_must_authenticate(switch: CallSwitch) -> None:
    src = ("203.0.113.5", 5060)
    switch.receive_datagram(request("INVITE", "sip:1001@10.0.0.1", src, body=SDP), src, 0.0)
    assert first_lines(sent(switch)) == ["SIP/2.0 100 Trying", "SIP/2.0 401 Unauthorized"]


@pytest.mark.parametrize(
    ("raw_change", "status"),
    [
        (("Max-Forwards: 70", "Max-Forwards: 0"), "483"),
        (("Max-Forwards: 70", "Max-Forwards: 70\r\nRequire: foo, timer"), "420"),
        (("INVITE sip:1001@10.0.0.1", "INVITE mailto:a@b"), "416"),
        (("Content-Type: application/sdp", "Content-Type: text/plain"), "415"),
        (
            (
                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1",
                "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1\r\n"
                "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKloop",
            ),
            "482",
        ),
    ],
)
def test_requests_the_endpoint_refuses(
    switch: CallSwitch, raw_change: tuple[str, str], status: str
) -> None:
    raw = request("INVITE", "sip:1001@10.0.0.1", GW, body=SDP).decode()
    raw = raw.replace(raw_change[0], raw_change[1], 1)
    switch.receive_datagram(raw.encode(), GW, 0.0)
    out = sent(switch)
    assert out and out[-1][0].split()[1] == status, out
    if status == "420":
        assert header(out[-1][0], "Unsupported") == "foo, timer"


def test_options_unknown_method_and_stray_bye(switch: CallSwitch) -> None:
    switch.receive_datagram(request("OPTIONS", "sip:10.0.0.1", GW), GW, 0.0)
    (ok,) = sent(switch)
    assert ok[0].startswith("SIP/2.0 200 ") and "INVITE" in header(ok[0], "Allow")
    switch.receive_datagram(request("FOO", "sip:10.0.0.1", GW, branch="z9hG4bKf"), GW, 0.0)
    assert first_lines(sent(switch)) == ["SIP/2.0 501 Not Implemented"]
    switch.receive_datagram(
        request("BYE", "sip:10.0.0.1", GW, branch="z9hG4bKb", to="<sip:x@10.0.0.1>;tag=nope"),
        GW,
        0.0,
    )
    assert first_lines(sent(switch)) == ["SIP/2.0 481 Call/Transaction Does Not Exist"]


def test_unparsable_datagrams_are_dropped_and_counted(switch: CallSwitch) -> None:
    for junk in (b"\xff\xfe garbage", b"INVITE\r\n\r\n", b"SIP/2.0 abc\r\n\r\n"):
        switch.receive_datagram(junk, GW, 0.0)
    assert sent(switch) == []
    assert sum(switch.endpoint.dropped.values()) == 3
    no_call_id = request("OPTIONS", "sip:10.0.0.1", GW).replace(b"Call-ID: c1\r\n", b"")
    switch.receive_datagram(no_call_id, GW, 0.0)
    # a request missing Call-ID cannot be answered (no dialog to name): dropped and counted
    assert sent(switch) == []
    assert sum(switch.endpoint.dropped.values()) == 4


def authenticated_invite(
    switch: CallSwitch, user: str, password: str, called: str, from_user: str
) -> list[tuple[str, tuple[str, int]]]:
    src = ("203.0.113.5", 5060)
    uri = f"sip:{called}@10.0.0.1"
    switch.receive_datagram(request("INVITE", uri, src, from_user=from_user, body=SDP), src, 0.0)
    challenge = sent(switch)[-1][0]
    auth = "Authorization: " + digest_response(
        header(challenge, "WWW-Authenticate"), "INVITE", uri, password, "SHA-256", user=user
    )
    switch.receive_datagram(
        request(
            "INVITE",
            uri,
            src,
            cseq=2,
            branch="z9hG4bKa2",
            body=SDP,
            from_user=from_user,
            extra=auth,
        ),
        src,
        0.0,
    )
    return sent(switch)


def test_a_gateway_authenticating_with_trunk_credentials_is_a_trunk_call(
    switch: CallSwitch,
) -> None:
    register(switch)
    switch.drain_events()
    out = authenticated_invite(switch, "carrier1", "trunkpw", "1001", from_user="0319998888")
    assert first_lines(out) == ["SIP/2.0 100 Trying", "INVITE sip:1001@10.0.0.50:5062 SIP/2.0"]
    delivered = next(e for e in switch.drain_events() if isinstance(e, ev.CallDelivered))
    assert delivered.trunk == "carrier" and delivered.caller == "0319998888"


def test_an_agent_cannot_spoof_its_calling_number(switch: CallSwitch) -> None:
    out = authenticated_invite(switch, "1001", "secret1", "0101234567", from_user="0800000000")
    assert first_lines(out)[-1] == "INVITE sip:0101234567@198.51.100.1 SIP/2.0"
    assert "<sip:1001@" in header(out[-1][0], "From")
