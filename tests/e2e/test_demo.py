"""The README's first command: `cti-server demo --stay` places real calls, says they passed,
then serves the desktop for a person."""

from __future__ import annotations

import socket
import subprocess
import sys
import wave
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(160)]


def _size(path: Path) -> int:
    return path.stat().st_size


def test_demo_stays_up_for_the_desktop_and_places_callers_on_enter(tmp_path: Path) -> None:
    """``scripts/demo`` passes ``--stay``: after the scripted calls the desktop and the
    wallboard are served, the demo logins work, and Enter sends one more caller through the
    IVR to agent 1001's phone (who hangs up from the desktop here, through the API)."""
    import json
    import queue
    import threading
    import time
    import urllib.request

    from tests.e2e.conftest import free_port

    http_port = free_port(socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "cti_server", "--log-level", "WARNING", "demo", "--stay"),
            *("--data-dir", str(tmp_path / "data"), "--talk-seconds", "2"),
            *("--http-port", str(http_port)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    seen: list[str] = []

    def wait_for(text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                return True
        return False

    def call(path: str, body: dict[str, object] | None = None, token: str = "") -> object:
        request = urllib.request.Request(
            f"http://127.0.0.1:{http_port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
            method="POST" if body is not None else "GET",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if raw[:1] in (b"{", b"[") else raw

    try:
        assert wait_for("demo PASSED", 120), "".join(seen)
        out = "".join(seen)
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
        secure = [line for line in seen if "dtmf_received" in line and "secure=True" in line]
        assert len(secure) == 5 and not any("digit=" in line for line in secure), out
        assert wait_for("press Enter", 10), "".join(seen)
        page = call("/desktop/")
        assert isinstance(page, bytes) and b"<html" in page.lower()
        token = call("/api/v1/auth/login", {"username": "1001", "password": "1001pass"})
        token = token["token"]  # type: ignore[index]
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert wait_for("caller 1 dials 1588", 10), "".join(seen)
        assert wait_for("call_established", 60), "".join(seen)
        calls = call("/api/v1/calls", token=token)["calls"]  # type: ignore[index]
        live = [c for c in calls if c["state"] == "connected"]
        assert live, calls
        call(f"/api/v1/calls/{live[0]['id']}/hangup", {}, token=token)
        assert wait_for("cause=agent_hangup", 15), "".join(seen)
        recordings = sorted((tmp_path / "data" / "recordings").rglob("*.wav"), key=_size)
        assert len(recordings) >= 2, recordings  # the IVR caller's call and the callback
        with wave.open(str(recordings[-1])) as w:
            assert w.getnchannels() == 2 and w.getnframes() > 8000
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        reader.join(timeout=5)  # it ends at the end of the output
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
