"""The agent desktop and the wallboard against the real server, in headless Chromium.

``cti-server serve`` with the ACD queue, agents 1001 and 1002, the shipped IVR, the demo
customers and the demo users: an agent signs in and goes ready, the wallboard shows it in the
chart and the table, a supervisor's forced state reaches the desktop live (WebSocket), a
refused not-ready reason shows the server's words, a caller authenticated in the IVR pops
on the desktop and the call ends in a disposition. The tests skip, saying why, while the
server does not serve the pages or the login. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.browser import chrome, console_errors, shot, wait_until
from tests.e2e.conftest import Server, free_port, start_server, stop_server
from tests.e2e.contact_center import CONFIG, ivr_caller, load_demo_customers, write_flows
from tests.e2e.helpers import register_agent, run_sipp

pytestmark = pytest.mark.e2e


def http(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{server.extra['http_port']}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw[:1] == b"{" else raw


@contextmanager
def call_center(tmp: Path) -> Iterator[Server]:
    """The real server as the e2e ACD tests run it (queue ``general``, agents 1001 and 1002,
    the shipped IVR, the demo customers), with the general inbound script on the queue and
    the demo users (1001/1001pass, 1002/1002pass, super/superpass)."""
    text = CONFIG.format(
        data_dir=tmp / "data",
        flows_dir=write_flows(tmp / "flows"),
        storage="",
        strategy="longest_idle",
        offer_timeout=15,
        designated_wait=20,
        max_failures=5,
    )
    text += "crm: {by_queue: {general: general_inbound}}\n"
    # this center has no training: the desktop offers it, the server refuses it
    reasons = "  not_ready_reasons: [break, lunch, meeting, after_call, no_answer]\n"
    text = text.replace("acd:\n", "acd:\n" + reasons, 1).replace("wrap_up: 0", "wrap_up: 60")
    config = tmp / "center.yaml"
    config.write_text(text)
    load_demo_customers(config)
    users = subprocess.run(
        [sys.executable, "-m", "cti_server", "users", "demo", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert users.returncode == 0, users.stderr
    server = start_server(tmp, text)
    try:
        yield server
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Server]:
    """:func:`call_center`; skips, saying what is missing, while the server does not serve
    the pages or the login yet."""
    with call_center(tmp_path) as server:
        if http(server, "GET", "/desktop/")[0] == 404:
            pytest.skip("the server does not mount the pages yet (cti_server.api.pages)")
        status, _ = http(server, "POST", "/api/v1/auth/login", {"username": "x", "password": "y"})
        if status == 404:
            pytest.skip("POST /api/v1/auth/login answers 404: the API login is not there yet")
        yield server


def force(board: WebDriver, agent_id: str, value: str) -> None:
    """Pick a force-state action in the agent's row (re-found if a live update redrew it)."""

    def pick(driver: WebDriver) -> bool:
        try:
            row = driver.find_element(By.CSS_SELECTOR, f"#agents-body tr[data-agent='{agent_id}']")
            Select(row.find_element(By.CSS_SELECTOR, "select.force")).select_by_value(value)
        except StaleElementReferenceException:
            return False
        return True

    wait_until(board, pick, 5)


def base_url(server: Server) -> str:
    return f"http://127.0.0.1:{server.extra['http_port']}"


def sign_in(driver: WebDriver, url: str, username: str, password: str) -> None:
    driver.get(url)
    wait_until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(driver, lambda d: d.find_element(By.ID, "workspace").is_displayed())


def badge_state(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "state-badge").get_attribute("data-state"))


def connection(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "conn").get_attribute("data-status"))


def legend_count(driver: WebDriver, state: str) -> int:
    item = driver.find_element(By.CSS_SELECTOR, f"#legend [data-state={state}]")
    return int(item.get_attribute("data-count") or 0)


@pytest.mark.timeout(150)
def test_an_agent_goes_ready_and_the_wallboard_shows_it(live: Server) -> None:
    base = base_url(live)
    with chrome("desktop_agent_1001") as desk, chrome("wallboard_super") as board:
        sign_in(desk, base + "/desktop/", "1001", "1001pass")
        assert desk.find_element(By.ID, "agent-id").text == "#1001"
        assert badge_state(desk) == "logged_out"
        desk.find_element(By.ID, "btn-ready").click()
        wait_until(desk, lambda d: badge_state(d) == "ready")
        assert "대기" in desk.find_element(By.ID, "state-badge").text

        sign_in(board, base + "/wallboard/", "super", "superpass")
        wait_until(board, lambda d: legend_count(d, "ready") == 1)
        assert legend_count(board, "logged_out") == 1  # 1002 never logged in
        segment = board.find_element(By.CSS_SELECTOR, "#donut [data-state=ready]")
        assert segment.get_attribute("data-count") == "1"
        row = board.find_element(By.CSS_SELECTOR, "#agents-body tr[data-agent='1001']")
        assert row.get_attribute("data-state") == "ready" and "김상담" in row.text
        shot(board, "wallboard_one_ready")

        # the supervisor sends 1001 away: the desktop follows without a reload
        force(board, "1001", "away")
        wait_until(desk, lambda d: badge_state(d) == "away", 12)
        assert "부재" in desk.find_element(By.ID, "state-badge").text
        wait_until(board, lambda d: legend_count(d, "away") == 1)
        shot(desk, "desktop_away_ko")
        wait_until(desk, lambda d: connection(d) == "live", 15)  # the WebSocket, not polling
        assert connection(board) == "live"
        assert console_errors(desk) == [] and console_errors(board) == []


