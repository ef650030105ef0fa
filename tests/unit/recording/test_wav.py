"""The WAV format: header bytes, interleaving, and repair of files a crash left open."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from recording import wav


def read_back(data: bytes) -> tuple[wave._wave_params, bytes]:
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getparams(), w.readframes(w.getnframes())


def test_stereo_header_is_the_canonical_44_bytes() -> None:
    h = wav.header(640, channels=2)
    assert len(h) == wav.HEADER_SIZE
    fields = struct.unpack("<4sI4s4sIHHIIHH4sI", h)
    assert fields == (
        b"RIFF",
        36 + 640,
        b"WAVE",
        b"fmt ",
        16,
        1,
        2,
        8000,
        32000,
        4,
        16,
        b"data",
        640,
    )


def test_stdlib_wave_reads_header_and_frames() -> None:
    frame = wav.interleave(np.arange(160), -np.arange(160))
    params, frames = read_back(wav.header(len(frame) * 3, 2) + frame * 3)
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == (
        2,
        2,
        8000,
        480,
    )
    assert frames == frame * 3


def test_mono_header_for_voice_messages() -> None:
    params, _ = read_back(wav.header(320, channels=1) + wav.mono(None))
    assert (params.nchannels, params.nframes) == (1, 160)


@pytest.mark.parametrize(("length", "channels"), [(3, 2), (2, 2), (-4, 2), (0, 3), (1, 1)])
def test_header_refuses_partial_frames_and_odd_layouts(length: int, channels: int) -> None:
    with pytest.raises(wav.WavError):
        wav.header(length, channels)


def test_size_patches_turn_an_empty_header_into_the_full_one() -> None:
    h = bytearray(wav.header(0, 2))
    for offset, data in wav.size_patches(6400):
        h[offset : offset + len(data)] = data
    assert bytes(h) == wav.header(6400, 2)


def test_sizes_clamp_at_4_gib() -> None:
    assert wav.size_fields(2**32) == (0xFFFFFFFF, 0xFFFFFFFF)


def test_interleave_puts_caller_left_and_agent_right() -> None:
    left = np.full(160, 1000, dtype=np.int16)
    right = np.full(160, -2000, dtype=np.int16)
    data = wav.interleave(left, right)
    assert len(data) == 640
    assert struct.unpack_from("<hhhh", data) == (1000, -2000, 1000, -2000)
    got_left, got_right = wav.split(data)
    assert np.array_equal(got_left, left) and np.array_equal(got_right, right)


def test_interleave_none_is_silence_on_that_side() -> None:
    tone = np.arange(160, dtype=np.int16)
    left, right = wav.split(wav.interleave(None, tone))
    assert not left.any() and np.array_equal(right, tone)
    left, right = wav.split(wav.interleave(tone, None))
    assert np.array_equal(left, tone) and not right.any()
    assert wav.interleave(None, None) == bytes(640) == wav.STEREO_SILENCE


def test_interleave_pads_short_and_cuts_long_frames() -> None:
    left, right = wav.split(wav.interleave(np.ones(100), np.ones(200)))
    assert left.shape == right.shape == (160,)
    assert left[:100].all() and not left[100:].any() and right.all()


def test_interleave_other_frame_size() -> None:
    assert len(wav.interleave(np.ones(80), None, n=80)) == 320
    assert wav.interleave(None, None, n=80) == bytes(320)


def test_mono_is_little_endian_int16() -> None:
    assert wav.mono(np.array([1, -1], dtype=np.int16), n=2) == b"\x01\x00\xff\xff"
    assert wav.mono(np.array([1, -1], dtype=">i2"), n=2) == b"\x01\x00\xff\xff"


def test_parse_header_round_trip_and_rejects_foreign_bytes() -> None:
    assert wav.parse_header(wav.header(64, 1)) == wav.WavFormat(channels=1, rate=8000, data_len=64)
    with pytest.raises(wav.WavError):
        wav.parse_header(b"RIFX" + wav.header(0)[4:])
    with pytest.raises(wav.WavError):
        wav.parse_header(wav.header(0)[:20])
    odd = bytearray(wav.header(0, 2))
    odd[20:22] = struct.pack("<H", 3)  # IEEE float: not ours
    with pytest.raises(wav.WavError):
        wav.parse_header(bytes(odd))


def test_repair_sizes_a_killed_file_from_its_length() -> None:
    """Header says 0 bytes (killed before the first flush); 10 frames and a torn one follow."""
    head = wav.header(0, 2)
    size = wav.HEADER_SIZE + 10 * 640 + 7
    plan = wav.repair(head, size)
    assert plan.data_len == 6400 + 4  # whole sample frames: one more sample pair survives
    assert plan.dropped_bytes == 3
    assert plan.truncate_to == wav.HEADER_SIZE + plan.data_len
    assert plan.header == wav.header(plan.data_len, 2)
    assert plan.changed


def test_repair_mono_aligns_to_two_bytes() -> None:
    plan = wav.repair(wav.header(0, 1), wav.HEADER_SIZE + 321)
    assert (plan.channels, plan.data_len, plan.dropped_bytes) == (1, 320, 1)


def test_repair_of_a_consistent_file_changes_nothing() -> None:
    head = wav.header(640, 2)
    plan = wav.repair(head, wav.HEADER_SIZE + 640)
    assert not plan.changed and plan.header == head and plan.dropped_bytes == 0


def test_repair_of_a_file_killed_before_its_header() -> None:
    plan = wav.repair(b"RIF", 3, default_channels=2)
    assert plan.truncate_to == wav.HEADER_SIZE and plan.header == wav.header(0, 2)


def test_repair_refuses_a_foreign_file() -> None:
    with pytest.raises(wav.WavError):
        wav.repair(b"\x00" * 44, 1000)


def test_repaired_bytes_read_with_wave() -> None:
    frame = wav.interleave(np.full(160, 5), np.full(160, 6))
    crashed = wav.header(0, 2) + frame * 4 + frame[:5]
    plan = wav.repair(crashed[:44], len(crashed))
    fixed = plan.header + crashed[wav.HEADER_SIZE : plan.truncate_to]
    params, frames = read_back(fixed)
    assert params.nframes == 4 * 160 + 1
    assert frames[: 4 * 640] == frame * 4


def test_duration() -> None:
    assert wav.duration_s(32000, 2) == 1.0
    assert wav.duration_s(32000, 1) == 2.0


def test_interleave_many_matches_interleave_row_by_row() -> None:
    rng = np.random.default_rng(3)
    left = rng.integers(-32768, 32767, (5, 160), dtype=np.int16)
    right = rng.integers(-32768, 32767, (5, 160), dtype=np.int16)
    data = wav.interleave_many(left, right)
    assert data == b"".join(wav.interleave(left[i], right[i]) for i in range(5))


def test_interleave_many_refuses_mismatched_shapes() -> None:
    with pytest.raises(wav.WavError):
        wav.interleave_many(np.zeros((2, 160)), np.zeros((3, 160)))
    with pytest.raises(wav.WavError):
        wav.interleave_many(np.zeros(160), np.zeros(160))
