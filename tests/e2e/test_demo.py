"""The README's first command: `cti-server demo` places a real call and says it passed."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(160)]


def test_demo_logs_the_caller_in_queues_them_and_connects_the_agent(tmp_path: Path) -> None:
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
        timeout=150,
        check=False,
        cwd=tmp_path,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for step in (
        "agent_logged_in: agent_id=1001, state=ready",
        "prompt=greeting, language=ko",
        "digit=1",  # the language choice, heard as RFC 4733 events
        "node=verify, kind=authenticate",
        "authentication_attempted: call_id=",
        "outcome=ok, customer_id=demo-10001",
        "call_queued:",
        "priority=10",  # a VIP
        "call_offered:",
        "call_established:",
        "screen pop for agent 1001: 김민준",
        "call_cleared:",
        "call_overflowed: call_id=",  # the second caller, in `express`: nobody free
        "target=callback, reason=max_wait",
        "prompt=callback_confirmed",
        "dialer: agent 1001 rings first, then 01055550002 is called back",
        "callback_completed:",
        "demo PASSED",
    ):
        assert step in out, out
    # The PIN's keys were masked: five secure key events and no digit in them.
    secure = [
        line for line in out.splitlines() if "dtmf_received" in line and "secure=True" in line
    ]
    assert len(secure) == 5 and not any("digit=" in line for line in secure), out
    recordings = sorted((tmp_path / "data" / "recordings").rglob("*.wav"), key=_size)
    assert len(recordings) == 2, recordings  # the IVR caller's call and the callback
    with wave.open(str(recordings[-1])) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 8000


def _size(path: Path) -> int:
    return path.stat().st_size
