"""kill -9 the server again and again while it dials callbacks: none is lost, none redialled early.

The long version of ``tests/e2e/test_dialer.py::test_kill_9_mid_attempt...`` (issue 8: "after
kill -9 of the server and a restart, every pending callback is still there and none is dialed
twice: an attempt is recorded as dialing before the INVITE goes out; at start-up an attempt
left in dialing counts as a failed attempt and the callback is rescheduled after its backoff").

What it starts (every process bounded by ``timeout``/``-timeout`` and stopped by PID):
* the server (``cti-server serve``) on a fixed SIP port, SQLite in the work directory or the
  PostgreSQL database of ``--database-url`` (migrated here; it must hold no open callbacks);
  the config is ``locust_server.write_config``'s with routes to the customer farm and a
  ``dialer:`` section whose back-off is the same for every outcome;
* N SIPp agents (``agent_bot.start_agents``: ``agent_answer.xml``, registered), registered
  again after every restart, since registrations live in memory;
* the customer farm, one SIPp UAS per kind of number, each keeping a message trace:
  0101xxxxxxx answers and hangs up after 1 s, 0102xxxxxxx rings until cancelled (no answer),
  0103xxxxxxx is busy (486).

Then it requests M callbacks with distinct numbers, due now (``CallbackRepo.request``), and
every K seconds or so (uniformly 0.5K-1.5K) waits until an attempt is in ``dialing``, kills
the server with SIGKILL a moment later and starts it again on the same database and data
directory. After the last kill it waits until every callback is done or failed (or the time
limit), then judges from the store, the SIPp traces and the servers' event logs
(``dialer_faults_check``), prints the figures, writes them to
``loadtests/results/dialer_faults-<date>[-quick].txt`` and exits 1 on a violation.

  .venv/bin/python loadtests/dialer_faults.py --quick      # ~50 s: 30 callbacks, 3 kills
  .venv/bin/python loadtests/dialer_faults.py              # ~4-8 min: 60 callbacks, <= 10 kills
  .venv/bin/python loadtests/dialer_faults.py --quick \\
      --database-url postgresql://postgres@127.0.0.1:5432/cti_faults
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

try:
    from loadtests.agent_bot import port_blocks, start_agents
    from loadtests.dialer_faults_check import Backoff, Figures, Kill, Row, events, judge
    from loadtests.locust_server import ROOT, agent_ids, python, write_config
except ImportError:  # run as a script from loadtests/
    from agent_bot import port_blocks, start_agents  # type: ignore[no-redef]
    from dialer_faults_check import (  # type: ignore[no-redef]
        Backoff,
        Figures,
        Kill,
        Row,
        events,
        judge,
    )
    from locust_server import ROOT, agent_ids, python, write_config  # type: ignore[no-redef]

ALL_DAY = '{weekdays: {start: "00:00", end: "23:59"}, weekends: {start: "00:00", end: "23:59"}}'
DIALER = """\
storage: {{database_url: {database_url}}}
dialer:
  poll_interval: 1
  protection: {{max_inbound_wait: 10, service_level_target: null}}
  callbacks:
    max_attempts: {max_attempts}
    reserve_timeout: 10
    reserve_retry: 2
    ring_timeout: {ring_timeout}
    retry: {{busy: {backoff}, no_answer: {backoff}, failed: {backoff}, factor: {factor},
            max_delay: 3600}}
    calling_hours: {all_day}
