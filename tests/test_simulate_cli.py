"""``cti-server simulate``: a table, CSV and PNG; a bad scenario exits 1 with file:line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from acd.scenario import load_scenario
from cti_server.sim_report import format_table
from cti_server.simulate_cli import SHIPPED, run, run_matrix

SMALL = """\
name: small
title: "작은 시나리오 / small"
hours: 2
seed: 3
talk_time: {distribution: lognormal, mean: 120, cv: 0.7}
patience: {mean: 60}
no_answer_probability: 0.05
arrivals: {rate_per_hour: 90, profile: [1.2, 0.8]}
agents:
  - {name: a, count: 3}
queues:
  - {name: q, wrap_up: 5}
strategies: [longest_idle, linear]
variants:
  baseline: {}
  faster: {talk_time: {mean: 90}}
  callbacks: {queues: {q: {max_wait: 40, overflow: callback}}}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_writes_table_csv_and_png(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert run(["--scenario", str(small), "--out", str(out), "--days", "2"]) == 0
    printed = capsys.readouterr()
    assert "ans%" in printed.out and "A ans%" in printed.out
    assert f"wrote {out / 'simulation.csv'}" in printed.out
    assert "[6/6] callbacks / linear" in printed.err  # progress goes to stderr
    with (out / "simulation.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["variant"], r["strategy"]) for r in rows] == [
        (v, s) for v in ("baseline", "faster", "callbacks") for s in ("longest_idle", "linear")
    ]
    assert all(r["days"] == "2" for r in rows)
    assert 0 < float(rows[0]["answer_rate"]) <= 1 and rows[0]["erlang_a_answer_rate"]
    assert int(rows[4]["callbacks_requested"]) > 0
    assert (out / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_selects_variants_strategies_and_seed(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--scenario", str(small), "--out", str(tmp_path), "--variant", "faster"]
    assert run([*args, "--strategy", "fewest_calls", "--seed", "9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "seed 9" in lines[0]
    assert [line.split()[:2] for line in lines[3:-1]] == [["faster", "fewest_calls"]]


def test_same_seed_same_table(small: Path) -> None:
    scenario = load_scenario(small)
    first = format_table(run_matrix(scenario, ["baseline"], ["linear"], seed=1, days=1))
    again = format_table(run_matrix(scenario, ["baseline"], ["linear"], seed=1, days=1))
    other = format_table(run_matrix(scenario, ["baseline"], ["linear"], seed=2, days=1))
    assert first == again != other


def test_bad_scenario_exits_1_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("mean: 120", "mean: fast"), encoding="utf-8")
    assert run(["--scenario", str(bad), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:5: talk_time.mean:")
    assert not (tmp_path / "simulation.csv").exists()


def test_unknown_variant_or_missing_file_exits_1(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--scenario", str(small), "--variant", "nope", "--out", str(tmp_path)]) == 1
    assert "no variant 'nope' (known: baseline, faster, callbacks)" in capsys.readouterr().err
    assert run(["--scenario", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml:0: cannot read" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["--help"])
    assert exited.value.code == 0
    assert "--strategy NAME" in capsys.readouterr().out


def test_shipped_scenario_baseline_is_calibrated() -> None:
    """The proposal's day: the baseline answer rate the file was calibrated for (61 %)."""
    scenario = load_scenario(SHIPPED)
    assert set(scenario.variants) >= {"baseline", "screen_pop", "callbacks", "more_staff"}
    rows = run_matrix(scenario, ["baseline"], ["longest_idle"], seed=scenario.seed, days=1)
    assert rows[0].tally.answer_rate == pytest.approx(0.61, abs=0.03)
    assert rows[0].erlang_a is not None
    assert rows[0].erlang_a.answer_rate == pytest.approx(0.61, abs=0.01)
