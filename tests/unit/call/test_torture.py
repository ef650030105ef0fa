"""RFC 4475 torture messages through the whole signalling path: answered or dropped, never
an exception, and the endpoint-level faults get the status the RFC asks for."""

from __future__ import annotations

import random

import pytest

from cti_server.call.switch import CallSwitch
from cti_server.call.wiring import build_switch
from cti_server.config import parse_config
from cti_server.ids import IdFactory
from tests.unit.sip.test_parser import ENDPOINT_REJECTS, PARSE_ERRORS, RFC4475, load

CONFIG = """
sip: {listen: 127.0.0.1, port: 5060}
accounts: [{user: "1001", password: "x"}]
routes: [{match: '.*', target: 'extension:1001'}]
"""
ALL = sorted(p.stem for p in RFC4475.glob("*.sip"))


def fresh_switch() -> CallSwitch:
    config = parse_config(CONFIG, "<test>")
    return build_switch(
        config, IdFactory(random.Random(1), host="127.0.0.1"), b"s" * 32, random.Random(2)
    )


@pytest.mark.parametrize("name", ALL)
def test_every_torture_message_is_answered_or_counted(name: str) -> None:
    switch = fresh_switch()
    switch.receive_datagram(load(name), ("192.0.2.1", 5060), 0.0)
    out = switch.datagrams_to_send()
    dropped = sum(switch.endpoint.dropped.values())
    for data, _ in out:
        assert data.startswith(b"SIP/2.0 ")  # only responses: nothing is forwarded blindly
    assert out or dropped or load(name).startswith(b"SIP/2.0") or b"ACK " in load(name)[:4]
    switch.handle_timer(100.0)  # and every timer the message started runs without error


@pytest.mark.parametrize(("name", "status"), sorted(ENDPOINT_REJECTS.items()))
def test_endpoint_level_faults_get_their_status(name: str, status: int) -> None:
    switch = fresh_switch()
    switch.receive_datagram(load(name), ("192.0.2.1", 5060), 0.0)
    statuses = [int(data.split(b" ", 2)[1]) for data, _ in switch.datagrams_to_send()]
    assert statuses[-1] == status, statuses


@pytest.mark.parametrize("name", sorted(n for n, v in PARSE_ERRORS.items() if v[2]))
def test_answerable_parse_errors_get_the_parser_status(name: str) -> None:
    switch = fresh_switch()
    switch.receive_datagram(load(name), ("192.0.2.1", 5060), 0.0)
    out = switch.datagrams_to_send()
    if out:
        ((data, _),) = out
        assert int(data.split(b" ", 2)[1]) == PARSE_ERRORS[name][0]
    else:
        assert sum(switch.endpoint.dropped.values()) == 1
