"""SDP parse/format and offer/answer against offers real peers send."""

from __future__ import annotations

import pytest

from cti_server.sip.sdp import (
    Codec,
    SdpError,
    answer,
    chosen_codec,
    dtmf_payload_type,
    format_sdp,
    offer,
    parse_sdp,
)

# `sipp -sd uac` (SIPp 3.x built-in scenario), rendered with local/media IP 127.0.0.1 and
# the default media port 6000.
SIPP_UAC_OFFER = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# pyVoIP 1.6.8 SIPClient.gen_invite body (VoIPPhone.call: {port: {0: PCMU, 101: EVENT}}),
# produced by running it with myIP=192.168.1.20, sess_id=12345, port 10000.
PYVOIP_OFFER = (
    b"v=0\r\no=pyVoIP 12345 12347 IN IP4 192.168.1.20\r\ns=pyVoIP 1.6.8\r\n"
    b"c=IN IP4 192.168.1.20\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n"
)

# baresip 1.0.0 INVITE body, captured on loopback (g711, g722 and opus modules loaded).
BARESIP_OFFER = (
    b"v=0\r\no=- 3564991712 566363621 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\n"
    b"t=0 0\r\na=tool:baresip 1.0.0\r\nm=audio 10004 RTP/AVP 0 8 9 96 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1;sprop-stereo=1\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=label:1\r\n"
    b"a=rtcp-rsize\r\na=ssrc:875023620 cname:sip:bob@127.0.0.1\r\na=minptime:20\r\n"
    b"a=ptime:20\r\n"
)

# RFC 4317 §2.1 "Audio and Video 1", Alice's offer.
RFC4317_OFFER = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    b"s=\r\n"
    b"c=IN IP4 host.atlanta.example.com\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 97\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:97 iLBC/8000\r\n"
    b"m=video 51372 RTP/AVP 31 32\r\n"
    b"a=rtpmap:31 H261/90000\r\n"
    b"a=rtpmap:32 MPV/90000\r\n"
)

# RFC 4317 §3.1 "Hold and Unhold 1": Alice's hold offer.
RFC4317_HOLD = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844527 IN IP4 host.atlanta.example.com\r\n"
    b"s=\r\n"
    b"c=IN IP4 host.atlanta.example.com\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 97\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:97 iLBC/8000\r\n"
    b"a=sendonly\r\n"
)

ALL_OFFERS = [SIPP_UAC_OFFER, PYVOIP_OFFER, BARESIP_OFFER, RFC4317_OFFER, RFC4317_HOLD]


def _answer(
    body: bytes, supported: tuple[str, ...] = ("PCMU", "PCMA"), hold: bool = False
) -> bytes | None:
    sd = answer(
        parse_sdp(body),
        local_ip="10.0.0.1",
        local_port=20000,
        session_id=7,
        version=1,
        supported=supported,
        hold=hold,
    )
    return None if sd is None else format_sdp(sd)


# ---------------------------------------------------------------- parsing


def test_parse_pyvoip_offer() -> None:
    sd = parse_sdp(PYVOIP_OFFER)
    assert (sd.origin_username, sd.session_id, sd.session_version) == ("pyVoIP", 12345, 12347)
    assert sd.session_name == "pyVoIP 1.6.8"
    audio = sd.audio()
    assert audio is not None
    assert [c.payload_type for c in audio.codecs] == [0, 101]
    assert audio.codecs[1] == Codec(101, "telephone-event", 8000, "0-15")
    assert audio.ptime == 20
    assert audio.attributes == [("maxptime", "150")]
    assert sd.rtp_address() == ("192.168.1.20", 10000)
    assert sd.direction() == "sendrecv" and not sd.is_hold()
    assert dtmf_payload_type(sd) == 101
    assert chosen_codec(sd) == Codec(0, "PCMU", 8000)


