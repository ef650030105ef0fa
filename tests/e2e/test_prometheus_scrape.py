"""A real Prometheus scrapes a real server: one queued call through SIPp, then the server's
counters are read back through Prometheus's own query API.

Debian's ``prometheus`` runs on loopback on a free port with a temporary configuration
(scrape every second) and a temporary TSDB, and is stopped by its PID.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.contact_center import contact_center, ivr_caller
from tests.e2e.helpers import register_agent, run_sipp, wait_event

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        PROMETHEUS is None, reason="Debian's prometheus is not installed (scripts/setup)"
    ),
]

PROMETHEUS_CONFIG = """
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: cti
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""


@contextmanager
def prometheus(tmp: Path, target_port: int) -> Iterator[str]:
    """A Prometheus scraping ``127.0.0.1:target_port``; yields its base URL."""
    assert PROMETHEUS is not None
    config = tmp / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(port=target_port))
    port = free_port()
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError):
        return []  # not listening yet
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def wait_for_sample(base: str, promql: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = query(base, promql)
        if result:
            return result
        time.sleep(0.25)
    return []


@pytest.mark.timeout(30)
def test_prometheus_scrapes_a_queued_call(tmp_path: Path) -> None:
    with (
        contact_center(tmp_path, demo_customers=False) as server,
        prometheus(tmp_path, server.extra["http_port"]) as base,
    ):
        port = free_port()
        phone = run_sipp(
            tmp_path, "agent", "agent_answer.xml", server.port, "-s", "1001",
            port=port, timeout=20,
        )  # fmt: skip
        register_agent(tmp_path, server, "1001", "pw1001", port)
        assert wait_event(server, "agent_logged_in", agent_id="1001"), server.log()
        caller = ivr_caller(tmp_path, server, [], called="1599", hold=1, timeout=15)
        assert caller.finish(15) == 0, caller.explain()
        assert phone.finish(10) == 0, phone.explain()
        assert wait_event(server, "call_cleared"), server.log()

        answered = wait_for_sample(base, 'cti_calls_total{outcome="answered"} > 0', 10)
        log = (tmp_path / "prometheus.log").read_text()
        assert answered, f"no sample in Prometheus\n{log}"
        assert answered[0]["metric"]["job"] == "cti"
        assert float(answered[0]["value"][1]) == 1
        assert query(base, 'up{job="cti"} == 1'), log
        assert query(base, "cti_calls_total"), log
        waits = query(base, 'cti_queue_wait_seconds_count{queue="general",outcome="answered"}')
        assert waits and float(waits[0]["value"][1]) == 1, waits
        invites = query(base, 'sip_messages_received_total{method="INVITE"}')
        assert invites and float(invites[0]["value"][1]) >= 1, invites
