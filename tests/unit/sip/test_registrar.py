"""Registrar: every RFC 3261 §10.3 rule we implement, on a float clock."""

from __future__ import annotations

from cti_server.sip.message import Headers, SipRequest
from cti_server.sip.peer import Peer
from cti_server.sip.registrar import (
    REGISTERED,
    UNREGISTERED,
    Registrar,
    canonical_aor,
    contact_response_values,
)

# pyVoIP 1.6.8 SIPClient.gen_first_response() (server 192.168.1.10, phone 192.168.1.20:5062),
# with its random uuid, tag and Call-ID pinned.
PYVOIP_REGISTER = (
    "REGISTER sip:192.168.1.10 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK950f4a0019be475b8987b10b6;rport\r\n"
    'From: "alice" <sip:alice@192.168.1.10>;tag=5b3c1a2d\r\n'
    'To: "alice" <sip:alice@192.168.1.10>\r\n'
    "Call-ID: 6b86b273ff34fce19d6b804eff5a3f57@192.168.1.20:5062\r\n"
    "CSeq: 1 REGISTER\r\n"
    "Contact: <sip:alice@192.168.1.20:5062;transport=UDP>;"
    '+sip.instance="<urn:uuid:2B7CF5E6-8D0C-4C5B-9B3E-0F6A1D2C3B4A>"\r\n'
    "Allow: INVITE, ACK, BYE, CANCEL\r\n"
    "Max-Forwards: 70\r\n"
    "Allow-Events: org.3gpp.nwinitdereg\r\n"
    "User-Agent: pyVoIP 1.6.8\r\n"
    "Expires: 120\r\n"
    "Content-Length: 0\r\n\r\n"
)

AOR = "sip:alice@192.168.1.10"
NAT = Peer("UDP", ("203.0.113.7", 40112))
PHONE_URI = "sip:alice@192.168.1.20:5062;transport=UDP"


def _from_text(text: str) -> SipRequest:
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    method, uri, _ = head[0].split(" ")
    fields = [tuple(line.split(": ", 1)) for line in head[1:]]
    return SipRequest(method, uri, Headers((n, v) for n, v in fields))


def _register(
    contacts: list[str],
    *,
    cseq: int = 1,
    call_id: str = "reg-a",
    expires: str | None = None,
) -> SipRequest:
    items = [("Call-ID", call_id), ("CSeq", f"{cseq} REGISTER"), ("To", f"<{AOR}>")]
    items += [("Contact", c) for c in contacts]
    if expires is not None:
        items.append(("Expires", expires))
    return SipRequest("REGISTER", "sip:192.168.1.10", Headers(items))


def test_pyvoip_register_creates_binding_with_source_and_instance() -> None:
    reg = Registrar()
    request = _from_text(PYVOIP_REGISTER)
    result = reg.update(canonical_aor(request.headers.get("To") or ""), request, NAT, 1000.0)
    assert result.status == 200 and result.events == [REGISTERED]
    [binding] = result.bindings
    assert binding.aor == AOR and binding.contact == PHONE_URI
    assert binding.expires_at == 1120.0 and binding.source == NAT and binding.q == 1.0
    assert binding.instance == "<urn:uuid:2B7CF5E6-8D0C-4C5B-9B3E-0F6A1D2C3B4A>"
    assert binding.cseq == 1 and binding.call_id.startswith("6b86b273")
    assert contact_response_values(result.bindings, 1000.4) == [f"<{PHONE_URI}>;expires=120"]
    assert reg.lookup(AOR, 1000.0) == [binding]
    assert reg.next_expiry() == 1120.0


def test_refresh_same_call_id_needs_higher_cseq() -> None:
    reg = Registrar()
    assert reg.update(AOR, _register(["<sip:a@h>"], cseq=5), NAT, 0.0).status == 200
    refreshed = reg.update(AOR, _register(["<sip:a@h>"], cseq=6), NAT, 100.0)
    assert refreshed.status == 200 and refreshed.events == []
    assert refreshed.bindings[0].expires_at == 3700.0
    for stale_cseq in (6, 3):  # RFC 3261 §10.3 step 7: equal or lower -> fail, no change
        out = reg.update(AOR, _register(["<sip:a@h>"], cseq=stale_cseq, expires="0"), NAT, 200.0)
        assert out.status == 500 and out.bindings == []
    assert reg.lookup(AOR, 200.0)[0].expires_at == 3700.0


def test_new_call_id_may_carry_any_cseq() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>"], cseq=50), NAT, 0.0)
    out = reg.update(AOR, _register(["<sip:a@h>"], cseq=1, call_id="reg-b"), NAT, 10.0)
    assert out.status == 200 and out.bindings[0].call_id == "reg-b"


