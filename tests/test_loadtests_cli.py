"""The fault scripts under loadtests/ are too long for CI; here only their command lines and the
judging of a run (``dialer_faults_check``) on a hand-made SIPp trace and event log."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

from loadtests.dialer_faults_check import Backoff, Kill, Row, customer_invites, judge
from loadtests.locust_server import ROOT


def test_dialer_faults_help_runs_without_starting_anything() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "dialer_faults.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "--database-url" in done.stdout


def _invite(at: float, number: str, call_id: str) -> str:
    stamp = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S.%f")
    return (
        f"----------------------------------------------- {stamp}\n"
        "UDP message received [300] bytes :\n\n"
        f"INVITE sip:{number}@127.0.0.1:40407 SIP/2.0\n"
        f"Call-ID: {call_id}\nCSeq: 1 INVITE\n\n"
        f"----------------------------------------------- {stamp}\n"
        "UDP message sent (100 bytes):\n\nSIP/2.0 180 Ringing\n"
        f"Call-ID: {call_id}\n\n"
    )


def _event(name: str, **fields: object) -> str:
    text = " ".join(f"{k}={v}" for k, v in fields.items())
    return f"2026-12-02 07:50:45,066 INFO  cti.events: 16:50:45.065 {name}   {text}\n"


def test_the_judge_counts_invites_redials_and_kills(tmp_path: Path) -> None:
    t0 = 1_796_000_000.0
    trace = tmp_path / "customer_messages.log"
    trace.write_text(
        _invite(t0, "01010000001", "a")
        + _invite(t0 + 0.5, "01010000001", "a")  # a retransmission: the same call
        + _invite(t0 + 10, "01010000001", "b")  # after the 8 s back-off: fine
        + _invite(t0 + 1, "01020000002", "c")
        + _invite(t0 + 4, "01020000002", "d")  # 3 s later: a redial within the back-off
    )
    log = tmp_path / "server-1.log"
    log.write_text(
        _event("call_dialed", call_id="C1", kind="callback", item_id="cb1", attempt_id="x1")
        + _event("callback_dialed", callback_id="cb1", attempt_id="x1", attempt=1)
        + _event("call_originated", call_id="C1", target="sip:01010000001@127.0.0.1:1")
        + "dialer: 1 attempts were in progress at the last stop\n"
    )
    assert customer_invites([trace]) == {
        "01010000001": [t0, t0 + 10],
        "01020000002": [t0 + 1, t0 + 4],
    }
    figures = judge(
        ids={"cb1": "01010000001", "cb2": "01020000002", "cb3": "01030000003"},
        rows={"cb1": Row("done", 2, t0), "cb2": Row("failed", 3, t0)},  # cb3 is gone
        kills=[Kill(t0 + 2, t0 + 3, {"cb2": 2})],  # cb2 again 1 s after the restart
        traces=[trace],
        logs=[log],
        backoff=Backoff(8.0, 1.0, 3600.0),
        ended_at=t0 + 60,
        overdue_slack=15.0,
    )
    assert (figures.completed, figures.failed, figures.lost) == (1, 1, 1)
    assert figures.invites == 4 and figures.server_dials == 1 and figures.recovered == 1
    assert figures.killed_before_invite == 1  # cb2: 3 attempts stored, 2 INVITEs, 1 kill
    assert figures.redials_within_backoff == 2  # INVITE 1->2, and after the restart
    assert figures.violations() == ["lost=1", "redials_within_backoff=2"]
    assert any("missing from the store" in p for p in figures.problems)