def test_parse_baresip_offer_keeps_everything() -> None:
    sd = parse_sdp(BARESIP_OFFER)
    audio = sd.audio()
    assert audio is not None
    assert sd.attributes == [("tool", "baresip 1.0.0")]
    opus = audio.codecs[3]
    assert (opus.name, opus.clock_rate, opus.channels) == ("opus", 48000, 2)
    assert opus.fmtp == "stereo=1;sprop-stereo=1"
    assert ("ssrc", "875023620 cname:sip:bob@127.0.0.1") in audio.attributes
    assert ("rtcp-rsize", None) in audio.attributes


def test_static_payload_without_rtpmap_gets_its_rfc3551_name() -> None:
    body = SIPP_UAC_OFFER.replace(b"a=rtpmap:0 PCMU/8000\r\n", b"")
    audio = parse_sdp(body).audio()
    assert audio is not None and audio.codecs == [Codec(0, "PCMU", 8000)]


@pytest.mark.parametrize("body", ALL_OFFERS)
def test_format_round_trips_semantically(body: bytes) -> None:
    sd = parse_sdp(body)
    again = parse_sdp(format_sdp(sd))
    assert again == sd
    assert format_sdp(again) == format_sdp(sd)


def test_format_pyvoip_offer_is_byte_exact() -> None:
    assert format_sdp(parse_sdp(PYVOIP_OFFER)) == PYVOIP_OFFER.replace(
        b"a=maxptime:150\r\n", b""
    ).replace(b"a=sendrecv\r\n", b"a=maxptime:150\r\na=sendrecv\r\n")


def test_bare_lf_and_trailing_blank_lines_are_accepted() -> None:
    lf = PYVOIP_OFFER.replace(b"\r\n", b"\n") + b"\n\n"
    assert parse_sdp(lf) == parse_sdp(PYVOIP_OFFER)


def test_unknown_line_types_are_kept() -> None:
    body = SIPP_UAC_OFFER.replace(b"t=0 0\r\n", b"b=AS:64\r\nt=0 0\r\ny=whatever\r\n")
    body += b"b=TIAS:64000\r\nk=prompt\r\n"
    sd = parse_sdp(body)
    assert sd.extra_lines == [("b", "AS:64"), ("y", "whatever")]
    audio = sd.audio()
    assert audio is not None and audio.extra_lines == [("b", "TIAS:64000"), ("k", "prompt")]
    assert b"c=IN IP4 127.0.0.1\r\nb=AS:64\r\nt=0 0\r\ny=whatever\r\n" in format_sdp(sd)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"hello world", "malformed"),
        (b"o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", "v=0"),
        (b"v=0\r\ns=-\r\n", "o="),
        (b"v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n", "o= line"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\n", "c= line"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n", "m= line"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", "port"),
        (b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP zero\r\n", "payload"),
    ],
)
def test_garbage_raises_sdp_error_with_reason(body: bytes, reason: str) -> None:
    with pytest.raises(SdpError, match=reason) as info:
        parse_sdp(body)
    assert isinstance(info.value, ValueError) and info.value.reason


def test_session_level_direction_applies_to_media_without_one() -> None:
    body = PYVOIP_OFFER.replace(b"a=sendrecv\r\n", b"").replace(
        b"t=0 0\r\n", b"t=0 0\r\na=recvonly\r\n"
    )
    sd = parse_sdp(body)
    assert sd.direction() == "recvonly" and not sd.is_hold()
    media_level = parse_sdp(body + b"a=inactive\r\n")
    assert media_level.direction() == "inactive"


# ---------------------------------------------------------------- hold detection


def test_rfc4317_sendonly_is_hold() -> None:
    sd = parse_sdp(RFC4317_HOLD)
    assert sd.direction() == "sendonly" and sd.is_hold()
    assert sd.rtp_address() == ("host.atlanta.example.com", 49170)


def test_old_style_hold_with_zero_address() -> None:
    body = PYVOIP_OFFER.replace(b"c=IN IP4 192.168.1.20", b"c=IN IP4 0.0.0.0")
    sd = parse_sdp(body)
    assert sd.is_hold() and sd.direction() == "sendonly"
    assert sd.rtp_address() is None
    inactive = parse_sdp(body.replace(b"a=sendrecv", b"a=recvonly"))
    assert inactive.direction() == "inactive"


