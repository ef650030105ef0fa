"""Crashes the ``sdp`` fuzz target found (loadtests/fuzz/sdp_body.py), as regression tests.

The inputs are the fuzzer's (minimised by libFuzzer where that kept the same fault). Three
raised something other than ``SdpError`` (ValueError from ``int()`` on a Unicode digit or on
"\\x1d0", which ``str.strip`` trims and ``int`` does not; ValueError from ``zip(strict=True)``
after a second o= line; OverflowError from ``int(float("1e999"))``). Three broke the harness's
invariant that formatting a parsed body is a fixed point, each hiding a wrong answer: a payload
type listed twice, and an rtpmap with no encoding name, left a codec whose name the offerer
did not mean.
"""

from __future__ import annotations

import pytest

from cti_server.sip.sdp import SdpError, answer, format_sdp, parse_sdp

M_PORT_UNICODE_DIGIT = (
    b"v=0\r\n"
    b"o=- 7 1 IN IP4 10.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 10.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 20\xc2\xb2000 RTP/a=fmtp:a=rtpmap:0 PCMU/8000\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
    b"m=video 0 RTP/AVP 31\r\n"
)  # fmt: skip
O_VERSION_UNICODE_DIGIT = (
    b"v=0\n"
    b"o=- 7 \xc2\xb2 \x00 2 \x00"
)  # fmt: skip
TWO_ORIGINS = (
    b"v=0\n"
    b"o=e 2 2 I I o\n"
    b"m=P 0 9\n"
    b"o=e 2 2 I I o"
)  # fmt: skip
RTPMAP_RATE_CONTROL_CHAR = (
    b"v=0\r\n"
    b"o=- 1 1 IN \x00\x004 8\r\n"
    b"s=6\x00535\n"
    b"m=audio 1004 RTP/ 101\r\n"
    b"a=rtpmap:101 /\x1d0"
)  # fmt: skip
DUPLICATE_PAYLOAD_TYPE = (
    b"v=0\r\n"
    b"o=- 3564991712 566363621 IN IP4 192.0.2.2\r\n"
    b"s=\xff\r\n"
    b"t=m=application \r\n"
    b"a=128\r\n"
    b"a=65535\r\n"
    b"a=128\r\n"
    b"m=audio 10004 RTP/AVP 0 8 8 96 101\r\n"
    b"a=::1\r\n"
    b"a=a=rtpmap:\r\n"
    b"a=rtpmaG722/800\xff\xff\n"
    b"a=rtpmap:96 opus/48000/2\r\n"
    b"a=m=audio \r\n"
    b"a=0-15\r\n"
    b"a=fmtp:050 )a=sendonly-15\r\n"
    b"a=rtpmap:8 Pp:96 opus/48000/2\r\n"
)  # fmt: skip
PTIME_INFINITE = (
    b"v=0\r\n"
    b"o=- 7 1 IN I]P4 100t\r\n"
    b"m=a\x01\x02 0 9\r\n"
    b"a=ptime:21e999"
)  # fmt: skip
RTPMAP_EMPTY_NAME = (
    b"v=0\r\n"
    b"o=- 35 6 I P4 1\r\n"
    b"m=i 0 RTP/0 8 \n"
    b"a=rtpmap:8 /8"
)  # fmt: skip


def _fixed_point(body: bytes) -> None:
    formatted = format_sdp(parse_sdp(body))
    assert format_sdp(parse_sdp(formatted)) == formatted


@pytest.mark.parametrize(
    "body",
    [M_PORT_UNICODE_DIGIT, O_VERSION_UNICODE_DIGIT, TWO_ORIGINS],
    ids=["m-port-digit", "o-version-digit", "two-origins"],
)
def test_malformed_bodies_raise_sdp_error(body: bytes) -> None:
    with pytest.raises(SdpError):
        parse_sdp(body)


def test_unicode_digits_in_rtpmap_and_payload_types_are_not_numbers() -> None:
    sd = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000 RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000/\u00b2\r\na=rtpmap:\u00b2 X/8000\r\na=fmtp:\u0660 x\r\n".encode()
    )
    codec = sd.media[0].codecs[0]
    assert (codec.name, codec.clock_rate, codec.channels) == ("PCMU", 8000, None)
    with pytest.raises(SdpError):
        parse_sdp("v=0\r\no=- 1 1 IN IP4 h\r\nm=audio 4000 RTP/AVP \u0668\r\n".encode())


def test_rtpmap_rate_with_a_control_character_is_not_a_rate() -> None:
    sd = parse_sdp(RTPMAP_RATE_CONTROL_CHAR)
    codec = sd.media[0].codecs[0]
    assert (codec.payload_type, codec.name, codec.clock_rate) == (101, "", 0)
    _fixed_point(RTPMAP_RATE_CONTROL_CHAR)


def test_a_payload_type_listed_twice_is_one_codec() -> None:
    sd = parse_sdp(DUPLICATE_PAYLOAD_TYPE)
    assert [c.payload_type for c in sd.media[0].codecs] == [0, 8, 96, 101]
    _fixed_point(DUPLICATE_PAYLOAD_TYPE)
    # The wrong answer this hid: PT 8 mapped to opus, yet a stale "PCMA" copy was chosen.
    offer = parse_sdp(
        b"v=0\r\no=- 1 1 IN IP4 h\r\nc=IN IP4 192.0.2.9\r\nm=audio 4000 RTP/AVP 8 8\r\n"
        b"a=rtpmap:8 opus/48000\r\n"
    )
    assert [(c.name, c.clock_rate) for c in offer.media[0].codecs] == [("opus", 48000)]
    assert answer(offer, local_ip="192.0.2.1", local_port=20000, session_id=1, version=1) is None


@pytest.mark.parametrize("value", ["21e999", "inf", "nan", "-20", "0", "0.5"])
def test_ptime_that_is_not_a_positive_finite_time_is_kept_as_an_attribute(value: str) -> None:
    body = PTIME_INFINITE.replace(b"21e999", value.encode())  # the fuzzer's input, then others
    media = parse_sdp(body).media[0]
    assert media.ptime is None
    assert media.attributes == [("ptime", value)]
    _fixed_point(body)


def test_ptime_with_a_fraction_still_counts() -> None:
    assert parse_sdp(PTIME_INFINITE.replace(b"21e999", b"20.5")).media[0].ptime == 20


def test_rtpmap_without_an_encoding_name_leaves_the_static_codec() -> None:
    codec = parse_sdp(RTPMAP_EMPTY_NAME).media[0].codecs[0]
    assert (codec.payload_type, codec.name, codec.clock_rate) == (8, "PCMA", 8000)
    _fixed_point(RTPMAP_EMPTY_NAME)