def test_contact_expires_param_beats_header_and_default_applies() -> None:
    reg = Registrar(default_expires=600)
    out = reg.update(AOR, _register(["<sip:a@h>;expires=300"], expires="1800"), NAT, 0.0)
    assert out.bindings[0].expires_at == 300.0
    out = reg.update(AOR, _register(["<sip:b@h>"], cseq=2, expires="1800"), NAT, 0.0)
    assert {b.contact: b.expires_at for b in out.bindings} == {"sip:a@h": 300.0, "sip:b@h": 1800.0}
    out = reg.update(AOR, _register(["<sip:c@h>"], cseq=3), NAT, 0.0)
    assert [b.expires_at for b in out.bindings if b.contact == "sip:c@h"] == [600.0]


def test_interval_too_brief_is_423_and_atomic() -> None:
    reg = Registrar(min_expires=60)
    out = reg.update(AOR, _register(["<sip:a@h>", "<sip:b@h>;expires=30"]), NAT, 0.0)
    assert out.status == 423 and out.min_expires == 60
    assert reg.lookup(AOR, 0.0) == [] and reg.next_expiry() is None


def test_interval_above_max_is_clamped() -> None:
    reg = Registrar(max_expires=3600)
    out = reg.update(AOR, _register(["<sip:a@h>"], expires="86400"), NAT, 0.0)
    assert out.status == 200 and out.bindings[0].expires_at == 3600.0


def test_expires_zero_removes_and_last_one_unregisters() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>", "<sip:b@h>"]), NAT, 0.0)
    out = reg.update(AOR, _register(["<sip:a@h>;expires=0"], cseq=2), NAT, 1.0)
    assert out.status == 200 and [b.contact for b in out.bindings] == ["sip:b@h"]
    assert out.events == []
    out = reg.update(AOR, _register(["<sip:b@h>"], cseq=3, expires="0"), NAT, 2.0)
    assert out.status == 200 and out.bindings == [] and out.events == [UNREGISTERED]
    assert reg.aors() == []


def test_star_with_expires_zero_removes_all() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>", "<sip:b@h>"]), NAT, 0.0)
    out = reg.update(AOR, _register(["*"], cseq=2, expires="0"), NAT, 1.0)
    assert out.status == 200 and out.bindings == [] and out.events == [UNREGISTERED]


def test_star_rules_are_400() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>"]), NAT, 0.0)
    for request in (
        _register(["*"], cseq=2),  # no Expires
        _register(["*"], cseq=2, expires="3600"),
        _register(["*", "<sip:b@h>"], cseq=2, expires="0"),
        _register(["*, <sip:b@h>"], cseq=2, expires="0"),
    ):
        assert reg.update(AOR, request, NAT, 1.0).status == 400
    assert len(reg.lookup(AOR, 1.0)) == 1


def test_star_with_old_cseq_fails() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>"], cseq=9), NAT, 0.0)
    assert reg.update(AOR, _register(["*"], cseq=9, expires="0"), NAT, 1.0).status == 500
    assert len(reg.lookup(AOR, 1.0)) == 1
    # Another Call-ID removes it whatever its CSeq (RFC 3261 §10.3 step 6).
    out = reg.update(AOR, _register(["*"], cseq=1, call_id="x", expires="0"), NAT, 1.0)
    assert out.status == 200 and reg.lookup(AOR, 1.0) == []


def test_query_without_contact_changes_nothing() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>"]), NAT, 0.0)
    out = reg.update(AOR, _register([], cseq=2), NAT, 10.0)
    assert out.status == 200 and [b.contact for b in out.bindings] == ["sip:a@h"]
    assert out.events == [] and out.bindings[0].cseq == 1


def test_lookup_orders_by_q_then_most_recent() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:low@h>;q=0.1"], cseq=1), NAT, 0.0)
    reg.update(AOR, _register(["<sip:old@h>"], cseq=2), NAT, 1.0)
    reg.update(AOR, _register(["<sip:new@h>;q=1.0"], cseq=3), NAT, 2.0)
    assert [b.contact for b in reg.lookup(AOR, 3.0)] == ["sip:new@h", "sip:old@h", "sip:low@h"]


def test_equivalent_contact_uris_update_one_binding() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:alice@PHONE.example:5060;transport=UDP>"]), NAT, 0.0)
    out = reg.update(AOR, _register(["<sip:alice@phone.example;transport=udp>"], cseq=2), NAT, 5.0)
    assert len(out.bindings) == 1 and out.bindings[0].expires_at == 3605.0
    out = reg.update(AOR, _register(["<sip:alice@phone.example;transport=tcp>"], cseq=3), NAT, 6.0)
    assert len(out.bindings) == 2


