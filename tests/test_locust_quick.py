"""A short locust run against a real server: IVR and queue callers reach agents, none fails.

locust is never imported here: importing it monkey-patches the process with gevent, under
the Twisted reactor pytest runs on. It runs as a subprocess (``loadtests/locust_server.py``),
as do the server and the SIPp echo agents, all bounded in time and stopped by PID.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtests.locust_server import VENV_BIN, run_locust, start_center

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(90)  # ~30 s: server and agents ~6 s, one IVR call ~20 s
def test_locust_ivr_and_queue_callers_reach_agents_without_failures(tmp_path: Path) -> None:
    if shutil.which("sipp") is None:
        pytest.fail("SIPp is not installed: run scripts/setup (apt-get install sip-tester)")
    if not (VENV_BIN / "locust").exists() and shutil.which("locust") is None:
        pytest.fail("locust is not installed: pip install -e '.[test]' (locust==2.47.0)")
    center = start_center(tmp_path / "center", agents=4, seconds=60)
    try:
        # -t 10 s: the IVR users are mid-call when it ends and finish it (--stop-timeout);
        # the queue users make a call every ~3.5 s.
        run = run_locust(
            center,
            tmp_path / "locust",
            users=4,
            seconds=10,
            classes=["IvrCaller", "QueueCaller"],
            talk=2.0,
            stop_timeout=30,
        )
    finally:
        center.stop()
    output = (run.output / "locust_output.txt").read_text()
    assert run.returncode == 0, output
    assert not run.errors(), (run.errors(), output)
    ivr, queue = run.values("call", "ivr"), run.values("call", "queue")
    assert len(ivr) >= 2 and len(queue) >= 2, output
    # Every call heard its agent (the echo of its own audio) and was timed through the IVR.
    assert len(run.values("queue wait", "ivr")) == len(ivr), output
    assert len(run.values("queue wait", "queue")) == len(queue), output
    assert len(run.values("IVR", "ivr")) == len(ivr), output
    assert all(15 < s < 25 for s in run.values("IVR", "ivr")), run.values("IVR", "ivr")
    established = center.events("call_established")
    assert len(established) == len(ivr) + len(queue), center.log()
    assert all(" agent_id=100" in line for line in established), established
    assert len(center.events("authentication_attempted")) == len(ivr), center.log()
    assert all("outcome=ok" in ln for ln in center.events("authentication_attempted"))
    assert "Traceback" not in center.log(), center.log()
