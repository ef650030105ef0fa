"""The ACD end to end: SIPp callers wait in a queue, SIPp agents ring, answer or do not.

Callers dial 1599 (the ``general`` queue directly) or 7 + an agent's extension (the same
queue, that agent first); agents register with digest auth and become ready.
"""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, api_token, free_port
from tests.e2e.contact_center import api, contact_center, ivr_caller, poll
from tests.e2e.helpers import SippRun, event_field, register_agent, run_sipp, wait_event

pytestmark = pytest.mark.e2e

PASSWORDS = {"1001": "pw1001", "1002": "pw1002"}


def agent(tmp: Path, server: Server, user: str, scenario: str, *args: str) -> SippRun:
    port = free_port()
    run = run_sipp(
        tmp, f"agent{user}", scenario, server.port, "-s", user, *args, port=port, timeout=40
    )
    register_agent(tmp, server, user, PASSWORDS[user], port)
    assert wait_event(server, "agent_logged_in", agent_id=user, state="ready"), server.log()
    return run


def test_an_agent_who_does_not_answer_loses_the_call_to_the_next(tmp_path: Path) -> None:
    with contact_center(
        tmp_path, strategy="linear", offer_timeout=3, demo_customers=False
    ) as server:
        silent = agent(tmp_path, server, "1001", "agent_ring_cancel.xml")
        answering = agent(tmp_path, server, "1002", "agent_answer.xml")
        caller = ivr_caller(tmp_path, server, [], called="1599", hold=8)
        timed_out = wait_event(server, "offer_timed_out", timeout=10, agent_id="1001")
        assert timed_out, server.log()
        assert wait_event(server, "agent_not_ready", agent_id="1001", reason="no_answer")
        assert wait_event(server, "call_established", timeout=10, agent_id="1002"), server.log()
        assert silent.finish(20) == 0, silent.explain()  # it was CANCELed
        assert caller.finish(30) == 0, caller.explain()
        assert answering.finish(20) == 0, answering.explain()
        dequeued = wait_event(server, "call_dequeued", agent_id="1002")
        assert dequeued and float(event_field(dequeued[0], "waited") or 0) >= 3.0
        # The supervisor's view agrees: 1001 not ready (no answer), 1002 wrapped up.
        status, body = api(server, "/api/v1/agents/1001")
        assert status == 200 and body["state"] == "not_ready" and body["reason"] == "no_answer"


def test_a_caller_for_an_away_agent_leaves_them_a_voice_message(tmp_path: Path) -> None:
    with contact_center(tmp_path, demo_customers=False) as server:
        phone = agent(tmp_path, server, "1001", "agent_ring_cancel.xml")
        status, body = api(  # a supervisor's away: remote, recorded as forced
            server, "/api/v1/agents/1001/state", {"state": "away", "reason": "외근"}, user="super"
        )
        assert status == 200 and body["state"] == "away" and body["by"] == "super", body
        caller = ivr_caller(tmp_path, server, [(9.0, "#")], called="71001", ends="server")
        assert caller.finish(30) == 0, caller.explain()
        started = wait_event(server, "voice_message_started", timeout=15, agent_id="1001")
        assert started, server.log()
        assert wait_event(server, "call_overflowed", target="voicemail", reason="agent_away")
        assert wait_event(server, "call_cleared", cause="voice_message"), server.log()
        assert not server.events("call_offered")  # the away agent's phone never rang

        def inbox() -> list[dict[str, object]]:
            code, found = api(server, "/api/v1/recordings?kind=voice_message&agent_id=1001")
            return found["recordings"] if code == 200 else []

        assert poll(inbox, timeout=10), server.log()
        # The agent's desktop inbox: listed for 1001, not for 1002; played; marked done.
        status, body = api(server, "/api/v1/voicemail", user="1001")
        assert status == 200 and len(body["messages"]) == 1, body
        message = body["messages"][0]
        assert message["done"] is False and message["duration"] > 0, message
        status, body = api(server, "/api/v1/voicemail", user="1002")
        assert status == 200 and body["messages"] == [], body
        url = f"http://127.0.0.1:{server.extra['http_port']}/api/v1/voicemail/{message['id']}/audio"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {api_token(server, '1001')}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.read(4) == b"RIFF"
        status, body = api(server, f"/api/v1/voicemail/{message['id']}/done", {}, user="1002")
        assert status == 403, body
        status, body = api(server, f"/api/v1/voicemail/{message['id']}/done", {}, user="1001")
        assert status == 200, body
        status, body = api(server, "/api/v1/voicemail", user="1001")
        assert body["messages"][0]["done"] is True, body
        phone.proc.kill()  # it was never rung, as it should be
        phone.proc.communicate(timeout=5)


