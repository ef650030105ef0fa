"""The pages as files and as code, in a real browser (headless Chromium), without the API.

:mod:`cti_server.api.pages` serves them from a plain twisted.web ``Site`` on loopback: the
files arrive with the right types, cache headers and redirects; both pages load without a
console error; every string is in both languages and the switch relabels the page; the
client logic (event cursor, screen pop shapes, phone numbers, state counts) and the script
panel (walked through the shipped script, its answers checked by the server's own walk)
behave. The flows against the real server are in ``test_browser.py``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
import pytest_twisted
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from twisted.internet.threads import deferToThread
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from cti_server.api.pages import pages_resources
from cti_server.web import STATIC_DIR
from tests.e2e.browser import chrome, console_errors, js_module, shot, wait_until

pytestmark = pytest.mark.e2e


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET, redirects not followed."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Root(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        return notFound()


def plain_site() -> Any:
    """The pages alone on a loopback port: the resources the server's site mounts."""
    from twisted.internet import reactor

    root = Root()
    for name, resource in pages_resources().items():
        root.putChild(name, resource)
    return reactor.listenTCP(0, Site(root), interface="127.0.0.1")  # type: ignore[attr-defined]


@pytest_twisted.ensureDeferred
async def test_files_are_served_with_types_cache_headers_and_redirects() -> None:
    port = plain_site()
    base = f"http://127.0.0.1:{port.getHost().port}"
    try:

        def check() -> None:
            status, headers, body = fetch(base + "/desktop/")
            assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
            assert headers["Cache-Control"] == "no-cache" and headers["ETag"].startswith('"')
            assert "script-src 'self'" in headers["Content-Security-Policy"]
            assert f"ws://127.0.0.1:{port.getHost().port}" in headers["Content-Security-Policy"]
            assert "상담원 데스크톱".encode() in body
            again, _, empty = fetch(base + "/desktop/", {"If-None-Match": headers["ETag"]})
            assert (again, empty) == (304, b"")
            status, headers, _ = fetch(base + "/static/js/desktop.js")
            assert (status, headers["Content-Type"]) == (200, "text/javascript; charset=utf-8")
            status, headers, _ = fetch(base + "/static/css/style.css")
            assert (status, headers["Content-Type"]) == (200, "text/css; charset=utf-8")
            assert headers["X-Content-Type-Options"] == "nosniff"
            for path, location in (
                ("/", "/desktop/"),
                ("/desktop", "/desktop/"),
                ("/wallboard?tv=1", "/wallboard/?tv=1"),
            ):
                status, headers, _ = fetch(base + path)
                assert (status, headers["Location"]) == (302, location), path
            for path in ("/static/js/nope.js", "/static/../pages.py", "/static/js/", "/desktop/x"):
                status, headers, body = fetch(base + path)
                assert status == 404 and json.loads(body)["error"] == "not_found", path

        await deferToThread(check)
    finally:
        await port.stopListening()


def test_every_string_the_code_uses_is_in_the_dictionary() -> None:
    """t('key') literals in the modules, against the Korean dictionary (the browser test
    checks that English has the same keys)."""
    dictionary = "".join(p.read_text() for p in sorted((STATIC_DIR / "js").glob("*i18n.js")))
    known = set(re.findall(r"^\s+'([a-z_]+(?:\.[a-z0-9_+]+)+)':", dictionary, re.M))
    used: set[str] = set()
    for path in STATIC_DIR.rglob("*.js"):
        used |= set(re.findall(r"\bt\('([a-z_]+(?:\.[a-z0-9_]+)+)'", path.read_text()))
    assert used and not used - known, sorted(used - known)


def health_404(message: str) -> bool:
    """The plain site has no API: the page's time-zone lookup fails there, by design."""
    return "/api/v1/health" in message and "404" in message


