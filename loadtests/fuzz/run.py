"""Run the atheris fuzz targets, each in its own subprocess, and print a table of the runs.

    .venv/bin/python -m loadtests.fuzz.run --quick                   # every target, 2,000 inputs
    nice .venv/bin/python -m loadtests.fuzz.run --runs 1000000 --jobs 2   # the long run
    .venv/bin/python -m loadtests.fuzz.run --target sdp --runs 200000 --workdir /tmp/fz

Each target keeps its corpus under ``<workdir>/<target>/corpus`` (a later run starts from what
earlier runs found), its seeds under ``seeds/`` and crash inputs under ``crashes/``; libFuzzer's
output goes to ``fuzz.log``. A target stops at its first crash (libFuzzer's rule); the table
says so and the crash is listed with its exception and the command that reproduces it. Exit
status 1 when any target crashed or failed to run.

Columns: inputs run (test-function calls, seeds included), exec/s and seconds of wall time
(start-up included), crashes, and libFuzzer's last status line: corpus size (``corp``: the
inputs it keeps, seeds and earlier runs' finds included), edge coverage (``cov``) and features
(``ft``) of the instrumented packages.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from loadtests.fuzz import TARGETS  # noqa: E402

QUICK_RUNS = 2000
_DONE = re.compile(r"^Done (\d+) in ", re.M)
_STATUS = re.compile(r"^#(\d+)\s.*?cov: (\d+) ft: (\d+) corp: (\d+)/", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


@dataclass
class Result:
    target: str
    runs: int = 0
    seconds: float = 0.0
    crashes: list[tuple[str, str]] = field(default_factory=list)  # (artifact, exception)
    corpus: int = 0
    cov: int = 0
    ft: int = 0
    returncode: int = 0
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.crashes


def command(target: str, runs: int, workdir: Path, *, timeout: int, seed: int | None) -> list[str]:
    base = workdir / target
    cmd = [
        sys.executable,
        "-m",
        f"loadtests.fuzz.{TARGETS[target]}",
        f"-atheris_runs={runs}",
        f"-artifact_prefix={base / 'crashes'}/",
        f"-timeout={timeout}",
        "-rss_limit_mb=2048",
        f"--seed-dir={base / 'seeds'}",
    ]
    if seed is not None:
        cmd.append(f"-seed={seed}")
    return [*cmd, str(base / "corpus")]


def run_target(
    target: str, runs: int, workdir: Path, *, timeout: int = 30, seed: int | None = None
) -> Result:
    """One libFuzzer run of ``target`` for ``runs`` inputs; blocks until it ends."""
    base = workdir / target
    for sub in ("corpus", "crashes", "seeds"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    log = base / "fuzz.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    started = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(
            command(target, runs, workdir, timeout=timeout, seed=seed),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    result = Result(target, seconds=time.perf_counter() - started, log=log)
    result.returncode = done.returncode
    text = log.read_text(errors="replace")
    finished = _DONE.search(text)
    statuses = _STATUS.findall(text)
    if statuses:
        runs, cov, ft, corpus = map(int, statuses[-1])
        result.runs, result.cov, result.ft, result.corpus = runs, cov, ft, corpus
    if finished:
        result.runs = int(finished.group(1))
    for artifact in _ARTIFACT.findall(text):
        result.crashes.append((artifact, _exception(text)))
    if done.returncode and not result.crashes and not finished:
        result.crashes.append(("-", f"exit status {done.returncode}, see {log}"))
    return result


def _exception(text: str) -> str:
    """The exception line of atheris's report (or libFuzzer's kind of failure)."""
    match = re.search(r"=== Uncaught Python exception: ===\n(.+)", text)
    if match:
        return match.group(1).strip()
    match = re.search(r"ERROR: libFuzzer: (.+)", text)
    return match.group(1).strip() if match else "unknown"


def table(results: list[Result]) -> str:
    rows = [("target", "inputs run", "exec/s", "seconds", "crashes", "corpus", "cov", "ft")]
    for r in results:
        rate = r.runs / r.seconds if r.seconds else 0.0
        rows.append(
            (r.target, f"{r.runs:,}", f"{rate:,.0f}", f"{r.seconds:,.1f}", str(len(r.crashes)),
             f"{r.corpus:,}", str(r.cov), str(r.ft))
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in rows]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", action="append", choices=sorted(TARGETS),
                        help="a target to run (repeatable); default: all")  # fmt: skip
    parser.add_argument("--runs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS:,} inputs per target")
    parser.add_argument("--jobs", type=int, default=1, help="targets run at once (2 cores: <= 2)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cti-fuzz"),
                        help="corpora, seeds, crashes, logs: a directory per target")  # fmt: skip
    parser.add_argument("--timeout", type=int, default=30, help="seconds one input may take")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer -seed (reproducible)")
    args = parser.parse_args(argv)
    targets = args.target or list(TARGETS)
    runs = QUICK_RUNS if args.quick else args.runs
    print(f"# {' '.join(sys.argv)}")
    print(f"# {len(targets)} target(s) x {runs:,} inputs, {args.jobs} at a time, in {args.workdir}")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [
            pool.submit(run_target, t, runs, args.workdir, timeout=args.timeout, seed=args.seed)
            for t in targets
        ]
        results = []
        for future in futures:
            result = future.result()
            results.append(result)
            print(
                f"# {result.target}: {result.runs:,} inputs in {result.seconds:.1f} s", flush=True
            )
    print(table(results))
    for r in results:
        for artifact, exception in r.crashes:
            print(f"CRASH {r.target}: {exception}\n  reproduce: {sys.executable} -m "
                  f"loadtests.fuzz.{TARGETS[r.target]} {artifact}\n  log: {r.log}")  # fmt: skip
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
