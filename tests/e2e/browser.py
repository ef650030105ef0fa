"""Headless Chromium for the page tests: Debian's ``chromium`` and ``chromedriver``, never a
browser download (the driver path is given, so Selenium Manager does not run; ``SE_OFFLINE``
makes sure of it).

:func:`chrome` opens a browser and, whatever the test's outcome, saves a screenshot and the
browser console of the page it ends on into the artifacts directory (``$CTI_ARTIFACTS``,
default ``tests/artifacts/``), so a failed run in CI leaves something to look at.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
T = TypeVar("T")


def artifacts_dir() -> Path:
    path = Path(os.environ.get("CTI_ARTIFACTS") or ROOT / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


@contextmanager
def chrome(name: str, *, size: tuple[int, int] = (1440, 900)) -> Iterator[WebDriver]:
    """A headless Chromium; ``name`` names its screenshot and console log."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.fail(
                f"{path} is missing: run scripts/setup (apt-get install chromium chromium-driver)"
            )
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--lang=ko-KR",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "ko-KR,ko,en"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="cti-chrome-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(
            service=Service(executable_path=str(CHROMEDRIVER)), options=options
        )
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(10)
        try:
            yield driver
        finally:
            try:
                shot(driver, name)
                lines = [json.dumps(entry, ensure_ascii=False) for entry in console(driver)]
                (artifacts_dir() / f"{_safe(name)}.console.txt").write_text("\n".join(lines) + "\n")
            finally:
                driver.quit()


def shot(driver: WebDriver, name: str) -> Path:
    path = artifacts_dir() / f"{_safe(name)}.png"
    driver.save_screenshot(str(path))
    return path


def console(driver: WebDriver) -> list[dict[str, Any]]:
    """Every console entry so far (``get_log`` drains the browser's buffer; kept here)."""
    kept: list[dict[str, Any]] = driver.__dict__.setdefault("_cti_console", [])
    kept.extend(driver.get_log("browser"))
    return kept


def console_errors(driver: WebDriver, allow: Callable[[str], bool] = lambda _: False) -> list[str]:
    """SEVERE console messages (uncaught exceptions, failed module loads) not ``allow``ed."""
    return [
        e["message"] for e in console(driver) if e["level"] == "SEVERE" and not allow(e["message"])
    ]


def wait_until(driver: WebDriver, check: Callable[[WebDriver], T], timeout: float = 10) -> T:
    """``check(driver)``'s first truthy value; a timeout fails with the page's console. An
    element redrawn by a live update between finding and reading it counts as "not yet"."""
    try:
        return WebDriverWait(
            driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        ).until(check)
    except TimeoutException as exc:
        raise AssertionError(f"timed out after {timeout}s; console: {console(driver)}") from exc


def js_module(driver: WebDriver, path: str, expression: str) -> Any:
    """Import one of the page's ES modules and evaluate ``expression`` with it bound to ``m``."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"import({json.dumps(path)}).then((m) => done({expression}), (e) => done('ERROR ' + e));"
    )


def confirm(driver: WebDriver, timeout: float = 5) -> None:
    """Answer OK in the page's shared confirm dialog (``#dlg-confirm``), once it is open."""
    wait_until(driver, lambda d: d.find_element("id", "dlg-confirm").is_displayed(), timeout)
    driver.find_element("css selector", "#dlg-confirm button[value=ok]").click()
    wait_until(driver, lambda d: not d.find_element("id", "dlg-confirm").is_displayed(), timeout)


def mark_page(driver: WebDriver) -> str:
    """Tag the loaded document; :func:`same_page` is true until the page is reloaded or left."""
    token = os.urandom(8).hex()
    driver.execute_script("window.__ctiPageMark = arguments[0];", token)
    return token


def same_page(driver: WebDriver, token: str) -> bool:
    return bool(driver.execute_script("return window.__ctiPageMark === arguments[0];", token))


_WALLBOARD = """
const text = (el) => (el ? el.textContent.trim() : '');
const legend = {};
for (const item of document.querySelectorAll('#legend [data-state]')) {
  legend[item.dataset.state] = Number(item.dataset.count || 0);
}
const agents = {};
for (const row of document.querySelectorAll('#agents-body tr[data-agent]')) {
  agents[row.dataset.agent] = {state: row.dataset.state, cells: [...row.cells].map(text)};
}
const queues = {};
for (const tile of document.querySelectorAll('#tiles .tile[data-queue]')) {
  const figures = {};
  for (const f of tile.querySelectorAll('[data-figure]')) {
    figures[f.dataset.figure] = text(f.querySelector('.figure-value'));
  }
  queues[tile.dataset.queue] = figures;
}
return {legend, agents, queues, conn: document.querySelector('#conn').dataset.status};
"""


def wallboard_view(driver: WebDriver) -> dict[str, Any]:
    """What the wallboard shows, read in one script run (so never half a redraw):
    ``legend`` {state: count}, ``agents`` {id: {state, cells}}, ``queues`` {name: {figure:
    text}} (figures ``waiting``, ``longest``, ``sl``, ``counts``), ``conn`` (live/down...)."""
    view: dict[str, Any] = driver.execute_script(_WALLBOARD)
    return view


_PAUSABLE_POLLS = """
(() => {
  const native = window.setInterval.bind(window);
  window.setInterval = (fn, ms, ...args) =>
    ms >= 5000 && typeof fn === 'function'
      ? native(() => { if (!window.__ctiPollsPaused) fn(...args); }, ms)
      : native(fn, ms, ...args);
})();
"""


def pausable_polls(driver: WebDriver) -> None:
    """Make the pages' slow polls (``setInterval`` of 5 s or more) switchable by
    :func:`pause_polls`, on every document loaded from now on. With the polls paused, what
    a page still shows changing came over the events WebSocket."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _PAUSABLE_POLLS})


def pause_polls(driver: WebDriver, paused: bool = True) -> None:
    driver.execute_script("window.__ctiPollsPaused = arguments[0];", paused)