@pytest.mark.timeout(120)
@pytest_twisted.ensureDeferred
async def test_both_pages_load_without_console_errors_in_both_languages() -> None:
    port = plain_site()
    base = f"http://127.0.0.1:{port.getHost().port}"

    def check() -> None:
        with chrome("pages_load") as driver:
            driver.get(base + "/")
            assert driver.current_url == base + "/desktop/"
            login = wait_until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
            assert login
            labels = driver.find_element(By.ID, "login-form").text
            assert "아이디" in labels and "비밀번호" in labels, labels
            assert driver.title == "상담원 데스크톱 · CTI"
            assert js_module(driver, "/static/js/i18n.js", "m.missingKeys()") == []
            assert js_module(driver, "/static/js/i18n.js", "m.unknownMarkupKeys()") == []
            font = "document.fonts.check('13px \"Noto Sans CJK KR\"', '대기')"
            assert driver.execute_script(f"return {font}"), "Noto Sans CJK KR is not installed"
            Select(driver.find_element(By.ID, "lang")).select_by_value("en")
            wait_until(driver, lambda d: "Username" in d.find_element(By.ID, "login-form").text)
            assert driver.title == "Agent desktop · CTI"
            assert driver.execute_script("return document.documentElement.lang") == "en"
            shot(driver, "desktop_login_en")
            driver.get(base + "/wallboard/")
            wait_until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
            assert driver.title == "Wallboard · CTI"  # the choice is remembered
            Select(driver.find_element(By.ID, "lang")).select_by_value("ko")
            wait_until(driver, lambda d: d.title == "상황판 · CTI")
            assert js_module(driver, "/static/js/i18n.js", "m.unknownMarkupKeys()") == []
            duration = js_module(driver, "/static/js/time.js", "m.formatDuration(3725)")
            assert duration == "1:02:05"
            # 2026-01-01T00:00:00Z is 09:00 in Seoul, whatever the machine's zone
            nine = js_module(driver, "/static/js/time.js", "m.formatTime('2026-01-01T00:00:00Z')")
            assert nine == "09:00:00", nine
            assert console_errors(driver, allow=health_404) == []

    try:
        await deferToThread(check)
    finally:
        await port.stopListening()


CLIENT_LOGIC = """
const done = arguments[arguments.length - 1];
(async () => {
  const { EventStream } = await import('/static/js/events.js');
  const { normalizePop } = await import('/static/js/desktop/screen_pop.js');
  const { normalizeCall } = await import('/static/js/desktop/call_panel.js');
  const { fillParts } = await import('/static/js/desktop/script_panel.js');
  const { formatPhone } = await import('/static/js/desktop/dialpad.js');
  const { normalizeCounts } = await import('/static/js/chart.js');
  sessionStorage.removeItem('test.cursor');
  const seen = [];
  let gaps = 0;
  const stream = new EventStream({
    token: () => 'tok', cursorKey: 'test.cursor',
    onEvent: (name, data, seq) => seen.push([name, seq]), onGap: () => { gaps += 1; },
  });
  stream.receive('{"seq": 5, "event": "agent_ready", "data": {"agent_id": "1001"}}');
  stream.receive('{"seq": 5, "event": "agent_ready", "data": {}}');
  stream.receive('{"type": "heartbeat", "seq": 9}');
  stream.receive('{"seq": 7, "event": "call_offered", "data": {}}');
  stream.receive('{"seq": 10, "event": "call_offered", "data": {}}');
  stream.receive('{"type": "gap", "oldest": 3}');
  stream.receive('not json');
  const flat = normalizePop({ name: '김민준', vip: true, inquiries: [{ summary: 'a' }],
    usual_payment: { label: '신한카드' }, auth_method: 'customer_number+pin' });
  const nested = normalizePop({ customer: { id: 'c1', name: '김민준', grade: 'gold' },
    history: [{ summary: 'a' }, { summary: 'b' }], payment_method: null, frequent_products: [] });
  const parts = fillParts('{customer.name}님, {agent.name}입니다',
    { customer: { name: '김민준' } });
  const call = normalizeCall(
    { call_id: 'C1', called: '1599', phase: 'connected', created_at: 1700000000 });
  return {
    seen, gaps, cursor: stream.cursor, url: stream.url(),
    flat: [flat.name, flat.vip, flat.history.length, flat.authMethod],
    nested: [nested.id, nested.name, nested.grade, nested.history.length],
    parts: parts.map((p) => (typeof p === 'string' ? p : `[${p.textContent}]`)).join(''),
    call: [call.id, call.callee, call.state, call.startedAt],
    phones: ['01012345678', '0212345678', '15881234', '1001'].map(formatPhone),
    counts: normalizeCounts({ ready: 2, ringing: 1, busy: 3, bogus: 9 }),
  };
})().then(done, (e) => done('ERROR ' + e));
"""