"""
# kind, number prefix (11 digits in all), scenario, share of the callbacks
FARM = (
    ("answer", "0101", "agent_hangup.xml", 0.7),
    ("no_answer", "0102", "agent_ring_cancel.xml", 0.15),
    ("busy", "0103", "agent_busy.xml", 0.15),
)
SCENARIOS = ROOT / "loadtests" / "sipp"


@dataclass(frozen=True)
class Plan:
    callbacks: int
    agents: int
    kills: int
    kill_every: float  # s, on average
    backoff: float  # s, every outcome (a recovered attempt counts as failed)
    factor: float
    max_attempts: int
    ring_timeout: float
    time_limit: float  # s from the requests to the verdict


QUICK = Plan(30, 2, 3, 10.0, 8.0, 1.0, 3, 3.0, 62.0)
LONG = Plan(60, 3, 10, 20.0, 20.0, 1.5, 5, 5.0, 480.0)


@dataclass
class ServerRun:
    wrapper: subprocess.Popen[str]  # ``timeout -s KILL``: the bound if this script dies
    pid: int  # the server itself, the wrapper's child: what kill -9 hits
    log: Path


class Store:
    """The callbacks table, read and written as the IVR and the dialer do."""

    def __init__(self, config: Path) -> None:
        from cti_server.config import load_config
        from cti_server.storage import Database
        from cti_server.storage.callbacks import CallbackRepo

        self.database = Database.from_config(load_config(config))
        self.repo = CallbackRepo(self.database)

    def request(self, number: str) -> str:
        now = time.time()
        callback_id, merged = self.repo.request(
            number, "general", call_id=None, customer_id=None, due_at=now, now=now
        )
        if merged:
            raise RuntimeError(f"{number} merged into an open callback: the database is not new")
        return callback_id

    def rows(self, ids: list[str] | None = None) -> dict[str, Row]:
        from sqlalchemy import select

        from cti_server.storage.tables import CallbackRow as C

        stmt = select(C.id, C.status, C.attempts, C.due_at)
        if ids is not None:
            stmt = stmt.where(C.id.in_(ids))
        with self.database.sync_engine.connect() as conn:
            return {
                r.id: Row(r.status, r.attempts, r.due_at.timestamp()) for r in conn.execute(stmt)
            }

    def close(self) -> None:
        self.database.sync_engine.dispose()


class Faults:
    """One run: the processes it started (stopped by PID in ``stop``) and what happened."""

    def __init__(self, work: Path, plan: Plan, database_url: str | None, seed: int) -> None:
        self.work, self.plan, self.rng = work, plan, random.Random(seed)
        self.database_url = database_url
        self.sipp = shutil.which("sipp") or ""
        if not self.sipp:
            raise RuntimeError("SIPp is not installed: apt-get install sip-tester")
        self.bound = plan.time_limit + plan.kills * 15 + 120  # s, for every process we start
        self.sip_port = port_blocks(1)[0]
        self.farm: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.agents: list[subprocess.Popen[bytes]] = []
        self.contacts: dict[str, int] = {}
        self.runs: list[ServerRun] = []
        self.kills: list[Kill] = []
        self.ids: dict[str, str] = {}  # callback id -> number
        self.config = work / "cti.yaml"
        self.store: Store | None = None

    # --- set-up -------------------------------------------------------------------------

    def start(self) -> None:
        ports = port_blocks(len(FARM))
        for (kind, _, scenario, _), port in zip(FARM, ports, strict=True):
            trace = self.work / f"customer_{kind}_messages.log"
            cmd = [self.sipp, "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1"]
            cmd += ["-p", str(port), "-mp", str(port + 1), "-cp", str(port + 2), "-s", kind]
            cmd += ["-m", "1000000", "-nostdin", "-timeout", f"{int(self.bound)}s"]
            cmd += ["-trace_msg", "-message_file", str(trace), "-trace_err", "-error_file"]
            cmd += [str(self.work / f"customer_{kind}_errors.log"), "127.0.0.1:9"]
            quiet = subprocess.DEVNULL
            self.farm.append((subprocess.Popen(cmd, stdout=quiet, stderr=quiet), trace))
        self._write_config(ports)
        self._cli("db", "upgrade")
        self.store = Store(self.config)
        if any(r.status in ("pending", "dialing") for r in self.store.rows().values()):
            raise RuntimeError("the database has open callbacks: give an empty one")
        self.runs.append(self._serve())
        ids = agent_ids(self.plan.agents)
        self.agents = start_agents(self.work, self.sip_port, ids, self.bound)
        # each agent's SIP port (its Contact), to register it again after a restart
        self.contacts = {a: _port(p) for a, p in zip(ids, self.agents, strict=True)}
        self._wait_ready()

    def _write_config(self, ports: list[int]) -> None:
        text = write_config(self.work, self.plan.agents, "none").read_text()
        text = _swap(text, "port: 0, realm", f"port: {self.sip_port}, realm")
        routes = "".join(
            f"  - {{match: '{prefix}\\d{{7}}', target: 'uri:sip:\\g<0>@127.0.0.1:{port}'}}\n"
            for (_, prefix, _, _), port in zip(FARM, ports, strict=True)
        )
        text = _swap(text, "routes:\n", "routes:\n" + routes)
        p = self.plan
        url = self.database_url or f"sqlite:///{(self.work / 'data' / 'cti.sqlite3').resolve()}"
        text += DIALER.format(
            database_url=f"'{url}'",
            max_attempts=p.max_attempts,
            ring_timeout=p.ring_timeout,
            backoff=p.backoff,
            factor=p.factor,
            all_day=ALL_DAY,
        )
        self.config.write_text(text)

    def _cli(self, *command: str) -> None:
        cmd = [python(), "-m", "cti_server", *command, "--config", str(self.config)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.work)
        if done.returncode != 0:
            raise RuntimeError(f"cti-server {' '.join(command)} failed:\n{done.stderr}")

    def _serve(self) -> ServerRun:
        log = self.work / f"server-{len(self.runs) + 1}.log"
        cmd = ["timeout", "-s", "KILL", str(int(self.bound)), python(), "-m", "cti_server"]
        cmd += ["serve", "--config", str(self.config), "--data-dir", str(self.work / "data")]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        with log.open("w") as sink:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=sink, text=True, cwd=self.work, env=env
            )
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "cti-server ready sip=... http=..."
        proc.stdout.close()
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        pid = int((children.read_text().split() or ["0"])[0]) if children.exists() else 0
        if "ready" not in line or not pid:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the server did not start: {line!r}\n{log.read_text()[-3000:]}")
        return ServerRun(proc, pid, log)

    def _register(self) -> None:
        """Register every agent with the restarted server (``register.xml``, as at start)."""
        register = self.work / "register_long.xml"  # written by start_agents
        target = f"127.0.0.1:{self.sip_port}"
        procs = []
        for agent, block in zip(self.contacts, port_blocks(len(self.contacts)), strict=True):
            cmd = [self.sipp, "-sf", str(register), "-i", "127.0.0.1", "-nostdin", "-s", agent]
            cmd += ["-au", agent, "-ap", f"pw{agent}", "-key", "contact_port"]
            cmd += [str(self.contacts[agent]), "-p", str(block), "-mp", str(block + 1)]
            cmd += ["-cp", str(block + 2), "-m", "1", "-timeout", "10s", target]
            quiet = subprocess.DEVNULL
            procs.append(subprocess.Popen(cmd, stdout=quiet, stderr=quiet, cwd=self.work))
        codes = [p.wait(timeout=20) for p in procs]
        if any(codes):
            raise RuntimeError(f"agents did not register again: exit codes {codes}")
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        log = self.runs[-1].log
        while time.monotonic() < deadline:
            ready = {
                f.get("agent_id")
                for name, f in events(log)
                if name == "agent_logged_in" and f.get("state") == "ready"
            }
            if ready >= set(self.contacts):
                return
            time.sleep(0.1)
        raise RuntimeError(f"agents not ready in {log}")

    # --- the run ------------------------------------------------------------------------

    def request(self) -> None:
        assert self.store is not None
        kinds = [
            k for k, _, _, share in FARM[1:] for _ in range(round(share * self.plan.callbacks))
        ]
        kinds = [FARM[0][0]] * (self.plan.callbacks - len(kinds)) + kinds
        self.rng.shuffle(kinds)
        prefixes = {kind: prefix for kind, prefix, _, _ in FARM}
        for i, kind in enumerate(kinds, start=1):
            number = f"{prefixes[kind]}{i:07d}"
            self.ids[self.store.request(number)] = number

    def unfinished(self) -> int:
        assert self.store is not None
        rows = self.store.rows(list(self.ids)).values()
        return sum(r.status not in ("done", "failed") for r in rows)

    def dialing(self) -> dict[str, int]:
        """Callbacks in ``dialing`` now, with the attempts stored."""
        assert self.store is not None
        rows = self.store.rows(list(self.ids))
        return {cid: r.attempts for cid, r in rows.items() if r.status == "dialing"}

    def kill_and_restart(self, until: float) -> None:
        p = self.plan
        for _ in range(p.kills):
            pause = self.rng.uniform(0.5, 1.5) * p.kill_every
            if time.monotonic() + pause > until - 2 * p.backoff or not self.unfinished():
                return  # leave the last server time to finish the work
            time.sleep(pause)
            if not self.unfinished():
                return
            # mostly mid-attempt (the customer's INVITE recorded, maybe sent); sometimes
            # anywhere (an agent ringing, nothing stored yet, or idle)
            wait_until = time.monotonic() + (p.kill_every if self.rng.random() < 0.75 else 0)
            while not self.dialing() and time.monotonic() < wait_until:
                time.sleep(0.05)
            time.sleep(self.rng.uniform(0.0, 0.5))  # somewhere in the attempt
            run = self.runs[-1]
            killed_at = time.time()
            os.kill(run.pid, signal.SIGKILL)
            run.wrapper.wait(timeout=10)
            caught = self.dialing()
            restarted_at = time.time()
            self.runs.append(self._serve())
            self._register()
            self.kills.append(Kill(killed_at, restarted_at, caught))
            print(
                f"kill {len(self.kills)}: {len(caught)} attempts in flight; "
                f"{self.unfinished()} callbacks open",
                flush=True,
            )

    def drain(self, until: float) -> None:
        while self.unfinished() and time.monotonic() < until:
            time.sleep(0.5)

    def snapshot(self) -> tuple[dict[str, Row], float]:
        """The store's rows of our callbacks, and when they were read (before the stop)."""
        assert self.store is not None
        return self.store.rows(list(self.ids)), time.time()

    def verdict(self, rows: dict[str, Row], ended_at: float) -> Figures:
        """Judged after ``stop``: SIPp has written out its traces by then."""
        p = self.plan
        return judge(
            ids=self.ids,
            rows=rows,
            kills=self.kills,
            traces=[trace for _, trace in self.farm],
            logs=[run.log for run in self.runs],
            backoff=Backoff(p.backoff, p.factor, 3600.0),
            ended_at=ended_at,
            overdue_slack=15.0,  # reserve_retry, polls, an agent finishing a call
        )

    def stop(self) -> None:
        """SIGTERM everything we started (by PID), then SIGKILL what is left. A server gets
        one SIGTERM, to itself: ``timeout`` would pass a second one on."""
        for run in self.runs:
            if run.wrapper.poll() is None:
                _signal(run.pid, signal.SIGTERM)
        sipps: list[subprocess.Popen[Any]] = [*self.agents, *(proc for proc, _ in self.farm)]
        for proc in sipps:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*(r.wrapper for r in self.runs), *sipps]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()  # a server's wrapper: the server goes with it (timeout -s KILL)
                proc.wait(timeout=5)
        for run in self.runs:
            _signal(run.pid, signal.SIGKILL)  # only if it outlived its wrapper
        if self.store is not None:
            self.store.close()


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _port(proc: subprocess.Popen[bytes]) -> int:
    args = [str(a) for a in proc.args]  # type: ignore[union-attr]
    return int(args[args.index("-p") + 1])


