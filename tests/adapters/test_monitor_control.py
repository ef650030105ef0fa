"""MonitorControl over a real call switch on ``task.Clock``: the feature-code policy read from
the users table (and refreshed), and the controller's refusals as API errors."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from cti_server.adapters.monitor_control import MonitorControl, database_supervisor_phones
from cti_server.api.control import Conflict, Invalid, NotFound
from cti_server.auth import Principal, Role, ScryptCost
from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from cti_server.storage.db import Database
from cti_server.storage.migrations import upgrade
from cti_server.storage.users import UserRepo

CONFIG = """
sip: {listen: 10.0.0.1, port: 5060, realm: cti.local}
media: {mode: anchor, port_min: 30000, port_max: 30100}
accounts: [{user: "1001", password: "secret1"}]
trunks: [{name: gw, allow_from: [192.0.2.0/24]}]
routes: [{match: '1\\d{3}', target: 'extension:\\g<0>'}]
"""
SUPER = Principal("super", Role.SUPERVISOR, None)


class FakeSip:
    """What MonitorControl uses of SipService: the switch and ``control``."""

    def __init__(self, switch: CallSwitch, clock: Clock) -> None:
        self.switch = switch
        self.clock = clock

    def control(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args, self.clock.seconds())


def now(fn: Callable[[], set[str]]) -> Deferred[set[str]]:
    return succeed(fn())


@pytest.fixture
def switch() -> CallSwitch:
    return build_switch(
        parse_config(CONFIG, "<t>"),
        IdFactory(random.Random(7), host="10.0.0.1"),
        b"k" * 32,
        random.Random(9),
    )


def test_supervisor_phones_come_from_the_users_table_and_are_refreshed(
    tmp_path: Path, switch: CallSwitch
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'users.sqlite3'}")
    try:
        upgrade(database.sync_engine)
        repo = UserRepo(database, cost=ScryptCost(n=1024))
        repo.add("lead", "a-long-password-1", role="supervisor", agent_id="1003")
        repo.add("1001", "a-long-password-2", role="agent", agent_id="1001")
        repo.add("boss", "a-long-password-3", role="admin")
        repo.add("old", "a-long-password-5", role="admin", agent_id="1009")
        repo.set_disabled("old")
        clock = Clock()
        sip = FakeSip(switch, clock)
        control = MonitorControl(sip, clock, database_supervisor_phones(database), now)
        allowed = switch.controller.monitor_allowed
        assert allowed is not None and not allowed("1003")  # nothing loaded yet
        control.start()
        assert control.phones == {"1003"}
        assert allowed("1003") and not allowed("1001") and not allowed("1009")
        repo.add("lead2", "a-long-password-4", role="supervisor", agent_id="1005")
        clock.advance(30)
        assert control.phones == {"1003", "1005"}
        control.stop()
    finally:
        database.dispose_sync()


def test_refusals_become_api_errors(switch: CallSwitch) -> None:
    clock = Clock()
    control = MonitorControl(FakeSip(switch, clock), clock)
    with pytest.raises(Invalid) as no_phone:
        control.start_monitor("C1", "listen", None, SUPER)
    assert no_phone.value.code == "bad_extension"
    with pytest.raises(NotFound) as gone:
        control.start_monitor("C1", "listen", "1003", SUPER)
    assert gone.value.code == "no_such_call" and gone.value.status == 404
    with pytest.raises(Invalid) as bad:
        control.set_mode("C1", "shout", SUPER)
    assert bad.value.code == "bad_mode"
    with pytest.raises(NotFound) as idle:
        control.stop_monitor("C1", SUPER)
    assert idle.value.code == "not_monitored"
    assert control.status("C1") is None
    assert Conflict("x", "busy").status == 409
