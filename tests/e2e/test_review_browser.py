"""Recording review in headless Chromium against the real server: a SIPp caller reaches SIPp
agent 1001 through the ``general`` queue and the call is recorded; the supervisor signs in at
/review/, finds the call, sees its timeline, plays it (the audio element's clock advances),
scores it with the standard form (the page's preview and the server's score agree) and sees
the score; the server's access log has the view and the play. Agent 1001 then sees the
score and the comment on its own call, and replies. Screenshots go to
``tests/artifacts/``. Skips, saying why, while the server does not serve the review routes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.e2e.browser import chrome, console_errors, js_module, shot, wait_until
from tests.e2e.conftest import Server, api_token, free_port
from tests.e2e.contact_center import contact_center, ivr_caller, poll
from tests.e2e.helpers import event_field, register_agent, run_sipp, wait_event

pytestmark = pytest.mark.e2e

# Every yes/no "yes", every scale at its top, but the tone 3 of 5: 98.0 on standard_call.
ANSWER_ALL = """
for (const q of document.querySelectorAll('#eval-questions .question')) {
  const inputs = [...q.querySelectorAll('input[type=radio]')].filter((i) => i.value !== 'na');
  const pick = q.dataset.question === 'greeting_tone'
    ? inputs.find((i) => i.value === '3')
    : inputs.find((i) => i.value === 'yes') || inputs[inputs.length - 1];
  pick.click();
}
"""


def get(server: Server, path: str, user: str = "super") -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.extra['http_port']}{path}",
        headers={"Authorization": f"Bearer {api_token(server, user)}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def recorded_call(tmp: Path, server: Server) -> str:
    """One answered, recorded call of agent 1001; its call id."""
    port = free_port()
    phone = run_sipp(tmp, "agent1001", "agent_answer.xml", server.port, "-s", "1001",
                     port=port, timeout=40)  # fmt: skip
    register_agent(tmp, server, "1001", "pw1001", port)
    assert wait_event(server, "agent_logged_in", agent_id="1001", state="ready"), server.log()
    caller = ivr_caller(tmp, server, [], called="1599", hold=5)
    established = wait_event(server, "call_established", timeout=10, agent_id="1001")
    assert established, server.log()
    assert caller.finish(30) == 0, caller.explain()
    assert phone.finish(20) == 0, phone.explain()
    cleared = wait_event(server, "call_cleared", timeout=10)
    assert cleared, server.log()
    return str(event_field(cleared[0], "call_id"))


def sign_in(driver: WebDriver, url: str, username: str, password: str) -> None:
    driver.get(url)
    wait_until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(driver, lambda d: d.find_element(By.ID, "workspace").is_displayed())


@pytest.mark.timeout(90)
def test_a_supervisor_plays_a_recording_and_evaluates_it(tmp_path: Path) -> None:
    with contact_center(tmp_path, demo_customers=False) as server:
        api_token(server, "super")  # the demo users, with cheap hashes
        status, _ = get(server, "/api/v1/review/recordings")
        if status == 404:
            pytest.skip("site.api_routes does not list review_routes yet")
        call_id = recorded_call(tmp_path, server)

        def stored() -> dict[str, Any] | None:
            code, body = get(server, f"/api/v1/review/recordings?call_id={call_id}")
            rows = body["recordings"] if code == 200 else []
            done = [r for r in rows if r["status"] == "complete" and r["outcome"] == "answered"]
            return done[0] if done else None

        row = poll(stored, timeout=10)
        assert row is not None, server.log()
        assert row["agent_id"] == "1001" and row["duration_s"] > 2, row
        base = f"http://127.0.0.1:{server.extra['http_port']}"

        with chrome("review_supervisor") as page:
            sign_in(page, base + "/review/", "super", "superpass")
            selector = f"#results-body tr[data-recording='{row['id']}']"
            found = wait_until(page, lambda d: d.find_element(By.CSS_SELECTOR, selector))
            assert "1001" in found.text and "응대 완료" in found.text  # answered, in Korean
            found.click()
            wait_until(page, lambda d: d.find_element(By.ID, "player-panel").is_displayed())
            kinds = [e.get_attribute("data-kind") for e in
                     page.find_elements(By.CSS_SELECTOR, "#timeline .tl-item")]  # fmt: skip
            assert {"queued", "offered", "answered", "cleared"} <= set(kinds), kinds

            page.find_element(By.ID, "btn-listen").click()
            wait_until(page, lambda d: d.execute_script(
                "const a = document.getElementById('audio'); return a.currentTime > 0.3;"
            ), 15)  # fmt: skip
            answered = page.find_element(By.CSS_SELECTOR, "#timeline .tl-answered .tl-jump")
            answered.click()  # seek back to the answer
            shot(page, "review_playing")

            wait_until(page, lambda d: d.find_element(By.ID, "eval-form").is_displayed(), 10)
            page.execute_script(ANSWER_ALL)
            preview = page.find_element(By.ID, "eval-preview")
            wait_until(page, lambda d: "98.0" in preview.text)
            page.find_element(By.NAME, "comment").send_keys("인사 목소리를 조금 더 밝게")
            page.find_element(By.ID, "btn-evaluate").click()
            score = wait_until(page, lambda d: d.find_element(By.ID, "eval-score"), 10)
            assert score.get_attribute("data-score") == "98" and "98.0" in score.text
            wait_until(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#evaluations .eval-row"))
            wait_until(page, lambda d: "1 · " in d.find_element(By.CSS_SELECTOR, selector).text
                       or "1건" in d.find_element(By.CSS_SELECTOR, selector).text)  # fmt: skip
            shot(page, "review_evaluated")
            assert js_module(page, "/static/js/i18n.js", "m.missingKeys()") == []
            assert js_module(page, "/static/js/i18n.js", "m.unknownMarkupKeys()") == []
            Select(page.find_element(By.ID, "lang")).select_by_value("en")
            wait_until(page, lambda d: "Answered" in d.find_element(By.CSS_SELECTOR, selector).text)
            assert "Agent 1001 answered" in page.find_element(By.ID, "timeline").text
            assert console_errors(page) == []

        with chrome("review_agent_1001") as desk:  # the agent reads the score and replies
            sign_in(desk, base + "/review/", "1001", "1001pass")
            mine = wait_until(desk, lambda d: d.find_element(By.CSS_SELECTOR, selector))
            assert not desk.find_element(By.NAME, "agent_id").is_displayed()  # own only
            mine.click()
            evaluation = wait_until(desk, lambda d: d.find_element(By.CSS_SELECTOR, ".eval-row"))
            assert "98.0" in evaluation.text and "인사 목소리를" in evaluation.text
            assert not desk.find_element(By.ID, "eval-form").is_displayed()
            evaluation.find_element(By.CSS_SELECTOR, ".reply textarea").send_keys("확인했습니다")
            evaluation.find_element(By.CSS_SELECTOR, ".reply button").click()
            wait_until(desk, lambda d: "확인했습니다" in d.find_element(
                By.CSS_SELECTOR, ".eval-row .agent-comment").text)  # fmt: skip
            shot(desk, "review_agent_replied")
            assert console_errors(desk) == []

        code, log = get(server, f"/api/v1/review/recordings/{row['id']}/access")
        assert code == 200, log
        actions = {(a["username"], a["action"]) for a in log["accesses"]}
        assert {("super", "view"), ("super", "play")} <= actions, actions
        code, own = get(server, f"/api/v1/recordings/{row['id']}/evaluations", user="1001")
        assert code == 200 and own["evaluations"][0]["agent_comment"] == "확인했습니다", own
