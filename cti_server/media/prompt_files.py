"""Prompt WAV files under ``<data_dir>/prompts``: generation, operator overrides, loading.

Edge module (runs espeak-ng and sox, writes files); call it at install time or from a thread at
start-up, never on the reactor thread.

Theory of operation. Every clip of the catalogue is ``<data_dir>/prompts/<lang>/<clip>.wav`` and
the hold music is ``<data_dir>/prompts/moh.wav``. A file we generate carries its provenance in
the WAV itself (a ``LIST/INFO`` chunk after the audio: the hash of the text, voice and pipeline
that made it, and the hash of its samples), so each file answers on its own whether it is ours
and current, and a file replaced with ``os.replace`` is never half-written. Per clip:

- missing, or ours but made from an older text (or ``force``): synthesise it;
- ours and current: keep;
- anything else is the operator's recording (including one of ours edited in an audio editor,
  since its samples no longer match): kept as-is when it is 8 kHz mono PCM16; otherwise the
  original is copied to ``prompts/originals/`` and the clip is converted with sox.

Generation holds a per-directory thread lock and an ``flock`` on ``prompts/.lock``, so threads
and worker processes starting together generate each clip once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import threading
import time
import wave
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cti_server.media.moh import render_moh
from cti_server.media.player import SAMPLE_RATE, Codec, wav_to_frames
from cti_server.media.prompts import ClipRef, ClipSpec, PromptCatalog

log = logging.getLogger(__name__)

PIPELINE = "espeak-ng+sox/1"
"""Bump when the synthesis commands change, so existing generated clips are remade."""
SOFTWARE = "cti-server prompts"
MOH_FILE = "moh.wav"
MAX_CLIP_SECONDS = 600
TOOL_TIMEOUT = 60.0

_dir_locks: dict[Path, threading.Lock] = {}
_dir_locks_guard = threading.Lock()


class PromptFileError(RuntimeError):
    """A clip cannot be made or read; the message names the file and what to do."""


class ToolMissingError(PromptFileError):
    """espeak-ng or sox is not installed: no clip can be made, so generation stops."""


@dataclass
class GenerateReport:
    generated: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    operator: list[str] = field(default_factory=list)
    converted: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def prompts_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "prompts"


# --- WAV files -----------------------------------------------------------------------------------


def _info_chunk(comment: str) -> bytes:
    def sub(tag: bytes, text: str) -> bytes:
        data = text.encode() + b"\0"
        return tag + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)

    info = b"INFO" + sub(b"ISFT", SOFTWARE) + sub(b"ICMT", comment)
    return b"LIST" + struct.pack("<I", len(info)) + info


def wav_bytes(pcm16: bytes, comment: str | None = None) -> bytes:
    """An 8 kHz mono PCM16 WAV; ``comment`` goes into an INFO chunk after the samples."""
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(pcm16)) + pcm16 + b"\0" * (len(pcm16) % 2)
    if comment is not None:
        body += _info_chunk(comment)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _comment(data: bytes) -> str | None:
    """The ICMT text of a WAV we wrote (INFO chunk with our ISFT), else None."""
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        chunk = data[pos + 8 : pos + 8 + size]
        if tag == b"LIST" and chunk[:4] == b"INFO":
            fields, sub = {}, 4
            while sub + 8 <= len(chunk):
                sub_tag, sub_size = (
                    chunk[sub : sub + 4],
                    struct.unpack_from("<I", chunk, sub + 4)[0],
                )
                fields[sub_tag] = (
                    chunk[sub + 8 : sub + 8 + sub_size].rstrip(b"\0").decode(errors="replace")
                )
                sub += 8 + sub_size + sub_size % 2
            return fields.get(b"ICMT") if fields.get(b"ISFT") == SOFTWARE else None
        pos += 8 + size + size % 2
    return None


def load_clip(path: str | Path) -> bytes:
    """The PCM16 samples of an 8 kHz mono 16-bit PCM WAV; any other format is an error."""
    try:
        with wave.open(str(path), "rb") as wav:
            shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getcomptype())
            if shape != (SAMPLE_RATE, 1, 2, "NONE"):
                raise PromptFileError(
                    f"{path}: {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit; "
                    "prompts must be 8000 Hz mono 16-bit PCM"
                )
            if wav.getnframes() > MAX_CLIP_SECONDS * SAMPLE_RATE:
                raise PromptFileError(f"{path}: longer than {MAX_CLIP_SECONDS} s")
            return wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise PromptFileError(f"{path}: not a PCM WAV file: {exc}") from exc
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read: {exc.strerror}") from exc


def _source_key(spec: ClipSpec | None) -> str:
    """Hash of everything a clip was made from; a change means the clip must be remade."""
    what = ["moh"] if spec is None else [spec.text, spec.voice, spec.speed, list(spec.pad)]
    return hashlib.sha256(json.dumps([PIPELINE, *what]).encode()).hexdigest()[:16]


def _pcm_hash(pcm: bytes) -> str:
    return hashlib.sha256(pcm).hexdigest()[:16]


def _state(path: Path, source: str) -> str:
    """missing | current | stale (ours, older source) | operator."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    comment = _comment(data)
    if comment is None:
        return "operator"
    made_from, _, pcm_hash = comment.partition(" pcm=")
    try:
        pcm = load_clip(path)
    except PromptFileError:
        return "operator"
    if _pcm_hash(pcm) != pcm_hash:
        return "operator"
    return "current" if made_from == source else "stale"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --- tools ---------------------------------------------------------------------------------------


