"""Prompt playout: frame slicing and padding, tick pacing on float time, barge-in, loops."""

from __future__ import annotations

import numpy as np
import pytest

from cti_server.media.player import FRAME_SECONDS, PromptPlayer, wav_to_frames
from cti_server.rtp.g711 import alaw_decode, ulaw_decode, ulaw_encode


def pcm(samples: list[int] | np.ndarray) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def test_frames_are_160_bytes_and_encode_every_sample() -> None:
    ramp = np.arange(-16000, 16000, 100, dtype=np.int16)  # 320 samples = 2 frames
    frames = wav_to_frames(pcm(ramp), "PCMU")
    assert [len(f) for f in frames] == [160, 160]
    assert b"".join(frames) == ulaw_encode(ramp)


@pytest.mark.parametrize(("codec", "silence"), [("PCMU", 0xFF), ("PCMA", 0xD5)])
def test_last_frame_is_padded_with_silence(codec: str, silence: int) -> None:
    frames = wav_to_frames(pcm([1000] * 161), codec)  # type: ignore[arg-type]
    assert [len(f) for f in frames] == [160, 160]
    assert frames[1][1:] == bytes([silence]) * 159
    decode = ulaw_decode if codec == "PCMU" else alaw_decode
    assert abs(int(decode(frames[1][:1])[0]) - 1000) < 40
    assert set(decode(frames[1][1:]).tolist()) <= {0, 8, -8}


def test_exact_and_empty_clips() -> None:
    assert wav_to_frames(b"", "PCMA") == []
    assert len(wav_to_frames(pcm([0] * 1600), "PCMA")) == 10


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="odd length"):
        wav_to_frames(b"\x00\x00\x00", "PCMU")
    with pytest.raises(ValueError, match="unknown codec"):
        wav_to_frames(b"\x00\x00", "G722")  # type: ignore[arg-type]


def clips(*lengths: int) -> list[list[bytes]]:
    """Clips whose frames are numbered 0, 1, 2... across the sequence."""
    n = iter(range(1000))
    return [[bytes([next(n)]) * 160 for _ in range(length)] for length in lengths]


def play(player: PromptPlayer, ticks: list[float]) -> list[int | None]:
    out = []
    for now in ticks:
        frame = player.next_frame(now)
        out.append(None if frame is None else frame[0])
    return out


def test_one_frame_per_tick_then_finished() -> None:
    player = PromptPlayer()
    t0 = 1_700_000_000.013  # epoch-sized floats lose precision; pacing must not care
    player.start(clips(2, 1, 3), t0)
    now, got = t0, []
    for _ in range(8):
        got.append(player.next_frame(now))
        now += FRAME_SECONDS  # accumulated float error, as a LoopingCall's clock has
    assert [f[0] if f else None for f in got] == [0, 1, 2, 3, 4, 5, None, None]
    assert player.finished and not player.stopped
    assert player.frames_sent == 6
    assert player.next_due() is None


def test_jittery_ticks_still_give_exactly_one_frame_each() -> None:
    player = PromptPlayer()
    player.start(clips(10), 0.0)
    jitter = [0.0, 0.004, -0.004, 0.003, -0.0045, 0.001, 0.0, 0.0049, -0.003, 0.0]
    ticks = [i * FRAME_SECONDS + j for i, j in enumerate(jitter)]
    assert play(player, ticks) == list(range(10))


def test_second_call_in_the_same_tick_gets_nothing() -> None:
    player = PromptPlayer()
    player.start(clips(5), 10.0)
    assert play(player, [10.0, 10.0, 10.001, 10.02, 10.02]) == [0, None, None, 1, None]


def test_start_between_ticks_plays_on_the_next_tick() -> None:
    player = PromptPlayer()
    player.start(clips(4), 0.013)
    assert play(player, [0.0, 0.02, 0.04, 0.06, 0.08]) == [None, 0, 1, 2, 3]


def test_a_stall_does_not_burst_the_backlog() -> None:
    player = PromptPlayer()
    player.start(clips(6), 0.0)
    # Tick at 0.02 and 0.04 missed (the reactor was busy); then one frame per tick again.
    assert play(player, [0.0, 0.065, 0.065, 0.07, 0.085, 0.105, 0.125]) == [
        0,
        1,
        None,
        None,
        2,
        3,
        4,
    ]


def test_barge_in_stops_at_once() -> None:
    player = PromptPlayer()
    player.start(clips(50), 0.0)
    assert play(player, [0.0, 0.02]) == [0, 1]
    assert player.barge_in() is True
    assert player.finished and player.stopped
    assert player.next_frame(0.04) is None
    assert player.barge_in() is False


def test_uninterruptible_prompt_ignores_dtmf_but_not_stop() -> None:
    player = PromptPlayer()
    player.start(clips(3), 0.0, interruptible=False)
    assert player.next_frame(0.0) is not None
    assert player.barge_in() is False
    assert play(player, [0.02]) == [1]
    player.stop()
    assert player.stopped and player.next_frame(0.04) is None


def test_stop_after_natural_end_is_not_a_barge_in() -> None:
    player = PromptPlayer()
    player.start(clips(1), 0.0)
    player.next_frame(0.0)
    player.stop()
    assert player.finished and not player.stopped


def test_restart_replaces_the_prompt() -> None:
    player = PromptPlayer()
    player.start(clips(3), 0.0)
    player.next_frame(0.0)
    player.barge_in()
    player.start([[b"\x63" * 160]], 0.5)
    assert not player.finished and player.frames_sent == 0
    assert play(player, [0.5, 0.52]) == [0x63, None]


def test_music_on_hold_loops_and_resumes() -> None:
    player = PromptPlayer()
    player.start(clips(3), 0.0, loop=True)
    assert play(player, [i * FRAME_SECONDS for i in range(7)]) == [0, 1, 2, 0, 1, 2, 0]
    assert not player.finished
    resume_at = player.position
    player.stop()
    player.start(clips(3), 1.0, loop=True, skip_frames=resume_at)
    assert play(player, [1.0, 1.02]) == [1, 2]


def test_empty_prompt_finishes_at_once() -> None:
    player = PromptPlayer()
    player.start([], 0.0)
    assert player.finished and player.next_frame(0.0) is None
    player.start([[]], 0.0, loop=True)
    assert player.finished
