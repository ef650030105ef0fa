"""Crashes of flow loading found by fuzzing (loadtests/fuzz/ivr_flow.py), as regression tests.

A flow file that is not UTF-8 raised UnicodeDecodeError from ``load_flow``/``load_flows``
(found by the ``ivr_flow`` target); YAML values PyYAML cannot build beyond a bad date (found by
the ``config`` target in the same code in ``parse_config``) raised IndexError, KeyError,
AttributeError, OverflowError or RecursionError. Each is now a ``ConfigError`` of
``file:line: reason``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_server.config import ConfigError
from ivr_flows.loader import load_flow, load_flows, parse_flow

from .driver import PROMPTS

NOT_UTF8 = b"\xff"
QUEUES = {"general"}


def test_a_flow_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError) as caught:
        load_flow(path, known_prompts=PROMPTS, known_queues=QUEUES)
    assert caught.value.problems == [f"{path}:0: cannot read: not UTF-8 text"]
    with pytest.raises(ConfigError) as caught:
        load_flows(tmp_path, known_prompts=PROMPTS, known_queues=QUEUES)
    assert caught.value.problems == [f"{path}:0: cannot read: not UTF-8 text"]


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nstart: !!int\n",
        "name: x\nstart: !!bool maybe\n",
        "name: x\nstart: !!timestamp soon\n",
        "name: x\nnodes: " + "[" * 1000 + "]" * 1000 + "\n",
        "name: x\n2026-13-01: y\n",
        'name: "\\U8001D7D7"\n',
    ],
    ids=["int", "bool", "timestamp", "deep", "date", "escape"],
)
def test_values_pyyaml_cannot_build_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_flow(text, "flow.yaml", known_prompts=PROMPTS, known_queues=QUEUES)
    (problem,) = caught.value.problems
    assert problem.startswith("flow.yaml:1: YAML value: ")