def _run(argv: list[str], data: bytes) -> bytes:
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=TOOL_TIMEOUT)
    except FileNotFoundError as exc:
        raise ToolMissingError(
            f"{argv[0]} not found: install espeak-ng and sox (apt-get install espeak-ng sox), "
            "or record the prompts and drop the WAVs into <data_dir>/prompts/<lang>/"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise PromptFileError(f"{argv[0]} took longer than {TOOL_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise PromptFileError(f"{argv[0]} failed ({done.returncode}): {' '.join(err[-2:])}")
    return done.stdout


_TO_PCM = ["-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]


def synthesise(spec: ClipSpec, espeak: str = "espeak-ng", sox: str = "sox") -> bytes:
    """Speak a clip's text and return it as 8 kHz mono PCM16, trimmed, padded, at -3 dBFS."""
    speech = _run(
        [espeak, "-b", "1", "-v", spec.voice, "-s", str(spec.speed), "--stdout"], spec.text.encode()
    )
    trim = ["silence", "1", "0.02", "-50d"]
    lead, trail = spec.pad
    effects = [*trim, "reverse", *trim, "reverse", "norm", "-3", "pad", str(lead), str(trail)]
    pcm = _run([sox, "-V1", "-t", "wav", "-", *_TO_PCM, "-L", "-", *effects], speech)
    if len(pcm) < (lead + trail) * SAMPLE_RATE * 2 + 160:
        raise PromptFileError(f"{spec.ref.path}: espeak-ng produced no speech for {spec.text!r}")
    return pcm


def _convert(path: Path, sox: str) -> bytes:
    return _run([sox, "-V1", str(path), *_TO_PCM, "-L", "-"], b"")


# --- generation ----------------------------------------------------------------------------------


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with _dir_locks_guard:
        lock = _dir_locks.setdefault(root.resolve(), threading.Lock())
    with lock, open(root / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _keep_original(root: Path, path: Path) -> Path:
    keep = root / "originals" / path.relative_to(root)
    n = 0
    while keep.exists():
        n += 1
        keep = keep.with_name(f"{path.stem}.{n}{path.suffix}")
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, keep)
    return keep


def ensure_prompts(
    catalog: PromptCatalog,
    data_dir: str | Path,
    *,
    langs: Iterable[str] | None = None,
    force: bool = False,
    moh: bool = True,
    jobs: int | None = None,
    espeak: str = "espeak-ng",
    sox: str = "sox",
) -> GenerateReport:
    """Make every missing or outdated clip (and ``moh.wav``); idempotent and safe to race."""
    began = time.monotonic()
    root = prompts_dir(data_dir)
    report = GenerateReport()
    specs: list[ClipSpec | None] = [*catalog.clips(langs), *([None] if moh else [])]
    with _locked(root):
        todo: list[tuple[ClipSpec | None, str]] = []
        for spec in specs:
            rel = MOH_FILE if spec is None else spec.ref.path
            path = root / rel
            source = _source_key(spec)
            state = _state(path, source)
            if state == "operator":
                _adopt_operator_file(root, path, rel, sox, report)
            elif state == "current" and not force:
                report.up_to_date.append(rel)
            else:
                todo.append((spec, source))
        counter = iter(range(1, len(todo) + 1))
        counter_lock = threading.Lock()

        def make(item: tuple[ClipSpec | None, str]) -> None:
            spec, source = item
            rel = MOH_FILE if spec is None else spec.ref.path
            with counter_lock:
                log.info("prompts: generating %d/%d %s", next(counter), len(todo), rel[:-4])
            try:
                pcm = (
                    render_moh().astype("<i2").tobytes()
                    if spec is None
                    else synthesise(spec, espeak, sox)
                )
            except ToolMissingError:
                raise
            except PromptFileError as exc:
                log.error("prompts: %s: %s", rel, exc)
                report.failed.append((rel, str(exc)))
                return
            _write_atomic(root / rel, wav_bytes(pcm, f"{source} pcm={_pcm_hash(pcm)}"))
            report.generated.append(rel)

        with ThreadPoolExecutor(max_workers=jobs or min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(make, todo))
    for names in (report.generated, report.failed):
        names.sort()
    report.seconds = time.monotonic() - began
    log.info(
        "prompts: %d clips in %s: %d generated, %d up to date, %d operator files, %d failed "
        "(%.1f s)",
        len(specs),
        root,
        len(report.generated),
        len(report.up_to_date),
        len(report.operator) + len(report.converted),
        len(report.failed),
        report.seconds,
    )
    return report


def _adopt_operator_file(
    root: Path, path: Path, rel: str, sox: str, report: GenerateReport
) -> None:
    try:
        load_clip(path)
    except PromptFileError as problem:
        try:
            pcm = _convert(path, sox)
        except PromptFileError as exc:
            log.error("prompts: operator file %s: %s; cannot convert: %s", rel, problem, exc)
            report.failed.append((rel, str(exc)))
            return
        kept = _keep_original(root, path)
        _write_atomic(path, wav_bytes(pcm))
        log.info("prompts: converted operator file %s to 8 kHz mono (original: %s)", rel, kept)
        report.converted.append(rel)
        return
    report.operator.append(rel)


def clip_states(catalog: PromptCatalog, data_dir: str | Path) -> list[tuple[str, str, str]]:
    """(file, state, text) for every clip and the hold music, for ``prompts list``."""
    root = prompts_dir(data_dir)
    rows = [
        (spec.ref.path, _state(root / spec.ref.path, _source_key(spec)), spec.text)
        for spec in catalog.clips()
    ]
    return [*rows, (MOH_FILE, _state(root / MOH_FILE, _source_key(None)), "(music on hold)")]


class PromptLibrary:
    """Frames per clip and codec, read from disk once and then served from memory."""

    def __init__(self, data_dir: str | Path) -> None:
        self._root = prompts_dir(data_dir)
        self._cache: dict[tuple[str, Codec], list[bytes]] = {}

    def frames(self, clip: ClipRef | str, codec: Codec) -> list[bytes]:
        rel = clip.path if isinstance(clip, ClipRef) else clip
        key = (rel, codec)
        if key not in self._cache:
            self._cache[key] = wav_to_frames(load_clip(self._root / rel), codec)
        return self._cache[key]

    def sequence_frames(self, refs: Iterable[ClipRef], codec: Codec) -> list[list[bytes]]:
        return [self.frames(ref, codec) for ref in refs]

    def moh_frames(self, codec: Codec) -> list[bytes]:
        return self.frames(MOH_FILE, codec)