def _hide_password(arg: str) -> str:
    if "://" not in arg:
        return arg
    from sqlalchemy.engine import make_url

    return make_url(arg).render_as_string(hide_password=True)


def _swap(text: str, old: str, new: str) -> str:
    if old not in text:
        raise RuntimeError(f"locust_server.CONFIG changed: {old!r} not found")
    return text.replace(old, new, 1)


def report(args: argparse.Namespace, plan: Plan, faults: Faults, figures: Figures) -> str:
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"dialer_faults {date.today()} HEAD {head or '?'}",
        "$ " + " ".join([Path(sys.argv[0]).name, *map(_hide_password, sys.argv[1:])]),
        f"mode {'quick' if args.quick else 'long'}, database "
        + ("postgresql" if args.database_url else "sqlite")
        + f", seed {args.seed}, work {faults.work}",
        "plan " + ", ".join(f"{k}={v}" for k, v in asdict(plan).items()),
        "",
        *figures.table(),
        "",
    ]
    violations = figures.violations()
    lines.append("violations: " + (", ".join(violations) if violations else "none"))
    lines += [f"  {p}" for p in figures.problems[:30]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="bounded run, < 90 s (CI-sized)")
    ap.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    ap.add_argument("--callbacks", type=int, help="M callbacks requested (quick 30, long 60)")
    ap.add_argument("--agents", type=int, help="N SIPp agents (quick 2, long 3)")
    ap.add_argument("--kills", type=int, help="kill -9 this many times (quick 3, long 10)")
    ap.add_argument("--kill-every", type=float, help="seconds between kills, on average")
    ap.add_argument("--backoff", type=float, help="retry back-off, s (quick 8, long 20)")
    ap.add_argument("--time-limit", type=float, help="s from the requests to the verdict")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from time)")
    ap.add_argument("--work", type=Path, help="config, logs, traces, data (default: a tmp dir)")
    ap.add_argument("--report", type=Path, help="where the figures go (default: results/...)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else LONG
    changes = {
        name: getattr(args, name)
        for name in ("callbacks", "agents", "kills", "kill_every", "backoff", "time_limit")
        if getattr(args, name) is not None
    }
    plan = replace(plan, **changes)
    args.seed = args.seed if args.seed is not None else int(time.time())
    work = args.work or Path(tempfile.mkdtemp(prefix="dialer_faults_"))
    work.mkdir(parents=True, exist_ok=True)
    faults = Faults(work, plan, args.database_url, args.seed)
    try:
        faults.start()
        faults.request()
        until = time.monotonic() + plan.time_limit
        print(f"{len(faults.ids)} callbacks requested; work dir {work}", flush=True)
        faults.kill_and_restart(until)
        faults.drain(until)
        rows, ended_at = faults.snapshot()
    except RuntimeError as exc:
        print(f"dialer_faults: {exc}", file=sys.stderr)
        return 2
    finally:
        faults.stop()
    figures = faults.verdict(rows, ended_at)
    text = report(args, plan, faults, figures)
    suffix = "-quick" if args.quick else ""
    out = (
        args.report or ROOT / "loadtests" / "results" / f"dialer_faults-{date.today()}{suffix}.txt"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text + f"written to {out}", flush=True)
    return 1 if figures.violations() else 0


if __name__ == "__main__":
    sys.exit(main())
