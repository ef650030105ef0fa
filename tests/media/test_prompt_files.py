"""Real espeak-ng + sox generation into a temporary data directory (skipped without the tools)."""

from __future__ import annotations

import argparse
import logging
import shutil
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from cti_server.media.cli import add_prompts_parser, prompts_command
from cti_server.media.prompt_files import (
    MOH_FILE,
    PromptFileError,
    PromptLibrary,
    ToolMissingError,
    clip_states,
    ensure_prompts,
    load_clip,
)
from cti_server.media.prompts import ClipRef, PromptCatalog, parse_texts

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are not installed",
)

TEXTS = """\
languages:
  ko: {voice: ko, speed: 150}
  en: {voice: en-us, speed: 150}
prompts:
  greeting:
    ko: 안녕하십니까, 고객센터입니다.
    en: Hello, and thank you for calling.
"""


@pytest.fixture
def catalog() -> PromptCatalog:
    return parse_texts(TEXTS, "texts.yaml")


def wav_shape(path: Path) -> tuple[int, int, int, str, float]:
    with wave.open(str(path), "rb") as wav:
        return (
            wav.getframerate(),
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.getcomptype(),
            wav.getnframes() / wav.getframerate(),
        )


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.repeat(mono, channels)


def test_generates_8khz_mono_clips_with_trimmed_silence(
    catalog: PromptCatalog, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cti_server.media.prompt_files")
    report = ensure_prompts(catalog, tmp_path, moh=False)
    assert report.generated == ["en/greeting.wav", "ko/greeting.wav"]
    assert not report.failed
    progress = [m.split() for m in caplog.messages if m.startswith("prompts: generating")]
    assert sorted((words[2], words[3]) for words in progress) in (
        [("1/2", "en/greeting"), ("2/2", "ko/greeting")],
        [("1/2", "ko/greeting"), ("2/2", "en/greeting")],
    )
    for rel in report.generated:
        rate, channels, width, comp, seconds = wav_shape(tmp_path / "prompts" / rel)
        assert (rate, channels, width, comp) == (8000, 1, 2, "NONE")
        assert 1.0 < seconds < 5.0
        samples = np.frombuffer(load_clip(tmp_path / "prompts" / rel), "<i2")
        voiced = np.flatnonzero(np.abs(samples) > 500)
        assert 0.08 <= voiced[0] / 8000 <= 0.2  # ~100 ms lead silence left, not espeak's own
        assert 0.08 <= (len(samples) - voiced[-1]) / 8000 <= 0.2
        assert np.abs(samples).max() > 0.6 * 32767  # normalised to -3 dBFS


def test_second_run_generates_nothing(catalog: PromptCatalog, tmp_path: Path) -> None:
    ensure_prompts(catalog, tmp_path, moh=False)
    before = {p: p.read_bytes() for p in (tmp_path / "prompts").rglob("*.wav")}
    again = ensure_prompts(catalog, tmp_path, moh=False)
    assert again.generated == []
    assert sorted(again.up_to_date) == ["en/greeting.wav", "ko/greeting.wav"]
    assert {p: p.read_bytes() for p in (tmp_path / "prompts").rglob("*.wav")} == before
    forced = ensure_prompts(catalog, tmp_path, moh=False, force=True)
    assert forced.generated == ["en/greeting.wav", "ko/greeting.wav"]


def test_changed_text_remakes_only_that_clip(catalog: PromptCatalog, tmp_path: Path) -> None:
    ensure_prompts(catalog, tmp_path, moh=False)
    changed = parse_texts(TEXTS.replace("thank you for calling", "welcome"), "texts.yaml")
    assert [rel for rel, state, _ in clip_states(changed, tmp_path)] == [
        "ko/greeting.wav",
        "en/greeting.wav",
        MOH_FILE,
    ]
    assert [state for _, state, _ in clip_states(changed, tmp_path)] == [
        "current",
        "stale",
        "missing",
    ]
    assert ensure_prompts(changed, tmp_path, moh=False).generated == ["en/greeting.wav"]


def test_operator_recording_is_kept_even_with_force(catalog: PromptCatalog, tmp_path: Path) -> None:
    recording = tmp_path / "prompts" / "ko" / "greeting.wav"
    write_wav(recording, tone(8000, 1.5), 8000, 1)
    original = recording.read_bytes()
    report = ensure_prompts(catalog, tmp_path, moh=False, force=True)
    assert report.operator == ["ko/greeting.wav"]
    assert report.generated == ["en/greeting.wav"]
    assert recording.read_bytes() == original


def test_operator_recording_in_another_format_is_converted(
    catalog: PromptCatalog, tmp_path: Path
) -> None:
    recording = tmp_path / "prompts" / "en" / "greeting.wav"
    write_wav(recording, tone(44100, 1.0, channels=2), 44100, 2)
    original = recording.read_bytes()
    report = ensure_prompts(catalog, tmp_path, moh=False)
    assert report.converted == ["en/greeting.wav"]
    assert (tmp_path / "prompts" / "originals" / "en" / "greeting.wav").read_bytes() == original
    rate, channels, width, comp, seconds = wav_shape(recording)
    assert (rate, channels, width, comp) == (8000, 1, 2, "NONE")
    assert seconds == pytest.approx(1.0, abs=0.01)
    assert ensure_prompts(catalog, tmp_path, moh=False).operator == ["en/greeting.wav"]


def test_edited_generated_clip_counts_as_the_operators(
    catalog: PromptCatalog, tmp_path: Path
) -> None:
    ensure_prompts(catalog, tmp_path, moh=False)
    clip = tmp_path / "prompts" / "ko" / "greeting.wav"
    data = bytearray(clip.read_bytes())
    data[100] ^= 0x40  # one sample changed; our INFO chunk is still there
    clip.write_bytes(bytes(data))
    assert ensure_prompts(catalog, tmp_path, moh=False, force=True).operator == ["ko/greeting.wav"]
    assert clip.read_bytes() == bytes(data)


def test_racing_threads_make_each_clip_once(catalog: PromptCatalog, tmp_path: Path) -> None:
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(ensure_prompts(catalog, tmp_path)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(rel for r in reports for rel in r.generated) == [
        "en/greeting.wav",
        "ko/greeting.wav",
        MOH_FILE,
    ]
    assert not list((tmp_path / "prompts").rglob("*.tmp"))


def test_music_on_hold_file_and_library_frames(catalog: PromptCatalog, tmp_path: Path) -> None:
    ensure_prompts(catalog, tmp_path)
    assert wav_shape(tmp_path / "prompts" / MOH_FILE) == (8000, 1, 2, "NONE", 20.0)
    library = PromptLibrary(tmp_path)
    assert len(library.moh_frames("PCMU")) == 1000
    frames = library.sequence_frames([ClipRef("ko", "greeting")], "PCMA")
    assert frames[0] and all(len(f) == 160 for f in frames[0])
    assert library.frames("ko/greeting.wav", "PCMA") is frames[0]


def test_missing_tool_is_one_clear_error(catalog: PromptCatalog, tmp_path: Path) -> None:
    with pytest.raises(ToolMissingError, match="install espeak-ng and sox"):
        ensure_prompts(catalog, tmp_path, moh=False, espeak=str(tmp_path / "no-espeak"))


def test_load_clip_rejects_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "wide.wav"
    write_wav(path, tone(16000, 0.1), 16000, 1)
    with pytest.raises(PromptFileError, match="16000 Hz, 1 channel"):
        load_clip(path)
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(PromptFileError, match="not a PCM WAV"):
        load_clip(tmp_path / "junk.wav")


def test_cli_generate_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = tmp_path / "texts.yaml"
    texts.write_text(TEXTS, encoding="utf-8")
    parser = argparse.ArgumentParser(prog="cti-server")
    add_prompts_parser(parser.add_subparsers(dest="command"))
    common = ["--data-dir", str(tmp_path / "data"), "--texts", str(texts)]
    args = parser.parse_args(["prompts", "generate", "--lang", "en", *common])
    assert args.handler(args) == 0
    assert "prompts: 2 generated, 0 up to date" in capsys.readouterr().out  # en + moh
    args = parser.parse_args(["prompts", "list", *common])
    assert prompts_command(args) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:2] == ["missing", "ko/greeting.wav"]
    assert listing[1].split()[:2] == ["current", "en/greeting.wav"]
    assert listing[2].split()[:2] == ["current", "moh.wav"]
