"""G.711 µ-law and A-law as lookup tables, bit-exact with the reference coder.

The tables are computed once at import from the ITU-T G.711 segment algorithm in the form of the
Sun reference implementation (the one CPython's ``audioop``, sox and most VoIP stacks use):
µ-law on the top 14 bits with bias 0x84 and clip 8159, A-law on the top 13 bits with even-bit
inversion 0x55. Keeping that exact variant means recordings and transcoded legs are byte-identical
to what the rest of the world produces (``audioop`` is gone from Python 3.13, so we cannot call it).

Speed: decode is one fancy-index into a 256-entry int16 table, encode one index into a 65536-entry
uint8 table (the int16 samples viewed as uint16), and transcoding between legs is
``bytes.translate`` with a 256-byte table, which needs no numpy at all.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

ULAW_SILENCE: Final = b"\xff"
"""µ-law code for +0 (append ``* 160`` for a 20 ms frame)."""
ALAW_SILENCE: Final = b"\xd5"
"""A-law code for +0 (0x80 with the 0x55 even-bit inversion)."""

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, ordered by its uint16 bit pattern (the encode table's index)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_lin2ulaw() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 2  # 14-bit linear
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    # search(): first segment whose end is >= the magnitude; 8 means past the last one.
    seg = np.searchsorted(_SEG_UEND, mag, side="left")
    mantissa = (mag >> np.minimum(seg + 1, 31)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | mantissa)
    return (code ^ mask).astype(np.uint8)


def _build_lin2alaw() -> npt.NDArray[np.uint8]:
    pcm = _all_int16() >> 3  # 13-bit linear
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    shift = np.where(seg < 2, 1, np.minimum(seg, 31))
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _ulaw_code_to_linear(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return _ULAW_BIAS - t if u & 0x80 else t - _ULAW_BIAS


def _alaw_code_to_linear(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


LIN2ULAW: Final = _build_lin2ulaw()
LIN2ALAW: Final = _build_lin2alaw()
ULAW2LIN: Final = np.array([_ulaw_code_to_linear(c) for c in range(256)], dtype=np.int16)
ALAW2LIN: Final = np.array([_alaw_code_to_linear(c) for c in range(256)], dtype=np.int16)

# Transcoding composes decode and encode exactly as lin2alaw(ulaw2lin(x)) would.
ULAW_TO_ALAW: Final = LIN2ALAW[ULAW2LIN.view(np.uint16)].tobytes()
ALAW_TO_ULAW: Final = LIN2ULAW[ALAW2LIN.view(np.uint16)].tobytes()


# ``take`` is markedly cheaper than fancy indexing on 160-element arrays; per-call numpy overhead
# dominates at this size, so callers with many streams should decode a tick's frames in one call.
def ulaw_decode(data: bytes) -> Pcm:
    return ULAW2LIN.take(np.frombuffer(data, np.uint8))


def alaw_decode(data: bytes) -> Pcm:
    return ALAW2LIN.take(np.frombuffer(data, np.uint8))


def ulaw_encode(pcm: Pcm) -> bytes:
    samples = pcm if pcm.dtype == np.int16 else np.asarray(pcm, dtype=np.int16)
    return LIN2ULAW.take(samples.view(np.uint16)).tobytes()


def alaw_encode(pcm: Pcm) -> bytes:
    samples = pcm if pcm.dtype == np.int16 else np.asarray(pcm, dtype=np.int16)
    return LIN2ALAW.take(samples.view(np.uint16)).tobytes()


def ulaw_to_alaw(data: bytes) -> bytes:
    return data.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    return data.translate(ALAW_TO_ULAW)
