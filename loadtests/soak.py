"""Soak: steady load for N minutes; memory, descriptors and timers must not grow with the calls.

Issue 10 part 6. The contact center of ``fault_load`` (its own PostgreSQL and Redis, SIPp echo
agents, recording on) takes a steady, modest load: queue callers who talk to an agent while
streaming a tone, and IVR callers who hear the callback offer and decline it (so no state
piles up by design). The run samples the server's ``/metrics`` every few seconds: resident
memory and open descriptors (``process_*``), the reactor's pending timers, threads and asyncio
tasks (``cti_server/adapters/process_gauges.py``), live calls, SIP transactions and RTP legs;
idle before the load (the baseline), under load, and idle again once the calls and their SIP
transactions are gone (up to 32 s after the last call: RFC 3261 timers J, L and M).

It prints a table per minute and a verdict: memory per call is flat when the slope of RSS
against calls completed (least squares over the load after its first quarter, the warm-up)
is under ``--max-kb-per-call``; descriptors and timers come back to within ``--margin`` of
the baseline when idle. It writes the samples (CSV), the report and a PNG plot to
``loadtests/results/soak-<date>[-quick].{txt,csv,png}`` and exits 1 on a leak.

  .venv/bin/python loadtests/soak.py --quick          # 2 minutes of load, ~3.5 min in all
  .venv/bin/python loadtests/soak.py                  # 20 minutes
  .venv/bin/python loadtests/soak.py --minutes 60 --agents 12

The server is started through this script (``soak.py --serve ARGS``: ``cti-server serve
ARGS`` with the gauges attached to the app's registry until ``app.py`` wires them with
``attach_process_gauges(registry, reactor)``), and with the desktops' event ring shrunk to
``--ring`` events (500; the server keeps 10,000, ~12 MiB that fill over the first thousand
calls): a bounded cache must fill during the warm-up, or it passes for a leak. The machine
has two cores shared with others: the load is kept to about ``agents`` queue calls and one
or two IVR calls at once.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

try:
    from loadtests.fault_load import Center, start_callers
    from loadtests.locust_server import ROOT, python
    from loadtests.soak_report import Sample, plot, report
except ImportError:  # run as a script from loadtests/
    from fault_load import Center, start_callers  # type: ignore[no-redef]
    from locust_server import ROOT, python  # type: ignore[no-redef]
    from soak_report import Sample, plot, report  # type: ignore[no-redef]

SELF = Path(__file__).resolve()


@dataclass(frozen=True)
class Plan:
    minutes: float  # of load
    agents: int
    talk: float  # s a queue caller talks
    queue_rate: float  # calls/s
    ivr_rate: float
    every: float  # s between samples
    warmup: float  # s of load before the baseline: pools and caches fill, then the idle
    idle_before: float  # s of baseline
    idle_after: float  # s idle after the load's calls are gone
    settle: bool = True  # also wait for the SIP transactions to end (32 s after the last call)


QUICK = Plan(2.0, 6, 10.0, 0.5, 0.25, 2.0, 60.0, 10.0, 10.0)
FULL = Plan(20.0, 10, 20.0, 0.4, 0.2, 5.0, 90.0, 20.0, 20.0)
RING = 500  # events in the desktops' replay ring during a soak (the server's default: 10,000)
GAUGES = ("process_resident_memory_bytes", "process_open_fds", "cti_reactor_delayed_calls")


def sample(center: Center, callers: list[Any], phase: str, start: float) -> Sample:
    """One reading of ``/metrics`` and of the callers' logs (calls completed so far)."""
    assert center.server is not None
    m = center.server.metrics()
    return Sample(
        t=time.monotonic() - start,
        phase=phase,
        rss_mb=m.get("process_resident_memory_bytes", 0.0) / 2**20,
        fds=int(m.get("process_open_fds", 0)),
        timers=int(m.get("cti_reactor_delayed_calls", 0)),
        threads=int(m.get("cti_threads", 0)),
        tasks=int(m.get("cti_asyncio_tasks", 0)),
        calls=int(m.get("cti_calls_active", 0)),
        transactions=int(m.get("sip_transactions_active", 0)),
        legs=int(m.get("cti_rtp_legs_active", 0)),
        completed=sum(len(c.completed()) for c in callers),
        cpu_s=m.get("process_cpu_seconds_total", 0.0),
        blocks=int(m.get("cti_python_allocated_blocks", 0)),
        events=int(m.get("cti_bus_events_total", 0)),
    )


def collect(center: Center) -> None:
    """A full garbage collection in the server (``--serve`` handles SIGUSR2), then a moment."""
    assert center.server is not None
    os.kill(center.server.pid, signal.SIGUSR2)
    time.sleep(1.0)