@pytest.mark.timeout(120)
def test_not_ready_takes_a_reason_and_logout_logs_the_agent_out(live: Server) -> None:
    base = base_url(live)
    with chrome("desktop_not_ready") as desk:
        sign_in(desk, base + "/desktop/", "1002", "1002pass")
        desk.find_element(By.ID, "btn-not-ready").click()
        dialog = wait_until(desk, lambda d: d.find_element(By.ID, "dlg-not-ready"))
        wait_until(desk, lambda d: dialog.is_displayed())
        dialog.find_element(By.CSS_SELECTOR, "[data-reason=training]").click()
        error = desk.find_element(By.ID, "reason-error")
        wait_until(desk, lambda d: error.is_displayed() and error.text)
        assert "training" in error.text and dialog.is_displayed()  # the server's own words
        dialog.find_element(By.CSS_SELECTOR, "[data-reason=lunch]").click()
        wait_until(desk, lambda d: badge_state(d) == "not_ready")
        assert "식사" in desk.find_element(By.ID, "state-badge").text
        assert http(live, "GET", "/api/v1/agents")[0] == 401  # not without a token
        desk.find_element(By.ID, "btn-logout").click()
        wait_until(desk, lambda d: d.find_element(By.ID, "login").is_displayed())
    code, body = http(
        live, "POST", "/api/v1/auth/login", {"username": "super", "password": "superpass"}
    )
    assert code == 200, body
    token = body["token"]
    request = urllib.request.Request(
        base + "/api/v1/agents/1002", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["state"] == "logged_out"


LOGIN = [(4.5, "1"), (1.5, "10001#"), (1.5, "1234#")]  # Korean, customer 10001, PIN 1234


def call_phase(driver: WebDriver) -> str:
    return str(driver.find_element(By.ID, "call-panel").get_attribute("data-call"))


@pytest.mark.timeout(180)
def test_a_call_pops_the_customer_runs_the_script_and_ends_in_a_disposition(
    tmp_path: Path, live: Server
) -> None:
    base = base_url(live)
    port = free_port()
    phone = run_sipp(
        tmp_path, "agent", "agent_answer.xml", live.port, "-s", "1001", port=port, timeout=90
    )
    register_agent(tmp_path, live, "1001", "pw1001", port)  # registering logs 1001 in, ready
    with chrome("desktop_call") as desk:
        sign_in(desk, base + "/desktop/", "1001", "1001pass")
        wait_until(desk, lambda d: badge_state(d) == "ready")
        caller = ivr_caller(tmp_path, live, LOGIN, hold=14)
        wait_until(desk, lambda d: call_phase(d) in ("ringing", "talking"), 45)
        wait_until(desk, lambda d: badge_state(d) == "busy", 10)
        pop = wait_until(
            desk, lambda d: "김민준" in d.find_element(By.ID, "screen-pop").text and d, 10
        ).find_element(By.ID, "screen-pop")
        assert "VIP" in pop.text and "PIN" in pop.text, pop.text  # authenticated in the IVR
        assert pop.find_elements(By.CSS_SELECTOR, ".pop-history tbody tr"), pop.text
        assert desk.find_element(By.ID, "call-timer").text not in ("", "—")
        script = desk.find_element(By.ID, "script-body")
        if script.is_displayed():  # the queue's script: greeting (say), then a question
            desk.find_element(By.ID, "script-next").click()
            wait_until(desk, lambda d: d.find_elements(By.CSS_SELECTOR, "#script-choices .choice"))
            desk.find_element(By.CSS_SELECTOR, "#script-choices .choice").click()
        shot(desk, "desktop_call_screen_pop_ko")
        form = wait_until(desk, lambda d: d.find_element(By.ID, "disposition").is_displayed(), 40)
        assert form and badge_state(desk) == "wrap_up"
        assert desk.find_element(By.ID, "call-empty").is_displayed()  # the call is over
        Select(desk.find_element(By.ID, "dispo-code")).select_by_value("resolved")
        desk.find_element(By.CSS_SELECTOR, "#dispo-form textarea").send_keys("배송 문의 안내 완료")
        desk.find_element(By.CSS_SELECTOR, "#dispo-form [type=submit]").click()
        wait_until(desk, lambda d: not d.find_element(By.ID, "disposition").is_displayed(), 10)
        assert "상담 결과를 저장했습니다" in desk.find_element(By.ID, "toasts").text
        desk.find_element(By.ID, "btn-wrap-done").click()
        wait_until(desk, lambda d: badge_state(d) == "ready")
        desk.find_element(By.ID, "tab-recent").click()
        assert "☎" in desk.find_element(By.ID, "list-recent").text  # one click to call back
        assert console_errors(desk) == []
    assert caller.finish(40) == 0, caller.explain()
    assert phone.finish(20) == 0, phone.explain()