@pytest.mark.timeout(60)
@pytest_twisted.ensureDeferred
async def test_client_logic_in_the_browser() -> None:
    """The event cursor (duplicates dropped, heartbeats move it, a gap asks for a resync),
    both screen pop shapes, script placeholders, phone grouping and state counts."""
    port = plain_site()
    base = f"http://127.0.0.1:{port.getHost().port}"

    def check() -> dict[str, Any]:
        with chrome("client_logic") as driver:
            driver.get(base + "/desktop/")
            wait_until(driver, lambda d: d.find_element(By.ID, "login").is_displayed())
            result: dict[str, Any] = driver.execute_async_script(CLIENT_LOGIC)
            return result

    try:
        got = await deferToThread(check)
    finally:
        await port.stopListening()
    assert got["seen"] == [["agent_ready", 5], ["call_offered", 10]], got
    assert (got["gaps"], got["cursor"]) == (1, 10)
    assert got["url"].endswith("/api/v1/events?token=tok&cursor=10"), got["url"]
    assert got["flat"] == ["김민준", True, 1, "customer_number+pin"]
    assert got["nested"] == ["c1", "김민준", "gold", 2]
    assert got["parts"] == "김민준님, [{agent.name}]입니다"  # an unknown value stays, marked
    assert got["call"] == ["C1", "1599", "connected", 1700000000000]
    assert got["phones"] == ["010-1234-5678", "02-1234-5678", "1588-1234", "1001"]
    assert got["counts"] == {
        "ready": 2, "reserved": 1, "busy": 3, "wrap_up": 0, "not_ready": 0, "away": 0,
        "logged_out": 0,
    }  # fmt: skip


SCRIPT_WALK = """
const [tree, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const { ScriptPanel } = await import('/static/js/desktop/script_panel.js');
  const ids = ['script-empty', 'script-body', 'script-name', 'script-path', 'script-text',
    'script-choices', 'script-back', 'script-next', 'script-restart'];
  document.body.replaceChildren(...ids.map((id) => {
    const el = document.createElement(id.endsWith('back') || id.endsWith('next')
      || id.endsWith('restart') ? 'button' : 'div');
    el.id = id;
    return el;
  }));
  let finished = null;
  const panel = new ScriptPanel({ onFinished: (code) => { finished = code; } });
  const context = { customer: { name: '김민준', customer_number: '10001' }, agent: {} };
  await panel.load('C1', tree, context);
  const text = () => document.getElementById('script-text').textContent;
  const key = (k) => panel.handleKey({ key: k });
  const seen = [text()];
  document.getElementById('script-next').click();  // greeting (say) -> confirm_identity
  seen.push(text());
  key('1');  // identity confirmed -> reason
  key('2');  // delivery -> delivery_detail
  document.getElementById('script-back').click();  // back to reason: its answer goes
  const afterBack = { ...panel.answersFor('C1') };
  key('2');
  key('1');  // in transit -> anything_else
  key('2');  // another question -> other_inquiry (free text)
  document.getElementById('script-free').value = '영수증 재발행 안내';
  document.getElementById('script-next').click();  // -> closing (end)
  seen.push(text());
  return { seen, afterBack, answers: panel.answersFor('C1'), finished,
           suggestion: panel.suggestion(), marks: document.querySelectorAll('mark.ask').length };
})().then(done, (e) => done('ERROR ' + e));
"""


@pytest.mark.timeout(60)
@pytest_twisted.ensureDeferred
async def test_the_script_panel_walks_the_shipped_script_as_the_server_does() -> None:
    """The desktop walks general_inbound (say, choices by number keys, back, free text, end);
    the answers it would post are ones the server's own walk accepts, and the end step's
    disposition is suggested."""
    from cti_server.crm.script_loader import load_scripts
    from cti_server.crm.scripts import script_json, validate_answers

    script = load_scripts()["general_inbound"]
    port = plain_site()
    base = f"http://127.0.0.1:{port.getHost().port}"

    def check() -> dict[str, Any]:
        with chrome("script_walk") as driver:
            driver.get(base + "/static/css/style.css")  # same origin, no page code running
            result: dict[str, Any] = driver.execute_async_script(SCRIPT_WALK, script_json(script))
            return result

    try:
        got = await deferToThread(check)
    finally:
        await port.stopListening()
    assert isinstance(got, dict), got
    assert got["seen"][0].startswith("감사합니다, 고객센터 상담원 {agent.name}입니다"), got["seen"]
    assert "김민준 고객님 본인 되십니까? (고객번호 10001)" in got["seen"][1]
    assert got["afterBack"] == {"confirm_identity": "confirmed"}
    assert got["answers"] == {
        "confirm_identity": "confirmed",
        "reason": "delivery",
        "delivery_detail": "in_transit",
        "anything_else": "other",
        "other_inquiry": "영수증 재발행 안내",
    }
    assert validate_answers(script, got["answers"], complete=True) is None
    assert got["finished"] == got["suggestion"] == "resolved"
    assert got["marks"] == 1  # {agent.name} has no value here: shown, marked, not dropped
