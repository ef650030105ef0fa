"""``cti-server check-config``: a config and the flows it routes to are checked together, and
every problem comes back as ``file:line: reason`` with exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti_server.__main__ import main
from cti_server.demo import always_open_flows

CONFIG = """
ivr: {{flows_dir: {flows}}}
acd:
  queues: [{{name: general, strategy: {strategy}}}]
  agents: [{{id: "1001", queues: [general]}}]
routes:
  - {{match: '1588', target: 'flow:main'}}
  - {{match: '1599', target: 'queue:{queue}'}}
"""


def write(tmp: Path, *, strategy: str = "longest_idle", queue: str = "general") -> Path:
    flows = always_open_flows(tmp / "flows")
    path = tmp / "cti.yaml"
    path.write_text(CONFIG.format(flows=flows, strategy=strategy, queue=queue))
    return path


def test_a_good_config_with_flows_and_queues_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config", str(write(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "1 queues" in out and "['main']" in out


def test_a_broken_flow_is_refused_with_its_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path)
    flow = tmp_path / "flows" / "main.yaml"
    lines = flow.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "prompts: [greeting]" in line)
    flow.write_text(flow.read_text().replace("prompts: [greeting]", "prompts: [greetin]"))
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"main.yaml:{number}:" in err and "greetin" in err, err


def test_unknown_queue_and_strategy_are_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, strategy="fastest", queue="sales")
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "unknown queue 'sales'" in err and "fastest" in err, err


def test_a_route_to_a_missing_flow_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path)
    config.write_text(config.read_text().replace("flow:main", "flow:night"))
    assert main(["check-config", str(config)]) == 1
    assert "no flow named 'night'" in capsys.readouterr().err
