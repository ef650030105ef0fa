"""Hold music: exact loop length, telephone band, level, and a seamless loop point."""

from __future__ import annotations

import numpy as np

from cti_server.media.moh import PEAK, render_moh


def test_twenty_seconds_of_whole_frames_at_a_soft_level() -> None:
    music = render_moh()
    assert music.dtype == np.int16
    assert len(music) == 20 * 8000 and len(music) % 160 == 0
    assert abs(int(np.abs(music).max()) - round(PEAK * 32767)) <= 1
    rms = np.sqrt(np.mean(music.astype(np.float64) ** 2))
    assert 1000 < rms < 5000  # audible, well under speech prompts normalised to -3 dBFS


def test_energy_is_inside_the_telephone_band() -> None:
    music = render_moh().astype(np.float64)
    power = np.abs(np.fft.rfft(music)) ** 2
    freqs = np.fft.rfftfreq(len(music), 1 / 8000)
    in_band = power[(freqs >= 280) & (freqs <= 3400)].sum()
    assert in_band / power.sum() > 0.98


def test_loop_point_has_no_click() -> None:
    """The jump from the last sample to the first is no bigger than any step inside the loop."""
    music = render_moh().astype(np.int32)
    steps = np.abs(np.diff(music))
    assert abs(int(music[0]) - int(music[-1])) <= steps.max()
    assert abs(int(music[0]) - int(music[-1])) <= np.percentile(steps, 99.9)


def test_deterministic() -> None:
    assert np.array_equal(render_moh(), render_moh())
