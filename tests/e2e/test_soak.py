"""Soak, CI-sized (issue 10 part 6): after a burst of load the server's descriptors, reactor
timers and asyncio tasks come back to their idle counts. A leak check, not a speed test.

The contact center of ``loadtests/fault_load.py`` (its own PostgreSQL and Redis, SIPp echo
agents, recording on) through ``loadtests/soak.py``'s phases: a short warm-up load (pools
and caches fill), an idle baseline, 20 s of queue and IVR callers, the drain, idle again.
The server runs through ``soak.py --serve``, which attaches the process gauges to its
``/metrics`` (``cti_server/adapters/process_gauges.py``; app.py wires them too).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from loadtests.fault_load import Center
from loadtests.soak import Plan, serve_command, soak
from loadtests.soak_report import report

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

# 20 s of load at ~4 queue calls and one IVR call at once; no wait for the SIP transactions'
# 32 s linger (they hold no descriptor and share the endpoint's one timer)
CI = Plan(
    minutes=1 / 3,
    agents=4,
    talk=4.0,
    queue_rate=0.75,
    ivr_rate=0.3,
    every=1.0,
    warmup=6.0,
    idle_before=3.0,
    idle_after=3.0,
    settle=False,
)
MARGIN = 2


def test_descriptors_timers_and_tasks_come_back_to_baseline_after_load(tmp_path: Path) -> None:
    for tool in ("sipp", "redis-server", "initdb", "postgres"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    launcher = serve_command()
    center = Center.with_services(tmp_path, CI.agents, bound=300, launcher=launcher)
    try:
        center.start()
        samples = soak(center, CI, say=lambda _: None)
    finally:
        center.stop()
    text, _ = report(samples, plan={}, max_kb_per_call=1e9, margin=MARGIN)
    before = [s for s in samples if s.phase == "baseline"]
    busy = [s for s in samples if s.phase in ("load", "drain")]
    after = [s for s in samples if s.phase == "idle"]
    assert before and busy and after, text
    assert busy[-1].completed - before[-1].completed >= 10, text  # the load really ran
    assert max(s.calls for s in busy) >= 2, text
    for name in ("fds", "timers", "tasks"):
        base = statistics.median(getattr(s, name) for s in before)
        idle = statistics.median(getattr(s, name) for s in after)
        assert idle <= base + MARGIN, f"{name}: {base} before, {idle} after\n{text}"
    assert after[-1].calls == 0 and after[-1].legs == 0, text
    logs = sorted(tmp_path.glob("server-*.log"))
    assert not any("Traceback" in p.read_text(errors="replace") for p in logs), logs