def test_api_errors_and_flow_reload(tmp_path: Path) -> None:
    with contact_center(tmp_path, demo_customers=False) as server:
        # A broken flow file is refused with its line; the flows in use stay.
        flow = tmp_path / "flows" / "main.yaml"
        good = flow.read_text()
        flow.write_text(good.replace("queue: general              # agents", "queue: nosuch #"))
        status, body = api(server, "/api/v1/flows/reload", {})
        assert status == 422 and body["error"] == "bad_flow", body
        assert "main.yaml:" in body["detail"] and "nosuch" in body["detail"], body
        flow.write_text(good)
        assert api(server, "/api/v1/flows/reload", {}) == (200, {"flows": ["main"]})
        assert server.log().count("IVR flows reloaded: main") == 1  # by the API
        server.proc.send_signal(signal.SIGHUP)  # the operator's way: kill -HUP <pid>
        assert poll(lambda: server.log().count("IVR flows reloaded: main") == 2), server.log()
        assert api(server, "/api/v1/agents/9999/state", {"state": "ready"})[0] == 404
        status, body = api(server, "/api/v1/agents/1001/state", {"state": "sleeping"})
        assert status == 400 and body["error"] == "bad_state"
        # 1001 has not logged in: "ready" is not a legal move from logged_out.
        status, body = api(server, "/api/v1/agents/1001/state", {"state": "ready"})
        assert status == 409 and body["error"] == "wrong_state", body
        status, body = api(server, "/api/v1/queues")
        assert status == 200 and body["queues"][0]["name"] == "general"
        assert body["queues"][0]["logged_in"] == 0


def test_callers_wait_in_order_and_are_served_one_after_another(tmp_path: Path) -> None:
    with contact_center(tmp_path, demo_customers=False) as server:
        port = free_port()
        phone = run_sipp(
            tmp_path, "agent", "agent_answer.xml", server.port, "-s", "1001",
            port=port, calls=3, timeout=50,
        )  # fmt: skip
        register_agent(tmp_path, server, "1001", PASSWORDS["1001"], port)
        callers = []
        for i in range(3):
            callers.append(
                # A queued caller is answered by us at once; each stays 4 s longer than the one
                # before, so each talks to the agent for about 4 s.
                ivr_caller(tmp_path, server, [], name=f"caller{i}", called="1599", hold=4 * (i + 1))
            )
            assert wait_event(server, "call_queued", count=i + 1, timeout=5), server.log()
        positions = [event_field(line, "position") for line in server.events("call_queued")]
        assert positions == ["1", "1", "2"], positions  # the first was already ringing
        for caller in callers:
            assert caller.finish(40) == 0, caller.explain()
        assert phone.finish(20) == 0, phone.explain()
        queued = [event_field(line, "call_id") for line in server.events("call_queued")]
        served = [event_field(line, "call_id") for line in server.events("call_dequeued")]
        assert served == queued, (queued, served)  # first come, first served
        waits = [float(event_field(line, "waited") or 0) for line in server.events("call_dequeued")]
        assert waits[0] < 1 < 2 < waits[1] < waits[2], waits
        # The same three calls, and only they, in /metrics and in the stored call records.
        metrics = poll(lambda: _answered_metric(server) == 3 and True, timeout=5)
        assert metrics, _answered_metric(server)
        report = poll(lambda: _report_rows(tmp_path), timeout=5)
        assert report and report["Requests"] == "3" and report["Answered"] == "3", report


def _answered_metric(server: Server) -> float:
    import urllib.request

    url = f"http://127.0.0.1:{server.extra['http_port']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('cti_calls_total{outcome="answered"}')
    )


def _report_rows(tmp: Path) -> dict[str, str] | None:
    """The report's total row (csv) for today, from the server's own database."""
    import csv
    import io
    import subprocess
    import sys
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d")
    out = tmp / "report.csv"
    done = subprocess.run(
        [sys.executable, "-m", "cti_server", "report", "--from", today, "--format", "csv",
         "--out", str(out), "--data-dir", str(tmp / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if done.returncode != 0 or not out.exists():
        return None
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    header = next((r for r in rows if "Requests" in " ".join(r)), None)
    return (
        dict(zip([h.split()[-1] if h else h for h in header], rows[-1], strict=False))
        if header
        else None
    )