def soak(center: Center, plan: Plan, say: Any = print) -> list[Sample]:
    """Warm-up, baseline, load, drain, idle: the samples, in order (``Sample.phase``)."""
    assert center.server is not None
    samples: list[Sample] = []
    callers: list[Any] = []
    start = time.monotonic()

    def take(phase: str, seconds: float, until: Any = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            samples.append(sample(center, callers, phase, start))
            if until is not None and until(samples[-1]):
                return
            time.sleep(plan.every)

    def generated() -> bool:
        return all(c.proc.poll() is not None for c in callers)

    def quiet(s: Sample) -> bool:
        return (
            generated()
            and s.calls == 0
            and s.legs == 0
            and (s.transactions == 0 or not plan.settle)
        )

    def load(seconds: float, first: int) -> None:
        assert center.server is not None
        for n, (kind, rate) in enumerate((("queue", plan.queue_rate), ("decline", plan.ivr_rate))):
            callers.append(
                start_callers(
                    center.work,
                    center.server.sip_port,
                    kind,
                    f"0106{first + n:02d}",
                    rate=rate,
                    limit=plan.agents if kind == "queue" else 4,
                    calls=max(1, math.floor(rate * seconds)),
                    talk=plan.talk,
                    bound=seconds + plan.talk + 120,
                )
            )

    missing = [g for g in GAUGES if g not in center.server.metrics()]
    if missing:
        raise RuntimeError(f"/metrics has no {', '.join(missing)}: the gauges are not wired")
    if plan.warmup:
        load(plan.warmup, 0)
        take("warmup", plan.warmup + plan.talk + 100, until=quiet)
    say(f"baseline: {plan.idle_before:g} s idle")
    collect(center)
    take("baseline", plan.idle_before)
    load(plan.minutes * 60, 2)
    say(f"load: queue and IVR callers for {plan.minutes:g} min")
    take("load", plan.minutes * 60 + plan.talk + 60, until=lambda _: generated())
    say("load done; waiting for the calls (and their SIP transactions) to end")
    take("drain", 60, until=quiet)
    collect(center)
    take("idle", plan.idle_after)
    for c in callers:
        c.stop()
    return samples


def serve_command(ring: int = RING) -> list[str]:
    """What ``Center`` runs instead of ``python -m cti_server serve``."""
    return ["env", f"CTI_SOAK_PUSH_RING={ring}", python(), str(SELF), "--serve"]


def serve_with_gauges(argv: list[str]) -> int:
    """``cti-server serve ARGV`` with the process gauges on the app's registry (as app.py
    is to wire them; a no-op once it does), and the desktops' event ring shrunk to
    ``$CTI_SOAK_PUSH_RING`` events: a bounded cache that fills during the warm-up instead of
    over the first thousand calls (10,000 events, ~12 MiB) and would pass for a leak."""
    from cti_server.reactor import install

    install()
    import functools

    import cti_server.api.push_wiring as push_wiring
    import cti_server.app as app_module
    from cti_server.__main__ import main as cli_main
    from cti_server.adapters.process_gauges import attach_process_gauges

    # SIGUSR2: a full garbage collection, so the idle counts of live objects before and
    # after the load compare objects kept, not cyclic garbage not yet collected
    signal.signal(signal.SIGUSR2, lambda *_: gc.collect())
    ring = int(os.environ.get("CTI_SOAK_PUSH_RING", "0"))
    if ring:
        push_wiring.PushSettings = functools.partial(push_wiring.PushSettings, ring_size=ring)  # type: ignore[assignment]

    build_app = app_module.build_app

    def with_gauges(config: Any, reactor: Any, **kw: Any) -> Any:
        app = build_app(config, reactor, **kw)
        if app.registry.get_sample_value("cti_reactor_delayed_calls") is None:
            attach_process_gauges(app.registry, reactor)
        return app

    app_module.build_app = with_gauges
    return cli_main(["serve", *argv])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="\n\n".join((__doc__ or "").split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="2 minutes of load, 6 agents")
    ap.add_argument("--minutes", type=float, help="minutes of load (default 20; quick 2)")
    ap.add_argument("--agents", type=int, help="SIPp echo agents (default 10; quick 6)")
    ap.add_argument("--max-kb-per-call", type=float, default=4.0, help="RSS slope limit")
    ap.add_argument("--margin", type=int, default=3, help="fds/timers over baseline allowed")
    ap.add_argument("--ring", type=int, default=RING, help="push ring size (server: 10000)")
    ap.add_argument("--work", type=Path, help="config, logs, data (default: a tmp dir)")
    ap.add_argument("--out", type=Path, help="report path stem (default: results/soak-...)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.minutes is not None:
        plan = replace(plan, minutes=args.minutes)
    if args.agents is not None:
        plan = replace(plan, agents=args.agents)
    work = args.work or Path(tempfile.mkdtemp(prefix="cti-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    bound = plan.minutes * 60 + plan.talk + 600
    launcher = serve_command(args.ring)
    center = Center.with_services(work, plan.agents, bound, launcher=launcher)
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:6.1f} s] {line}", flush=True)

    try:
        center.start()
        say(f"work {work}; {plan.agents} agents ready; baseline {plan.idle_before:g} s")
        samples = soak(center, plan, say)
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        center.stop()
    stem = args.out or ROOT / "loadtests" / "results" / (
        f"soak-{date.today()}{'-quick' if args.quick else ''}"
    )
    stem.parent.mkdir(parents=True, exist_ok=True)
    text, leaks = report(
        samples,
        plan={**asdict(plan), "push_ring": args.ring},
        max_kb_per_call=args.max_kb_per_call,
        margin=args.margin,
    )
    stem.with_suffix(".csv").write_text(Sample.csv(samples))
    stem.with_suffix(".txt").write_text(text)
    warnings = plot(samples, stem.with_suffix(".png"))
    print(text + "".join(f"{w}\n" for w in warnings), end="")
    print(f"written to {stem}.{{txt,csv,png}}", flush=True)
    if not leaks and not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if leaks else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve_with_gauges(sys.argv[2:]))
    sys.exit(main())
