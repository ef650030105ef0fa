"""The monitoring mixer, pure: decode, sum with clipping, own audio excluded, silence, jitter."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cti_server.rtp.g711 import alaw_encode, ulaw_decode, ulaw_encode
from cti_server.rtp.mixer import (
    FRAME,
    JitterBuffer,
    MixTap,
    decode,
    encode,
    mix,
    mix_tick,
    who_hears,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the G.711 oracle on 3.11 (DESIGN.md §6)


def level(value: int) -> np.ndarray:
    return np.full(FRAME, value, dtype=np.int16)


def frame(value: int, codec: str = "PCMU") -> bytes:
    return ulaw_encode(level(value)) if codec == "PCMU" else alaw_encode(level(value))


def test_decode_matches_the_reference_coder_and_pads_short_frames() -> None:
    payload = bytes(range(160))
    assert decode(payload, "PCMU").tobytes() == audioop.ulaw2lin(payload, 2)
    assert decode(payload, "PCMA").tobytes() == audioop.alaw2lin(payload, 2)
    short = decode(payload[:80], "PCMU")
    assert len(short) == FRAME and not short[80:].any()
    assert len(decode(payload * 2, "PCMU")) == FRAME


def test_encode_matches_the_reference_coder() -> None:
    pcm = (np.sin(np.arange(FRAME) / 5) * 12000).astype(np.int16)
    assert encode(pcm, "PCMU") == audioop.lin2ulaw(pcm.tobytes(), 2)
    assert encode(pcm, "PCMA") == audioop.lin2alaw(pcm.tobytes(), 2)


def test_each_listener_hears_the_sum_of_its_sources_never_itself() -> None:
    frames = {"c": level(1000), "a": level(2000), "s": level(4000)}
    sums = mix(frames, {"s": {"c", "a"}, "a": {"c", "s", "a"}, "c": {"a"}})
    assert set(sums) == {"s", "a", "c"}
    assert (sums["s"] == 3000).all()
    assert (sums["a"] == 5000).all()  # "a" is listed among its own sources: left out
    assert (sums["c"] == 2000).all()


def test_sums_are_clipped_to_16_bits_when_encoded() -> None:
    loud = {"x": level(30000), "y": level(30000), "z": level(-30000)}
    sums = mix(loud, {"l": {"x", "y"}, "q": {"z", "x"}})
    assert (sums["l"] == 60000).all()  # 32-bit sum, no wrap-around
    assert encode(sums["l"], "PCMU") == encode(level(32767), "PCMU")
    assert (sums["q"] == 0).all()
    negative = mix({"z": level(-30000), "w": level(-30000)}, {"l": {"z", "w"}})
    assert encode(negative["l"], "PCMA") == encode(level(-32768), "PCMA")


def test_a_source_without_a_frame_is_silence() -> None:
    sums = mix({"c": level(1000)}, {"s": {"c", "a"}, "a": {"b"}})
    assert (sums["s"] == 1000).all() and not sums["a"].any()
    assert encode(sums["a"], "PCMU") == b"\xff" * FRAME
    assert encode(sums["a"], "PCMA") == b"\xd5" * FRAME


def test_jitter_buffer_keeps_the_oldest_first_and_drops_beyond_its_depth() -> None:
    buf = JitterBuffer(depth=3)
    assert buf.pull() is None
    for i in range(5):
        buf.push(bytes([i]))
    assert [buf.pull() for _ in range(4)] == [b"\x02", b"\x03", b"\x04", None]


def test_a_mix_tap_is_a_recorder_tap_and_feeds_the_buffer() -> None:
    tap = MixTap([b"old"])
    tap.append(b"new")
    assert list(tap) == [b"old", b"new"]
    assert tap.buffer.pull() == b"new" and tap.buffer.pull() is None
    tap.clear()
    assert list(tap) == [] and isinstance(tap, list)


def test_mix_tick_takes_one_frame_per_source_and_encodes_per_listener() -> None:
    buffers = {"c": JitterBuffer(), "a": JitterBuffer()}
    buffers["c"].push(frame(1000))
    buffers["c"].push(frame(1000))  # two arrived in one tick: one is kept for the next
    buffers["a"].push(frame(2000, "PCMA"))
    codecs = {"c": "PCMU", "a": "PCMA", "s": "PCMA"}
    out = mix_tick(buffers, codecs, {"s": {"c", "a"}})
    assert set(out) == {"s"} and len(out["s"]) == FRAME
    assert decode(out["s"], "PCMA").mean() == pytest.approx(3000, rel=0.05)
    out = mix_tick(buffers, codecs, {"s": {"c", "a"}})  # "a" sent nothing this time
    assert decode(out["s"], "PCMA").mean() == pytest.approx(1000, rel=0.05)
    out = mix_tick(buffers, codecs, {"s": {"c", "a"}})
    assert out["s"] == b"\xd5" * FRAME
    assert ulaw_decode(frame(1000)).mean() == pytest.approx(1000, rel=0.05)


def test_who_hears_whom_in_each_mode() -> None:
    peers = {"a": "c"}
    assert who_hears([("s", "a", "listen")], peers) == {"s": {"a", "c"}}
    assert who_hears([("s", "a", "whisper")], peers) == {"s": {"a", "c"}, "a": {"s", "c"}}
    assert who_hears([("s", "a", "barge")], peers) == {
        "s": {"a", "c"},
        "a": {"s", "c"},
        "c": {"s", "a"},
    }
    # the customer on hold (unbridged): the supervisor hears the agent, whisper still works
    assert who_hears([("s", "a", "barge")], {"a": None}) == {"s": {"a"}, "a": {"s"}}
