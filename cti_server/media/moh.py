"""Music on hold: a soft, seamless 20 s arpeggio synthesised with numpy.

Why synthesise: a demo install needs hold music it is allowed to ship, and a loop rendered here is
exactly 8 kHz, band-limited to what G.711 carries, and repeatable bit for bit. The design keeps it
calm for a caller who may hear it for minutes: a slow I-vi-IV-V progression in C major, chord
tones between 294 Hz and 784 Hz (inside the 300-3400 Hz telephone band), each note a sine with
two weak harmonics, a soft attack, an exponential decay and a faded end (no clicks), over a
quiet sustained chord pad. Notes ringing past the loop end are folded back onto its start, so
the loop has no seam.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

MOH_SECONDS: Final = 20.0
PEAK: Final = 0.25
"""Peak level as a fraction of full scale (-12 dBFS): quieter than speech prompts at -3 dBFS."""

# MIDI note numbers, one voicing per chord: Cmaj7, Am7, Fmaj7, G6.
_CHORDS = [(64, 67, 71, 72, 76), (64, 67, 69, 72, 76), (65, 69, 72, 76, 77), (62, 67, 71, 74, 79)]
_PATTERN = [0, 1, 2, 3, 4, 3, 2, 1]
"""Up-and-down arpeggio over the five chord tones, twice per chord."""


def _hz(midi: int) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12))


def _tone(freq: float, t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    w = 2 * np.pi * freq * t
    return np.sin(w) + 0.25 * np.sin(2 * w) + 0.08 * np.sin(3 * w)


def render_moh(rate: int = 8000, seconds: float = MOH_SECONDS) -> npt.NDArray[np.int16]:
    """One loop of hold music as int16 samples; its end joins its start without a click."""
    total = round(rate * seconds)
    tail = 2 * rate
    out = np.zeros(total + tail)
    chord_len = total // len(_CHORDS)
    step = chord_len // (2 * len(_PATTERN))
    note_len = min(round(1.6 * rate), tail + step)
    t = np.arange(note_len) / rate
    fades = np.minimum(np.minimum(t / 0.015, 1.0), (t[::-1] + 1 / rate) / 0.2)
    pluck = np.minimum(fades, 1.0) * np.exp(-t / 0.45)
    pad_t = np.arange(chord_len + rate) / rate
    swell = np.minimum(pad_t / 0.8, 1.0) * np.minimum((pad_t[::-1]) / 0.8, 1.0)
    for c, chord in enumerate(_CHORDS):
        start = c * chord_len
        for pad_note in chord[1:4]:
            out[start : start + len(pad_t)] += (
                0.06 * swell * np.sin(2 * np.pi * _hz(pad_note) * pad_t)
            )
        for i in range(2 * len(_PATTERN)):
            note = chord[_PATTERN[i % len(_PATTERN)]]
            accent = 1.0 if i % 4 == 0 else 0.75
            at = start + i * step
            out[at : at + note_len] += 0.3 * accent * pluck * _tone(_hz(note), t)
    loop = out[:total].copy()
    loop[: len(out) - total] += out[total:]
    loop *= PEAK * 32767 / np.max(np.abs(loop))
    return np.round(loop).astype(np.int16)
