"""Every atheris fuzz target runs a few hundred to a few thousand inputs without a crash.

A bounded smoke run of ``loadtests/fuzz`` (the long runs are in the README): each target in its
own subprocess through ``run.run_target``, from its seeds, with a fixed libFuzzer seed so a
failure reproduces. A crash here is a parser bug (or a harness that no longer matches its
parser); the assertion message names the exception and the saved input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.fuzz import TARGETS
from loadtests.fuzz.run import ROOT, run_target, table

# Inputs per target: the YAML targets run a few hundred inputs a second, the others thousands.
RUNS = {"ivr_flow": 400, "config": 400}
DEFAULT_RUNS = 3000


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_harness_runs_without_a_crash(target: str, tmp_path: Path) -> None:
    runs = RUNS.get(target, DEFAULT_RUNS)
    result = run_target(target, runs, tmp_path, timeout=20, seed=1)
    log = result.log.read_text(errors="replace")[-3000:] if result.log else ""
    assert not result.crashes, f"{result.crashes}\n{log}"
    assert result.returncode == 0, log
    assert result.runs == runs, log
    assert result.corpus > 0 and result.cov > 0, table([result])


def test_runner_help_names_its_options() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "fuzz" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for option in ("--target", "--runs", "--quick", "--jobs", "--workdir"):
        assert option in done.stdout
