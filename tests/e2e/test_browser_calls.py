"""Calls driven from the agent desktop, and the wallboard following them live, in headless
Chromium against the real server with SIPp phones.

The server is :func:`tests.e2e.outbound.outbound_center`: queue ``general`` on 1599, agents
1001 and 1002, trunk ``gw`` whose outbound URI is a SIPp UAS playing the customer. The agent's
phone is a SIPp UAS too (``agent_answer.xml``: answers, waits for the BYE). The pages are used
the way a person uses them: the dial pad and its call button, hang up with its confirmation,
hold and resume. The wallboard is never reloaded and its 5 s poll is paused while it follows
the agent and the caller, so every change it shows came over the events WebSocket (each within
3 s; the measured delays are kept in ``calls_wallboard_push_seconds.json``). Screenshots go to
``tests/artifacts/`` (or ``$CTI_ARTIFACTS``), named after the test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.browser import (
    artifacts_dir,
    chrome,
    confirm,
    console_errors,
    mark_page,
    pausable_polls,
    pause_polls,
    same_page,
    shot,
    wait_until,
    wallboard_view,
)
from tests.e2e.conftest import Server, api_token, free_port, stop_server
from tests.e2e.contact_center import ivr_caller
from tests.e2e.helpers import register_agent, run_sipp, wait_event
from tests.e2e.outbound import customer_phone, outbound_center, ready_agent
from tests.e2e.test_browser import badge_state, base_url, call_phase
from tests.e2e.test_browser import sign_in as _sign_in

pytestmark = pytest.mark.e2e

PUSHED = 3.0  # seconds for a pushed change to reach the page
CUSTOMER = "010-9876-5432"
# the figures of a queue tile whose text runs into the next one's ("100%1 / 0")
OVERLAPPING_FIGURES = """
const out = [];
for (const tile of document.querySelectorAll('#tiles .tile')) {
  const texts = [...tile.querySelectorAll('.figure-value')].map((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return [el.textContent, range.getBoundingClientRect()];
  });
  for (let i = 1; i < texts.length; i++) {
    if (texts[i][1].left < texts[i - 1][1].right - 0.5) out.push(texts[i - 1][0] + texts[i][0]);
  }
}
return out;
"""


@contextmanager
def desk_center(tmp: Path) -> Iterator[tuple[Server, int]]:
    """The outbound center with the demo users (1001/1001pass, super/superpass) seeded; the
    server and the customer phone's port."""
    customer_port = free_port()
    server, repo = outbound_center(tmp, customer_port)
    try:
        api_token(server, "admin")  # seeds the demo users into the server's database
        yield server, customer_port
    finally:
        stop_server(server)
        repo.database.sync_engine.dispose()
    assert "Traceback" not in server.log(), server.log()


def sign_in(driver: WebDriver, server: Server, page: str, user: str) -> None:
    _sign_in(driver, f"{base_url(server)}/{page}/", user, f"{user}pass")


def dial_pad(desk: WebDriver, number: str) -> None:
    field = desk.find_element(By.ID, "dial-number")
    field.clear()
    field.send_keys(number)
    desk.find_element(By.CSS_SELECTOR, "#dial-form button[type=submit]").click()


def hang_up(desk: WebDriver) -> None:
    desk.find_element(By.ID, "btn-hangup").click()
    confirm(desk)


def hold_button(desk: WebDriver) -> tuple[str, str]:
    button = desk.find_element(By.ID, "btn-hold")
    return button.text, str(button.get_attribute("aria-pressed"))


Check = Callable[[dict[str, Any]], bool]


