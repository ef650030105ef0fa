"""SDES (RFC 4568) on parsed SDP: which a=crypto line is taken, what the answer says."""

from __future__ import annotations

import base64

import pytest

from cti_server.rtp.srtp import SrtpKeys
from cti_server.sip.sdes import (
    SdesError,
    accept_answer,
    add_crypto,
    crypto_value,
    negotiate,
    offered,
    parse_crypto,
)
from cti_server.sip.sdp import format_sdp, parse_sdp

KEY = bytes(range(30))
B64 = base64.b64encode(KEY).decode()
OURS = b"\xaa" * 30


def offer(proto: str, *cryptos: str) -> bytes:
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 192.0.2.1",
        "s=-",
        "c=IN IP4 192.0.2.1",
        "t=0 0",
        f"m=audio 4000 {proto} 0 101",
        "a=rtpmap:101 telephone-event/8000",
        *(f"a=crypto:{c}" for c in cryptos),
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def audio(body: bytes):  # type: ignore[no-untyped-def]
    media = parse_sdp(body).audio()
    assert media is not None
    return media


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}", True),
        (f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64}|2^31", True),
        (f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1048576", True),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|2^20|1:4", False),  # MKI
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}|1:4", False),  # MKI, no lifetime
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64};inline:{B64}", False),  # two keys
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64} UNENCRYPTED_SRTP", False),  # session param
        (f"1 AEAD_AES_256_GCM inline:{B64}", False),
        (f"1 F8_128_HMAC_SHA1_80 inline:{B64}", False),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", False),  # 5 bytes
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!", False),
        (f"x AES_CM_128_HMAC_SHA1_80 inline:{B64}", False),
        (f"1 AES_CM_128_HMAC_SHA1_80 uri:{B64}", False),
        ("", False),
    ],
)
def test_crypto_line_grammar(value: str, ok: bool) -> None:
    line = parse_crypto(value)
    assert (line is not None) == ok
    if line is not None:
        assert line.key == KEY and B64 not in repr(line)


def test_the_first_usable_line_is_answered_with_its_tag_and_our_key() -> None:
    media = audio(
        offer(
            "RTP/SAVP",
            f"1 AEAD_AES_256_GCM inline:{B64}",
            f"2 AES_CM_128_HMAC_SHA1_32 inline:{B64}",
            f"3 AES_CM_128_HMAC_SHA1_80 inline:{B64}",
        )
    )
    assert [c.tag for c in offered(media)] == [2, 3]
    keys = negotiate(media, lambda: OURS)
    assert keys == SrtpKeys("AES_CM_128_HMAC_SHA1_32", 2, OURS, KEY)
    assert (
        crypto_value(keys) == f"2 AES_CM_128_HMAC_SHA1_32 inline:{base64.b64encode(OURS).decode()}"
    )


def test_plain_offers_stay_plain_and_unusable_srtp_is_refused() -> None:
    assert negotiate(audio(offer("RTP/AVP")), lambda: OURS) is None
    assert negotiate(None, lambda: OURS) is None
    with pytest.raises(SdesError):
        negotiate(audio(offer("RTP/SAVP")), lambda: OURS)
    with pytest.raises(SdesError):
        negotiate(audio(offer("RTP/SAVPF", f"1 AEAD_AES_256_GCM inline:{B64}")), lambda: OURS)
    # "Best effort" SRTP (baresip's mediaenc=srtp): RTP/AVP with a crypto line.
    keys = negotiate(
        audio(offer("RTP/AVP", f"5 AES_CM_128_HMAC_SHA1_80 inline:{B64}")), lambda: OURS
    )
    assert keys is not None and keys.tag == 5


def test_a_reoffer_with_the_same_tag_keeps_our_key() -> None:
    first = negotiate(
        audio(offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{B64}")), lambda: OURS
    )
    new_peer_key = base64.b64encode(b"\x01" * 30).decode()
    again = negotiate(
        audio(offer("RTP/SAVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{new_peer_key}")),
        lambda: b"\xbb" * 30,
        first,
    )
    assert again is not None and again.local == OURS and again.remote == b"\x01" * 30
    other_tag = negotiate(
        audio(offer("RTP/SAVP", f"7 AES_CM_128_HMAC_SHA1_80 inline:{B64}")),
        lambda: b"\xbb" * 30,
        first,
    )
    assert other_tag is not None and other_tag.local == b"\xbb" * 30


def test_answer_and_reoffer_sdp_carry_our_line() -> None:
    keys = SrtpKeys("AES_CM_128_HMAC_SHA1_80", 4, OURS, KEY)
    sd = parse_sdp(offer("RTP/AVP"))
    add_crypto(sd, keys, "RTP/SAVP")
    text = format_sdp(sd).decode()
    assert "m=audio 4000 RTP/SAVP 0 101" in text
    assert f"a=crypto:{crypto_value(keys)}\r\n" in text
    # The peer's answer to that re-offer: its key for our tag, or plain RTP.
    answer = audio(offer("RTP/SAVP", f"4 AES_CM_128_HMAC_SHA1_80 inline:{B64}"))
    assert accept_answer(answer, keys) == keys
    assert accept_answer(audio(offer("RTP/AVP")), keys) is None
    assert accept_answer(answer, None) is None
