"""G.711 tables, bit-exact against CPython's audioop (the Sun reference coder) on 3.11/3.12."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

from cti_server.rtp import g711
from tests.fixtures.rtp.pcap import SIPP_PCAPS, udp_payloads

ALL_CODES = bytes(range(256))
ALL_PCM = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


@pytest.fixture(scope="module")
def audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module: ModuleType = pytest.importorskip("audioop")
    return module


def test_ulaw_encode_all_int16_matches_audioop(audioop: ModuleType) -> None:
    assert g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM.tobytes(), 2)


def test_alaw_encode_all_int16_matches_audioop(audioop: ModuleType) -> None:
    assert g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM.tobytes(), 2)


def test_decode_all_codes_matches_audioop(audioop: ModuleType) -> None:
    ulaw = g711.ulaw_decode(ALL_CODES)
    alaw = g711.alaw_decode(ALL_CODES)
    assert ulaw.dtype == np.int16 and alaw.dtype == np.int16
    assert ulaw.tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw.tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_transcoding_tables_equal_audioop_composition(audioop: ModuleType) -> None:
    u2a = audioop.lin2alaw(audioop.ulaw2lin(ALL_CODES, 2), 2)
    a2u = audioop.lin2ulaw(audioop.alaw2lin(ALL_CODES, 2), 2)
    assert u2a == g711.ULAW_TO_ALAW and g711.ulaw_to_alaw(ALL_CODES) == u2a
    assert a2u == g711.ALAW_TO_ULAW and g711.alaw_to_ulaw(ALL_CODES) == a2u


def test_known_reference_values() -> None:
    # Spot values from the G.711 tables, independent of audioop being importable.
    assert g711.ulaw_decode(b"\x00\x7f\x80\xff").tolist() == [-32124, 0, 32124, 0]
    assert g711.alaw_decode(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]
    assert g711.ulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xff\x80\x00"
    assert g711.alaw_encode(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xd5\xaa\x2a"


def test_silence_constants_decode_to_zero_and_survive_transcoding() -> None:
    frame_u, frame_a = g711.ULAW_SILENCE * 160, g711.ALAW_SILENCE * 160
    assert not g711.ulaw_decode(frame_u).any()
    assert np.abs(g711.alaw_decode(frame_a)).max() == 8  # A-law has no exact zero
    assert g711.ulaw_encode(np.zeros(160, dtype=np.int16)) == frame_u
    assert g711.alaw_encode(np.zeros(160, dtype=np.int16)) == frame_a
    assert g711.ulaw_to_alaw(frame_u) == frame_a
    assert np.abs(g711.ulaw_decode(g711.alaw_to_ulaw(frame_a))).max() == 8


def test_decode_then_encode_is_identity_except_negative_zero() -> None:
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF  # µ-law -0 and +0 both decode to 0
    assert g711.ulaw_encode(g711.ulaw_decode(ALL_CODES)) == bytes(expected)


def test_encode_accepts_views_and_other_int_arrays() -> None:
    pcm = ALL_PCM[::-7]  # non-contiguous view
    assert g711.ulaw_encode(pcm) == g711.ulaw_encode(pcm.copy())
    assert g711.alaw_encode(np.array([1000, -1000])) == g711.alaw_encode(
        np.array([1000, -1000], dtype=np.int16)
    )


@pytest.mark.skipif(not (SIPP_PCAPS / "g711a.pcap").exists(), reason="sip-tester not installed")
def test_sipp_alaw_capture_transcodes_through_ulaw_losslessly_enough() -> None:
    payload = b"".join(d[12:] for _, d in udp_payloads(SIPP_PCAPS / "g711a.pcap"))
    pcm = g711.alaw_decode(payload).astype(np.int32)
    assert np.abs(pcm).max() > 1000  # real speech, not silence
    via_ulaw = g711.alaw_decode(g711.ulaw_to_alaw(g711.alaw_to_ulaw(payload))).astype(np.int32)
    # A-law -> µ-law -> A-law moves a sample by at most one A-law step.
    step = np.maximum(16, np.abs(pcm) // 16)
    assert (np.abs(via_ulaw - pcm) <= step).all()