def row(view: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return view["agents"].get(agent_id) or {"state": "", "cells": [""] * 7}


def tile(view: dict[str, Any], queue: str) -> dict[str, str]:
    return view["queues"].get(queue) or {}


def pushed(board: WebDriver, check: Check, what: str, timeout: float = PUSHED) -> float:
    """Wait until ``check(wallboard_view(board))``; how long it took (fails past ``timeout``)."""
    started = time.monotonic()
    try:
        wait_until(board, lambda d: check(wallboard_view(d)), timeout)
    except AssertionError as exc:
        raise AssertionError(
            f"{what}: not on the wallboard in {timeout}s: {wallboard_view(board)}"
        ) from exc
    return time.monotonic() - started


@pytest.mark.timeout(90)
def test_click_to_call_from_the_dial_pad_then_hang_up(tmp_path: Path) -> None:
    with desk_center(tmp_path) as (server, customer_port):
        customer = customer_phone(tmp_path, "agent_answer.xml", customer_port)
        phone = ready_agent(tmp_path, server)  # registered: logged in and ready
        with chrome("calls_click_to_call") as desk:
            sign_in(desk, server, "desktop", "1001")
            wait_until(desk, lambda d: badge_state(d) == "ready")
            assert not desk.find_element(By.ID, "btn-ready").is_enabled()
            dial_pad(desk, CUSTOMER)  # typed with dashes, as people write it
            toast = wait_until(desk, lambda d: d.find_element(By.ID, "toasts").text)
            assert f"{CUSTOMER}(으)로 전화를 겁니다" in toast, toast
            dialed = wait_event(server, "call_dialed", kind="click", timeout=10)
            assert dialed and "number=01098765432" in dialed[0], server.log()
            assert wait_event(server, "call_established", timeout=10), server.log()
            wait_until(desk, lambda d: call_phase(d) == "talking", 10)
            wait_until(desk, lambda d: badge_state(d) == "busy", 10)
            assert desk.find_element(By.ID, "call-number").text == CUSTOMER
            assert desk.find_element(By.ID, "call-tag").text == "통화 중"
            call_id = desk.find_element(By.ID, "call-id").text
            assert call_id and desk.find_element(By.ID, "btn-hangup").is_enabled()
            shot(desk, "calls_click_to_call_connected")

            hang_up(desk)
            assert wait_event(server, "call_cleared", call_id=call_id, cause="agent_hangup"), (
                server.log()
            )
            assert customer.finish(15) == 0, customer.explain()  # got the BYE, said 200
            assert phone.finish(15) == 0, phone.explain()
            wait_until(desk, lambda d: call_phase(d) == "none", 10)
            assert desk.find_element(By.ID, "call-empty").is_displayed()
            wait_until(desk, lambda d: badge_state(d) == "ready", 10)  # no wrap-up here
            shot(desk, "calls_click_to_call_hung_up")
            assert console_errors(desk) == []


@pytest.mark.timeout(120)
def test_the_wallboard_follows_an_agent_and_a_caller_live(tmp_path: Path) -> None:
    with desk_center(tmp_path) as (server, _):
        port = free_port()
        phone = run_sipp(
            tmp_path, "agent1001", "agent_answer.xml", server.port, "-s", "1001", port=port,
            timeout=60,
        )  # fmt: skip
        with chrome("calls_wallboard") as board, chrome("calls_wallboard_desk") as desk:
            pausable_polls(board)
            sign_in(board, server, "wallboard", "super")
            pushed(
                board, lambda v: v["legend"].get("logged_out") == 2 and v["conn"] == "live", "", 10
            )
            mark = mark_page(board)  # gone if the page were ever reloaded
            pause_polls(board)  # from here on, only the WebSocket can move the wallboard
            took: dict[str, float] = {}

            register_agent(tmp_path, server, "1001", "pw1001", port)  # the phone logs 1001 in
            took["ready"] = pushed(
                board,
                lambda v: v["legend"].get("ready") == 1 and row(v, "1001")["state"] == "ready",
                "1001 ready",
            )
            assert wallboard_view(board)["legend"].get("logged_out") == 1
            shot(board, "calls_wallboard_ready")

            sign_in(desk, server, "desktop", "1001")
            wait_until(desk, lambda d: badge_state(d) == "ready")
            desk.find_element(By.ID, "btn-not-ready").click()
            wait_until(desk, lambda d: d.find_element(By.ID, "dlg-not-ready").is_displayed())
            desk.find_element(By.CSS_SELECTOR, "#reason-list [data-reason=lunch]").click()
            wait_until(desk, lambda d: badge_state(d) == "not_ready")
            took["not_ready"] = pushed(
                board,
                lambda v: (
                    v["legend"].get("not_ready") == 1 and row(v, "1001")["state"] == "not_ready"
                ),
                "1001 not ready",
            )
            view = wallboard_view(board)
            assert view["legend"].get("ready") == 0 and "식사" in row(view, "1001")["cells"][1], (
                view
            )

            caller = ivr_caller(
                tmp_path, server, [], called="1599", hold=30, ends="server", timeout=50
            )
            assert wait_event(server, "call_queued", timeout=10, queue="general"), server.log()
            took["queued"] = pushed(
                board, lambda v: tile(v, "general").get("waiting") == "1", "caller waiting"
            )
            pushed(board, lambda v: tile(v, "general").get("longest") != "0:00", "ticks", 3)
            shot(board, "calls_wallboard_caller_waiting")

            desk.find_element(By.ID, "btn-ready").click()  # the waiting caller reaches 1001
            assert wait_event(server, "call_established", timeout=15), server.log()
            took["busy"] = pushed(
                board,
                lambda v: (
                    v["legend"].get("busy") == 1
                    and row(v, "1001")["state"] == "busy"
                    and tile(v, "general").get("waiting") == "0"
                ),
                "1001 busy, nobody waiting",
            )
            # the current call column (filled from GET /calls on the refresh that follows)
            pushed(board, lambda v: "010-1234-5678 · general" in row(v, "1001")["cells"][3], "call")
            wait_until(desk, lambda d: call_phase(d) == "talking", 10)
            shot(board, "calls_wallboard_agent_busy")
            shot(desk, "calls_wallboard_desk_talking")

            hang_up(desk)
            assert wait_event(server, "call_cleared", cause="agent_hangup", timeout=10)
            assert caller.finish(15) == 0, caller.explain()
            assert phone.finish(15) == 0, phone.explain()
            took["ready_again"] = pushed(
                board, lambda v: row(v, "1001")["state"] == "ready", "1001 ready after the call"
            )
            # today's figures come from the stored call records, which the server reads at
            # most every 5 s: a later poll brings them (answered, handled and AHT agree)
            pause_polls(board, False)
            pushed(
                board,
                lambda v: (
                    tile(v, "general").get("counts") == "1 / 0"
                    and row(v, "1001")["cells"][4] == "1"
                ),
                "today's figures",
                12,
            )
            view = wallboard_view(board)
            assert row(view, "1001")["cells"][5] != "—", view  # AHT
            assert tile(view, "general").get("sl") == "100%", view
            shot(board, "calls_wallboard_after_the_call")
            assert board.execute_script(OVERLAPPING_FIGURES) == []
            assert same_page(board, mark), "the wallboard was reloaded"
            assert view["conn"] == "live"
            assert console_errors(board) == [] and console_errors(desk) == []
        timings = {step: round(seconds, 2) for step, seconds in took.items()}
        (artifacts_dir() / "calls_wallboard_push_seconds.json").write_text(json.dumps(timings))


@pytest.mark.timeout(90)
def test_hold_and_resume_from_the_desktop(tmp_path: Path) -> None:
    with desk_center(tmp_path) as (server, _):
        phone = ready_agent(tmp_path, server)
        with chrome("calls_hold") as desk:
            sign_in(desk, server, "desktop", "1001")
            wait_until(desk, lambda d: badge_state(d) == "ready")
            caller = ivr_caller(
                tmp_path, server, [], called="1599", hold=30, ends="server", timeout=50
            )
            established = wait_event(server, "call_established", timeout=15)
            assert established, server.log()
            wait_until(desk, lambda d: call_phase(d) == "talking", 10)
            call_id = desk.find_element(By.ID, "call-id").text
            assert f"call_id={call_id}" in established[0], established
            assert hold_button(desk) == ("보류", "false")

            desk.find_element(By.ID, "btn-hold").click()
            wait_until(desk, lambda d: call_phase(d) == "on_hold", 5)
            assert hold_button(desk) == ("보류 해제", "true")
            assert desk.find_element(By.ID, "call-tag").text == "보류 중"
            assert wait_event(server, "call_held", call_id=call_id), server.log()
            shot(desk, "calls_hold_on_hold")

            desk.find_element(By.ID, "btn-hold").click()
            wait_until(desk, lambda d: call_phase(d) == "talking", 5)
            assert hold_button(desk) == ("보류", "false")
            assert wait_event(server, "call_retrieved", call_id=call_id), server.log()
            shot(desk, "calls_hold_resumed")

            hang_up(desk)
            assert wait_event(server, "call_cleared", call_id=call_id, cause="agent_hangup")
            assert caller.finish(15) == 0, caller.explain()
            assert phone.finish(15) == 0, phone.explain()
            wait_until(desk, lambda d: call_phase(d) == "none", 10)
            assert console_errors(desk) == []