def test_media_level_connection_overrides_session_level() -> None:
    body = PYVOIP_OFFER + b"c=IN IP4 0.0.0.0\r\n"
    assert parse_sdp(body).is_hold()
    moved = PYVOIP_OFFER.replace(b"a=ptime", b"c=IN IP4 192.168.1.99\r\na=ptime")
    assert parse_sdp(moved).rtp_address() == ("192.168.1.99", 10000)


def test_no_audio_means_no_address() -> None:
    sd = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n")
    assert sd.audio() is None and sd.rtp_address() is None and chosen_codec(sd) is None
    assert dtmf_payload_type(sd) is None


# ---------------------------------------------------------------- answers


def test_answer_sipp_offer() -> None:
    assert _answer(SIPP_UAC_OFFER) == (
        b"v=0\r\no=- 7 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def test_answer_pyvoip_offer_keeps_event_pt_and_is_readable_by_pyvoip() -> None:
    body = _answer(PYVOIP_OFFER)
    assert body == (
        b"v=0\r\no=- 7 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP imports cleanly only after pyVoIP.VoIP)
    from pyVoIP.SIP import SIPMessage

    response = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKx\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
        b"Content-Type: application/sdp\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    parsed = SIPMessage(response)
    media = parsed.body["m"][0]
    assert media["port"] == 20000 and media["methods"] == ["0", "101"]
    assert media["attributes"]["101"]["rtpmap"]["name"] == "telephone-event"
    assert parsed.body["c"][0]["address"] == "10.0.0.1"


def test_answer_baresip_offer_picks_first_common_and_drops_the_rest() -> None:
    sd = answer(
        parse_sdp(BARESIP_OFFER), local_ip="10.0.0.1", local_port=20000, session_id=1, version=1
    )
    assert sd is not None
    audio = sd.audio()
    assert audio is not None
    assert [(c.payload_type, c.name) for c in audio.codecs] == [
        (0, "PCMU"),
        (101, "telephone-event"),
    ]
    assert audio.attributes == []  # baresip's ssrc/label are not ours to echo


def test_answer_follows_the_offerers_preference_order() -> None:
    # pyVoIP's offer with PCMA listed before PCMU: the offerer's order wins (RFC 3264 §6.1).
    pcma_first = PYVOIP_OFFER.replace(b"RTP/AVP 0 101", b"RTP/AVP 8 0 101").replace(
        b"a=rtpmap:0", b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:0"
    )
    sd = parse_sdp(_answer(pcma_first) or b"")
    assert chosen_codec(sd) == Codec(8, "PCMA", 8000)
    only_pcmu = parse_sdp(_answer(pcma_first, supported=("PCMU",)) or b"")
    assert chosen_codec(only_pcmu) == Codec(0, "PCMU", 8000)


def test_answer_rfc4317_rejects_video_with_port_zero_in_order() -> None:
    assert _answer(RFC4317_OFFER) == (
        b"v=0\r\no=- 7 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
        b"m=video 0 RTP/AVP 31\r\n"
    )


def test_video_first_offer_keeps_m_line_order() -> None:
    session, rest = RFC4317_OFFER.split(b"m=audio")
    audio, video = rest.split(b"m=video")
    body = session + b"m=video" + video + b"m=audio" + audio
    sd = parse_sdp(_answer(body) or b"")
    assert [(m.media, m.port) for m in sd.media] == [("video", 0), ("audio", 20000)]


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        (b"sendrecv", b"sendrecv"),
        (b"sendonly", b"recvonly"),
        (b"recvonly", b"sendonly"),
        (b"inactive", b"inactive"),
    ],
)
def test_answer_mirrors_direction(offered: bytes, answered: bytes) -> None:
    body = PYVOIP_OFFER.replace(b"a=sendrecv", b"a=" + offered)
    out = _answer(body) or b""
    assert out.endswith(b"a=" + answered + b"\r\n")


