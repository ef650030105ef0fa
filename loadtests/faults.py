"""Faults under load: kill -9 of the server, Redis away, PostgreSQL away; nothing may be lost.

Issue 10 part 4. One contact center (``fault_load.Center``: its own PostgreSQL and Redis on
free ports, the server on a fixed SIP port, SIPp echo agents with recording on) takes a steady
load of SIPp callers: queue callers who talk to an agent while streaming a tone, and IVR
callers who ask for a callback (flow ``cb``). Each fault gets a window of its own load (its
callers have their own number prefix) and strikes in the middle of it:

* ``kill9``: SIGKILL of the server, started again at once on the same data directory;
  the agents register again (registrations live in memory);
* ``redis``: the Redis server SIGKILLed, started again (empty: ``--save ''``) after the outage;
* ``postgres``: PostgreSQL stopped (fast shutdown: every connection cut), started again after
  the outage.

After each fault the run measures the recovery time: from the fault's end (the restart for
``kill9``) until the server is the leader again with every agent ready and what it spooled
while the database was away (record journal, callback spool, recording index) is in SQL.
When every window is done it counts, per window, what the callers completed against what
PostgreSQL holds (call records by calling number, callbacks by number, recordings by call
id with their files), checks that every agent is free again once the window's calls are
over, and checks the calls in progress when the fault struck: for Redis and PostgreSQL they
must complete, with no gap in their recorded media (both channels of the recording are a
continuous tone: the longest silence is reported); for ``kill9`` their recordings must be
repaired and indexed at the restart. It prints the table, writes it to
``loadtests/results/faults-<date>[-quick].txt`` and exits 1 if anything was lost, a journal
was left with entries, an agent was left busy or an in-progress call did not survive.

  .venv/bin/python loadtests/faults.py --quick     # 5 s outages, 4 agents: ~85 s
  .venv/bin/python loadtests/faults.py             # 30 s outages, 10 agents: ~6.5 min
  .venv/bin/python loadtests/faults.py --quick --faults redis,postgres --outage 10
  .venv/bin/python loadtests/faults.py --quick --cluster --faults redis   # redis.cluster

The load is modest on purpose (the box has two cores shared with others): at most ``agents``
queue calls and a few IVR calls at once.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

try:
    from loadtests import fault_rig as rig
    from loadtests.fault_check import Window, judge, render
    from loadtests.fault_load import Center, start_callers
    from loadtests.locust_server import ROOT
except ImportError:  # run as a script from loadtests/
    import fault_rig as rig  # type: ignore[no-redef]
    from fault_check import Window, judge, render  # type: ignore[no-redef]
    from fault_load import Center, start_callers  # type: ignore[no-redef]
    from locust_server import ROOT  # type: ignore[no-redef]

FAULTS = ("kill9", "redis", "postgres")
STARTED = time.monotonic()


def say(line: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f} s] {line}", flush=True)


@dataclass(frozen=True)
class Plan:
    outage: float  # s the service is away (kill9: none, the restart is at once)
    agents: int
    talk: float  # s a queue caller talks: longer than the outage, so calls span it
    queue_rate: float  # calls/s
    callback_rate: float
    before: float  # s of load before the fault
    after: float  # s of new calls after the fault ended
    recovery_limit: float  # s to wait for recovery before calling it failed


QUICK = Plan(5.0, 4, 8.0, 0.5, 0.5, 5.0, 4.0, 40.0)
FULL = Plan(30.0, 10, 40.0, 0.25, 0.25, 20.0, 40.0, 120.0)


def strike(center: Center, plan: Plan, fault: str, window: Window) -> None:
    """The fault itself; ``window.restored_at`` is when the service came back."""
    assert center.server is not None
    window.in_progress = [c for c in center.live_calls() if c.get("state") == "connected"]
    window.ivr_in_progress = [c for c in center.live_calls() if c.get("state") == "ivr"]
    before = center.server.metrics().get("cti_rtp_packets_received_total", 0.0)
    window.fault_at = time.time()
    if fault == "kill9":
        center.server.kill9()
        window.restored_at = time.time()
        center.restart()
        rig.wait_until(center.leader, 15)
        rig.register(center.work, center.server, center.contacts)
        return
    if fault == "redis":
        assert center.redis is not None
        center.redis.stop()
        time.sleep(plan.outage)
        center.redis.start()
    elif fault == "postgres":
        assert center.postgres is not None
        center.postgres.stop()
        time.sleep(plan.outage)
        center.postgres.start()
    else:
        raise ValueError(f"unknown fault {fault!r}")
    window.restored_at = time.time()
    after = center.server.metrics().get("cti_rtp_packets_received_total", 0.0)
    window.rtp_per_second = (after - before) / max(0.001, window.restored_at - window.fault_at)


def recover(center: Center, plan: Plan, window: Window) -> None:
    """Wait until the server serves as before and every spooled write is in SQL."""

    def done() -> bool:
        now = time.time() - window.restored_at
        parts = {"service": center.healthy(), **{k: not v for k, v in center.backlog().items()}}
        for name, ok in parts.items():
            if ok:
                window.parts.setdefault(name, now)
            else:
                window.parts.pop(name, None)  # not for good yet
        return all(parts.values())

    if rig.wait_until(done, plan.recovery_limit, 0.25):
        window.recovered_at = time.time()
    window.backlog_after = center.backlog()


def run_window(center: Center, plan: Plan, fault: str, index: int) -> Window:
    """One fault in the middle of its own load; the callers' numbers start 0105<index>."""
    assert center.server is not None
    span = plan.before + (0 if fault == "kill9" else plan.outage) + plan.after
    window = Window(fault)
    for kind, rate in (("queue", plan.queue_rate), ("callback", plan.callback_rate)):
        prefix = f"0105{index}{1 if kind == 'queue' else 2}"
        limit = plan.agents if kind == "queue" else 6
        window.callers.append(
            start_callers(
                center.work,
                center.server.sip_port,
                kind,
                prefix,
                rate=rate,
                limit=limit,
                calls=max(1, math.ceil(rate * span)),
                talk=plan.talk,
                bound=span + plan.talk + 120,
            )
        )
    time.sleep(plan.before)
    say(f"{fault}: striking")
    strike(center, plan, fault, window)
    recover(center, plan, window)
    took = "not recovered" if window.recovered_at is None else f"{window.recovery:.1f} s"
    say(f"{fault}: service back, recovery {took}; waiting for the callers")
    for callers in window.callers:
        callers.finish(timeout=span + plan.talk + 90)
    # the last calls' records and recordings settle (group commit every 100 ms), and every
    # agent is free again: one left busy with a call that is over would never get another
    rig.wait_until(lambda: not any(center.backlog().values()), 20, 0.25)
    rig.wait_until(lambda: not center.busy_agents(), 10)
    window.stuck_agents = center.busy_agents()
    say(f"{fault}: window done")
    return window


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="5 s outages, 4 agents (CI-sized)")
    ap.add_argument("--outage", type=float, help="seconds Redis/PostgreSQL stay away")
    ap.add_argument("--agents", type=int, help="SIPp echo agents (quick 4, full 10)")
    ap.add_argument("--faults", default=",".join(FAULTS), help="which, in order (default all)")
    ap.add_argument("--cluster", action="store_true", help="redis.cluster: true (one node)")
    ap.add_argument("--work", type=Path, help="config, logs, data (default: a tmp dir)")
    ap.add_argument("--report", type=Path, help="where the table goes (default: results/...)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.outage is not None:
        plan = replace(plan, outage=args.outage, talk=max(plan.talk, args.outage + 5))
    if args.agents is not None:
        plan = replace(plan, agents=args.agents)
    faults = [f for f in args.faults.split(",") if f]
    if unknown := set(faults) - set(FAULTS):
        print(f"faults: unknown {sorted(unknown)}; choose from {', '.join(FAULTS)}")
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="cti-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    per_window = plan.before + plan.outage + plan.after + plan.talk + plan.recovery_limit
    bound = len(faults) * (per_window + 150) + 300
    center = Center.with_services(work, plan.agents, bound, cluster=args.cluster)
    windows: list[Window] = []
    try:
        center.start()
        say(f"work {work}; {plan.agents} agents ready")
        for index, fault in enumerate(faults, start=1):
            windows.append(run_window(center, plan, fault, index))
        rows = judge(center, windows)
    except RuntimeError as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 2
    finally:
        center.stop()
    text = render(rows, plan=asdict(plan), quick=args.quick, work=work)
    suffix = "-quick" if args.quick else ""
    out = args.report or ROOT / "loadtests" / "results" / f"faults-{date.today()}{suffix}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text + f"written to {out}", flush=True)
    failed = any(row.failures() for row in rows)
    if not failed and not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
