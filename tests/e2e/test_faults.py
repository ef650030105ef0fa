"""Faults under load, CI-sized (issue 10 part 4): ``loadtests/faults.py --quick`` in-process.

One contact center on its own PostgreSQL and Redis (never the machine's: started on free
ports, stopped by PID) takes SIPp queue callers (echo agents, recording on) and IVR callers
asking for callbacks. Three windows of load, one fault in the middle of each: ``kill -9`` of
the server and a restart, Redis SIGKILLed for 5 s (it comes back empty), PostgreSQL stopped
for 5 s. After each: every call the callers completed has its call record, every callback
they asked for its row, every queue call its recording (row and file); the server recovers
(leader, agents ready, nothing left in its journals); for Redis and PostgreSQL the calls in
progress when the fault struck complete, with no gap in their recorded media.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadtests import faults
from loadtests.fault_check import GAP_LIMIT, judge, render
from loadtests.fault_load import Center

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(200)]


def _missing() -> str:
    for tool in ("sipp", "redis-server", "initdb", "postgres"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


def test_no_record_callback_or_recording_is_lost_to_kill9_redis_or_postgres(
    tmp_path: Path,
) -> None:
    if _missing():
        pytest.skip(_missing())
    plan = faults.QUICK
    center = Center.with_services(tmp_path, plan.agents, bound=600)
    windows = []
    try:
        center.start()
        for index, fault in enumerate(faults.FAULTS, start=1):
            windows.append(faults.run_window(center, plan, fault, index))
        rows = judge(center, windows)
    finally:
        center.stop()
    report = render(rows, plan={}, quick=True, work=tmp_path)
    assert [r.fault for r in rows] == list(faults.FAULTS), report
    for row in rows:
        assert row.completed > 0 and row.recordings_expected > 0, report  # not vacuous
        assert row.callbacks_requested > 0, report
        assert row.lost == 0, report
        assert row.recovery is not None, report
        assert row.backlog == 0, report
        assert not row.stuck_agents, report
        assert row.cut_repaired == row.cut_recordings, report  # kill9: recordings it cut
        if row.fault != "kill9":
            assert row.in_progress > 0, report
            assert row.surviving == row.in_progress, report
            assert row.longest_gap is not None and row.longest_gap < GAP_LIMIT, report
    assert not any("tracebacks" in p for p in rows[-1].problems), report