@pytest.mark.parametrize(
    ("offered", "answered"),
    [(b"sendrecv", "recvonly"), (b"sendonly", "recvonly"), (b"recvonly", "inactive")],
)
def test_answer_while_we_hold(offered: bytes, answered: str) -> None:
    body = PYVOIP_OFFER.replace(b"a=sendrecv", b"a=" + offered)
    sd = parse_sdp(_answer(body, hold=True) or b"")
    assert sd.direction() == answered


def test_answer_to_rfc4317_hold_is_recvonly() -> None:
    sd = parse_sdp(_answer(RFC4317_HOLD) or b"")
    assert sd.direction() == "recvonly" and sd.rtp_address() == ("10.0.0.1", 20000)


def test_answer_to_zero_address_hold_is_recvonly_with_real_address() -> None:
    body = PYVOIP_OFFER.replace(b"c=IN IP4 192.168.1.20", b"c=IN IP4 0.0.0.0")
    sd = parse_sdp(_answer(body) or b"")
    assert sd.direction() == "recvonly" and sd.connection == "10.0.0.1"


def test_answer_keeps_offered_ptime_and_dynamic_event_pt() -> None:
    body = PYVOIP_OFFER.replace(b"a=ptime:20", b"a=ptime:30").replace(b"101", b"96")
    sd = parse_sdp(_answer(body) or b"")
    audio = sd.audio()
    assert audio is not None and audio.ptime == 30
    assert dtmf_payload_type(sd) == 96


def test_no_common_codec_is_488() -> None:
    g722_only = BARESIP_OFFER.replace(b"RTP/AVP 0 8 9 96 101", b"RTP/AVP 9 96 101")
    assert _answer(g722_only) is None
    assert _answer(RFC4317_OFFER, supported=("G729",)) is None


def test_srtp_only_audio_is_488() -> None:
    assert _answer(SIPP_UAC_OFFER.replace(b"RTP/AVP", b"RTP/SAVP")) is None


def test_second_audio_stream_is_rejected() -> None:
    body = SIPP_UAC_OFFER + b"m=audio 6002 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    sd = parse_sdp(_answer(body) or b"")
    assert [(m.media, m.port) for m in sd.media] == [("audio", 20000), ("audio", 0)]


# ---------------------------------------------------------------- offers


def test_offer_is_accepted_by_our_own_answer() -> None:
    ours = offer(local_ip="10.0.0.1", local_port=30000, session_id=5, version=5)
    body = format_sdp(ours)
    assert body == (
        b"v=0\r\no=- 5 5 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        b"m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    reply = _answer(body)
    assert reply is not None and dtmf_payload_type(parse_sdp(reply)) == 101


def test_hold_offer_and_no_dtmf() -> None:
    held = offer(
        local_ip="10.0.0.1",
        local_port=30000,
        session_id=5,
        version=6,
        dtmf_pt=None,
        codecs=("PCMA",),
        direction="sendonly",
    )
    assert held.is_hold() and dtmf_payload_type(held) is None
    assert chosen_codec(held) == Codec(8, "PCMA", 8000)
    with pytest.raises(ValueError, match="direction"):
        offer(local_ip="1.1.1.1", local_port=2, session_id=1, version=1, direction="both")


def test_ipv6_addresses_get_ip6() -> None:
    ours = offer(local_ip="2001:db8::1", local_port=30000, session_id=1, version=1)
    body = format_sdp(ours)
    assert b"o=- 1 1 IN IP6 2001:db8::1\r\n" in body and b"c=IN IP6 2001:db8::1\r\n" in body
    assert parse_sdp(body).rtp_address() == ("2001:db8::1", 30000)


def test_non_rtp_stream_is_rejected_with_its_own_format() -> None:
    body = PYVOIP_OFFER + b"m=image 10010 udptl t38\r\na=T38FaxVersion:0\r\n"
    sd = parse_sdp(body)
    assert sd.media[1].codecs == [] and sd.media[1].formats == ["t38"]
    out = _answer(body) or b""
    assert out.endswith(b"a=sendrecv\r\nm=image 0 udptl t38\r\n")
