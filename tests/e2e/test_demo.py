"""The README's first command: `cti-server demo` places a real call and says it passed."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_connects_a_call_plays_the_greeting_and_leaves_a_recording(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cti_server",
            "--log-level",
            "WARNING",
            "demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--talk-seconds",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for step in (
        "agent_registered",
        "prompt_started",
        "dtmf_received",
        "digit=1",  # SIPp's dtmf_2833_1.pcap, heard as RFC 4733 events
        "barged_in=True",
        "call_established",
        "call_cleared",
        "demo PASSED",
    ):
        assert step in out, out
    (recording,) = (tmp_path / "data" / "recordings").rglob("*.wav")
    with wave.open(str(recording)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 8000
