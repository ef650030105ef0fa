"""A pyVoIP 1.6.8 softphone as an agent, driven from tests.

pyVoIP is threads and blocking sockets (stack.md §4): ``start()`` blocks until registered,
an incoming call reaches the callback about 1 s after the INVITE, and nothing it does has a
timeout of its own. So every blocking call here runs in a thread joined with a bound, and the
call callback records what the phone saw in ``seen`` (never raising into pyVoIP's thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pyVoIP.VoIP import CallState, PhoneStatus, VoIPCall, VoIPPhone

from tests.e2e.conftest import free_port


class PyVoipAgent:
    """A registered pyVoIP phone that auto-answers and waits for the far end's BYE."""

    def __init__(self, server_port: int, user: str, password: str) -> None:
        self.sip_port = free_port()
        rtp = free_port()
        self.seen: list[str] = []
        self.errors: list[str] = []
        self.ended = threading.Event()
        self.phone = VoIPPhone(
            "127.0.0.1",
            server_port,
            user,
            password,
            myIP="127.0.0.1",
            callCallback=self._on_call,
            sipPort=self.sip_port,
            rtpPortLow=rtp,
            rtpPortHigh=rtp,
        )

    def _on_call(self, call: VoIPCall) -> None:
        try:
            self.seen.append(f"ringing from={call.request.headers['From']['number']}")
            call.answer()
            self.seen.append("answered")
            deadline = time.monotonic() + 15
            while call.state != CallState.ENDED and time.monotonic() < deadline:
                time.sleep(0.05)
            self.seen.append(f"state={call.state.value}")
        except Exception as exc:  # noqa: BLE001 - recorded; pyVoIP's thread must not die
            self.errors.append(repr(exc))
        finally:
            self.ended.set()

    def start(self, timeout: float = 5.0) -> None:
        _bounded(self.phone.start, timeout, "pyVoIP start (REGISTER)")
        if self.phone.get_status() != PhoneStatus.REGISTERED:
            raise AssertionError(f"pyVoIP not registered: {self.phone.get_status()}")

    def stop(self, timeout: float = 5.0) -> None:
        _bounded(self.phone.stop, timeout, "pyVoIP stop (un-REGISTER)")


def _bounded(fn: Callable[[], object], timeout: float, what: str) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"{what} did not return within {timeout} s")
    if failure:
        raise AssertionError(f"{what} failed: {failure[0]!r}") from failure[0]