def test_same_instance_replaces_the_old_contact() -> None:
    reg = Registrar()
    first = _from_text(PYVOIP_REGISTER)
    reg.update(AOR, first, NAT, 0.0)
    moved = _from_text(
        PYVOIP_REGISTER.replace("5062;transport", "5070;transport").replace("6b86b273", "99")
    )
    new_source = Peer("UDP", ("203.0.113.7", 40999))
    out = reg.update(AOR, moved, new_source, 30.0)
    assert out.status == 200 and out.events == []
    assert [(b.contact, b.source) for b in out.bindings] == [
        ("sip:alice@192.168.1.20:5070;transport=UDP", new_source)
    ]


def test_max_contacts_is_403_and_atomic() -> None:
    reg = Registrar(max_contacts=2)
    reg.update(AOR, _register(["<sip:a@h>", "<sip:b@h>"]), NAT, 0.0)
    out = reg.update(AOR, _register(["<sip:c@h>"], cseq=2), NAT, 1.0)
    assert out.status == 403
    assert sorted(b.contact for b in reg.lookup(AOR, 1.0)) == ["sip:a@h", "sip:b@h"]


def test_comma_separated_contacts_in_one_header() -> None:
    reg = Registrar()
    out = reg.update(AOR, _register(['"A, B" <sip:a@h>;q=0.5, <sip:b@h>']), NAT, 0.0)
    assert sorted(b.contact for b in out.bindings) == ["sip:a@h", "sip:b@h"]


def test_malformed_requests_are_400() -> None:
    reg = Registrar()
    bad = [
        _register(["<sip:a@h>"], expires="soon"),
        _register(["<sip:a@h>;expires=-1"]),
        _register(["<sip:a@h>;q=2"]),
        _register(["<sip:a@h>;q=high"]),
        _register(["<sip:a@h>;reg-id=x"]),
        _register(["<sip:a@h"]),
        SipRequest("REGISTER", "sip:h", Headers([("Call-ID", "x"), ("Contact", "<sip:a@h>")])),
        SipRequest("REGISTER", "sip:h", Headers([("CSeq", "1 REGISTER")])),
        _register(["<sip:a@h>"], cseq=2**31),
    ]
    for request in bad:
        out = reg.update(AOR, request, NAT, 0.0)
        assert out.status == 400 and out.reason, request
    assert reg.aors() == []


def test_expiry_reports_aors_that_lost_their_last_binding() -> None:
    reg = Registrar()
    reg.update("sip:a@d", _register(["<sip:a@h>"], expires="60"), NAT, 0.0)
    reg.update(
        "sip:b@d", _register(["<sip:b1@h>", "<sip:b2@h>;expires=120"], expires="60"), NAT, 0.0
    )
    reg.update("sip:c@d", _register(["<sip:c@h>"], expires="60"), NAT, 0.0)
    reg.update("sip:c@d", _register(["<sip:c@h>"], cseq=2, expires="600"), NAT, 30.0)
    assert reg.next_expiry() == 60.0
    assert reg.expire(59.9) == []
    assert reg.expire(60.0) == ["sip:a@d"]  # b still has b2; c was refreshed
    assert [b.contact for b in reg.lookup("sip:b@d", 60.0)] == ["sip:b2@h"]
    assert reg.next_expiry() == 120.0
    assert reg.expire(200.0) == ["sip:b@d"]
    assert reg.next_expiry() == 630.0
    assert reg.expire(630.0) == ["sip:c@d"] and reg.next_expiry() is None


def test_lookup_hides_expired_bindings_before_expire_runs() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>"], expires="60"), NAT, 0.0)
    assert reg.lookup(AOR, 60.0) == []
    # Re-registering before the timer fired is not a new registration for the endpoint:
    out = reg.update(AOR, _register(["<sip:a@h>"], cseq=2, expires="60"), NAT, 61.0)
    assert out.status == 200 and out.events == []
    assert reg.expire(61.0) == []  # the old deadline belongs to the replaced binding


def test_remove_all_forgets_the_aor() -> None:
    reg = Registrar()
    reg.update(AOR, _register(["<sip:a@h>", "<sip:b@h>"]), NAT, 0.0)
    assert len(reg.remove_all(AOR)) == 2
    assert reg.lookup(AOR, 0.0) == [] and reg.next_expiry() is None
    assert reg.expire(10_000.0) == []


def test_canonical_aor() -> None:
    assert canonical_aor('"Alice" <sips:alice@EXAMPLE.com:5061>;tag=1') == "sip:alice@example.com"
    assert canonical_aor("sip:example.com") == "sip:example.com"
